"""SigV4 against AWS's published vectors and against botocore's own signatures."""

from datetime import UTC, datetime

import pytest

from switchyard.providers.sigv4 import Credentials, Signer, canonical_uri, signing_key

SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
SUITE_TIME = datetime(2015, 8, 30, 12, 36, 0, tzinfo=UTC)


def test_signing_key_matches_the_aws_documentation_example():
    key = signing_key(SECRET, "20120215", "us-east-1", "iam")
    assert key.hex() == "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d"


@pytest.mark.parametrize(
    ("method", "signature"),
    [
        ("GET", "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"),  # get-vanilla
        ("POST", "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b"),  # post-vanilla
    ],
)
def test_aws_test_suite_vanilla_requests(method, signature):
    signer = Signer(Credentials("AKIDEXAMPLE", SECRET), "us-east-1", "service")
    headers = signer.sign(method, "example.amazonaws.com", "/", {}, b"", now=SUITE_TIME, content_sha256_header=False)
    assert headers["x-amz-date"] == "20150830T123600Z"
    assert headers["authorization"] == (
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
        f"SignedHeaders=host;x-amz-date, Signature={signature}"
    )


def test_model_id_in_path_is_encoded_again_for_the_canonical_uri():
    assert canonical_uri("/model/anthropic.claude-v2%3A1/converse") == "/model/anthropic.claude-v2%253A1/converse"


@pytest.mark.parametrize("token", [None, "FwoGZXIvYXdzE//session+token="])
@pytest.mark.parametrize("with_sha_header", [False, True])
def test_matches_botocore(token, with_sha_header):
    from botocore import auth as botocore_auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials as BotoCredentials

    body = b'{"messages":[{"role":"user","content":[{"text":"hi"}]}]}'
    path = "/model/anthropic.claude-3-5-sonnet-20240620-v1%3A0/converse-stream"
    host = "bedrock-runtime.eu-west-1.amazonaws.com"
    headers = {"content-type": "application/json", "accept": "application/vnd.amazon.eventstream"}
    if with_sha_header:
        import hashlib

        headers["x-amz-content-sha256"] = hashlib.sha256(body).hexdigest()
    request = AWSRequest(method="POST", url=f"https://{host}{path}", data=body, headers=dict(headers))
    botocore_auth.SigV4Auth(BotoCredentials("AKIDEXAMPLE", SECRET, token), "bedrock", "eu-west-1").add_auth(request)
    when = datetime.strptime(request.headers["X-Amz-Date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)

    ours = Signer(Credentials("AKIDEXAMPLE", SECRET, token), "eu-west-1").sign(
        "POST", host, path, headers, body, now=when, content_sha256_header=with_sha_header
    )
    assert ours["authorization"] == request.headers["Authorization"]
    if token:
        assert ours["x-amz-security-token"] == token
        assert "x-amz-security-token" in ours["authorization"]


def test_signing_key_is_cached_per_day_and_changes_the_next_day():
    signer = Signer(Credentials("AKID", SECRET), "us-east-1")
    first = signer.sign("POST", "h", "/", {}, b"{}", now=SUITE_TIME)
    again = signer.sign("POST", "h", "/", {}, b"{}", now=SUITE_TIME)
    later = signer.sign("POST", "h", "/", {}, b"{}", now=SUITE_TIME.replace(day=31))
    assert first["authorization"] == again["authorization"]
    assert later["authorization"] != first["authorization"]
    assert "/20150831/" in later["authorization"]


def test_credentials_repr_hides_the_secret():
    text = repr(Credentials("AKIDEXAMPLE", SECRET, "tok"))
    assert SECRET not in text and "tok" not in text
