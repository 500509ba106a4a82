"""The ``switchyard`` command: check-config in-process; serve and mock-upstream as real subprocesses."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import openai
import orjson
import pytest

from switchyard.cli.main import build_parser, main
from switchyard.gateway.defaults import ENV_PROVIDERS
from tests.server.raw_http import request

SECRET = "sk-cli-secret-98765"

BAD = f"""
server:
  prot: 4000
  max_body_bytes: 12
auth:
  master_key: {SECRET}
models:
  gpt:
    deployments:
      - provider: openai
        model: gpt-4o
        api_kye: {SECRET}
  missing-env:
    deployments:
      - provider: openai
        model: ${{SWITCHYARD_TEST_UNSET_VAR}}
"""

GOOD = f"""
auth:
  master_key: ${{SWITCHYARD_TEST_MASTER:-{SECRET}}}
models:
  gpt:
    deployments:
      - provider: openai
        model: gpt-4o
        api_key: {SECRET}
  fake/*:
    deployments: [{{provider: fake, model: "*"}}]
"""


def test_check_config_prints_every_problem_with_its_path(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("SWITCHYARD_TEST_UNSET_VAR", raising=False)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    path = tmp_path / "bad.yaml"
    path.write_text(BAD)
    assert main(["check-config", str(path)]) == 1
    out, err = capsys.readouterr()
    for line in ("server.prot: unknown key", "server.max_body_bytes:", "models.gpt.deployments[0].api_kye: unknown key",
                 "models.missing-env.deployments[0].model: environment variable SWITCHYARD_TEST_UNSET_VAR is not set",
                 "models.missing-env.deployments[0].api_key: required"):
        assert line in err
    assert "5 problem(s)" in err
    assert SECRET not in out + err


MIXED = f"""
sever:
  port: 4000
models:
  a:
    deployments:
      - {{provider: nosuch, model: x, api_key: {SECRET}}}
      - {{provider: groq, model: llama}}
      - {{provider: openai, model: x, api_kye: {SECRET}}}
      - {{provider: vertex, model: gemini, options: {{locaton: eu}}}}
      - {{provider: openai, model: x, api_key: {SECRET}}}
  b:
    deployments:
      - {{provider: "${{SWITCHYARD_TEST_UNSET_VAR}}", model: x}}
"""


def _problem_lines(err: str) -> list[str]:
    return [line.strip() for line in err.splitlines() if line.startswith("  ")]


def test_check_config_reports_schema_and_registry_problems_in_one_run(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("GROQ_API_KEY", raising=False)
    monkeypatch.delenv("SWITCHYARD_TEST_UNSET_VAR", raising=False)
    path = tmp_path / "mixed.yaml"
    path.write_text(MIXED)
    assert main(["check-config", str(path)]) == 1
    out, err = capsys.readouterr()
    lines = _problem_lines(err)
    paths = [line.partition(": ")[0] for line in lines]
    # Schema problems and the registry checks on the deployments that are valid on their own, sorted by path.
    assert paths == ["models.a.deployments[0].provider", "models.a.deployments[1].api_key",
                     "models.a.deployments[2].api_kye", "models.a.deployments[3].options.locaton",
                     "models.b.deployments[0].provider", "sever"]
    assert lines[0].startswith("models.a.deployments[0].provider: Unknown provider 'nosuch'; known providers: ")
    assert "groq" in lines[0] and "openai" in lines[0]
    assert "GROQ_API_KEY" in lines[1]
    assert lines[2].endswith(": unknown key") and lines[5] == "sever: unknown key"
    assert "unknown vertex option" in lines[3]
    # The unset variable is the one problem at its path (not also "Unknown provider ''").
    assert lines[4] == "models.b.deployments[0].provider: environment variable SWITCHYARD_TEST_UNSET_VAR is not set"
    assert "6 problem(s)" in err and out == ""
    assert SECRET not in out + err


def test_check_config_validates_each_deployments_connection_pool(tmp_path, capsys):
    path = tmp_path / "pools.yaml"
    path.write_text("models:\n  a:\n    deployments:\n"
                    "      - {provider: fake, model: echo, connections: {max: 0, wait: -1, size: 3}}\n"
                    "      - {provider: fake, model: echo, connections: {max: many}}\n"
                    "      - {provider: fake, model: echo, connections: {max: 20000, wait: 0.5}}\n")
    assert main(["check-config", str(path)]) == 1
    lines = _problem_lines(capsys.readouterr().err)
    assert [line.partition(": ")[0] for line in lines] == [
        "models.a.deployments[0].connections.max", "models.a.deployments[0].connections.size",
        "models.a.deployments[0].connections.wait", "models.a.deployments[1].connections.max"]
    assert "greater than or equal to 1" in lines[0] and "unknown key" in lines[1]
    assert "greater than 0" in lines[2] and "integer" in lines[3]
    path.write_text("models:\n  a:\n    deployments:\n"
                    "      - {provider: fake, model: echo, connections: {max: 20000, wait: 0.5}}\n")
    assert main(["check-config", str(path)]) == 0


def test_check_config_orders_deployments_by_number(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("GROQ_API_KEY", raising=False)
    deployments = "".join("      - {provider: fake, model: echo}\n" for _ in range(10))
    path = tmp_path / "many.yaml"
    path.write_text("bogus: 1\nmodels:\n  a:\n    deployments:\n      - {provider: groq, model: l}\n"
                    + deployments + "      - {provider: nosuch, model: x}\n")
    assert main(["check-config", str(path)]) == 1
    paths = [line.partition(": ")[0] for line in _problem_lines(capsys.readouterr().err)]
    assert paths == ["bogus", "models.a.deployments[0].api_key", "models.a.deployments[11].provider"]


def test_check_config_reports_deployments_the_gateway_could_not_build(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("GROQ_API_KEY", raising=False)
    path = tmp_path / "c.yaml"
    path.write_text("models:\n  a:\n    deployments:\n      - {provider: nosuch, model: x}\n"
                    "      - {provider: groq, model: llama}\n")
    assert main(["check-config", str(path)]) == 1
    err = capsys.readouterr().err
    assert "models.a.deployments[0].provider: Unknown provider 'nosuch'" in err
    assert "models.a.deployments[1].api_key: required" in err


def test_check_config_ok(tmp_path, capsys):
    path = tmp_path / "good.yaml"
    path.write_text(GOOD)
    assert main(["check-config", str(path)]) == 0
    out, err = capsys.readouterr()
    assert "ok (2 model aliases)" in out and err == ""
    assert SECRET not in out


def test_check_config_missing_file(tmp_path, capsys):
    assert main(["check-config", str(tmp_path / "absent.yaml")]) == 1
    assert "cannot read" in capsys.readouterr().err


def _clean_env() -> dict[str, str]:
    env = dict(os.environ)
    for variables in ENV_PROVIDERS.values():
        for name in variables:
            env.pop(name, None)
    env.pop("SWITCHYARD_MASTER_KEY", None)
    return env


@contextmanager
def running(args: list[str], pattern: str, env: dict[str, str] | None = None, timeout: float = 20) -> Iterator[str]:
    """Run ``python -m switchyard ARGS``; yield the URL its announcement line names."""
    process = subprocess.Popen([sys.executable, "-m", "switchyard", *args], stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, env=env or _clean_env())
    timer = threading.Timer(timeout, process.kill)
    timer.start()
    lines = []
    url = None
    try:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line)
            match = re.search(pattern + r" (https?://\S+)", line)
            if match:
                url = match.group(1)
                break
        timer.cancel()
        assert url, "no announcement line:\n" + "".join(lines)
        threading.Thread(target=process.stdout.read, daemon=True).start()
        yield url
    finally:
        timer.cancel()
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


def test_serve_with_no_config_answers_fake_echo():
    with running(["serve", "--port", "0", "--log-level", "warning"], "switchyard listening on") as url:
        client = openai.OpenAI(base_url=url + "/v1", api_key="none", max_retries=0, timeout=20)
        reply = client.chat.completions.create(model="fake/echo", messages=[{"role": "user", "content": "from the cli"}])
        assert reply.choices[0].message.content == "from the cli"
        assert request(url, path="/health/ready").status == 200


def test_serve_with_a_bad_config_exits_non_zero(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(BAD)
    done = subprocess.run([sys.executable, "-m", "switchyard", "serve", "--config", str(path), "--port", "0"],
                          capture_output=True, text=True, timeout=30, env=_clean_env())
    assert done.returncode != 0
    assert "server.prot: unknown key" in done.stderr and SECRET not in done.stderr + done.stdout


def test_serve_prints_schema_and_registry_problems_together(tmp_path):
    path = tmp_path / "mixed.yaml"
    path.write_text(MIXED)
    env = _clean_env()
    env.pop("SWITCHYARD_TEST_UNSET_VAR", None)
    done = subprocess.run([sys.executable, "-m", "switchyard", "serve", "--config", str(path), "--port", "0"],
                          capture_output=True, text=True, timeout=30, env=env)
    assert done.returncode == 2
    for line in ("sever: unknown key", "models.a.deployments[0].provider: Unknown provider 'nosuch'",
                 "models.a.deployments[1].api_key: required", "models.a.deployments[3].options.locaton:"):
        assert line in done.stderr
    assert "6 problem(s)" in done.stderr and "Traceback" not in done.stderr
    assert SECRET not in done.stderr + done.stdout


def test_serve_with_a_bad_proxy_variable_exits_naming_it(tmp_path):
    path = tmp_path / "good.yaml"
    path.write_text(GOOD)
    env = {**_clean_env(), "HTTPS_PROXY": f"https://gw:{SECRET}@proxy:3128"}
    done = subprocess.run([sys.executable, "-m", "switchyard", "serve", "--config", str(path), "--port", "0"],
                          capture_output=True, text=True, timeout=30, env=env)
    assert done.returncode == 2
    assert "HTTPS_PROXY: an https:// proxy is not supported" in done.stderr and "Traceback" not in done.stderr
    assert SECRET not in done.stderr + done.stdout


def test_mock_upstream_serves_https_and_http2(certs, tmp_path):
    import asyncio

    from switchyard.transport.dial import Egress
    from switchyard.transport.http2 import Http2Client
    from switchyard.transport.tls import TLSOptions

    issued = certs.ca.issue_cert("127.0.0.1")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    issued.cert_chain_pems[0].write_to_path(str(cert))
    issued.private_key_pem.write_to_path(str(key))
    args = ["mock-upstream", "--port", "0", "--tls-cert", str(cert), "--tls-key", str(key), "--http2"]

    async def ask(url: str) -> tuple[int, dict]:
        async with Http2Client(egress=Egress(TLSOptions(ca_file=certs.ca_file), http2=True)) as client:
            answer = await client.request("GET", url + "/v1/models", timeout=10)
            return answer.status, client.pool_stats()

    with running(args, "listening on") as url:
        assert url.startswith("https://127.0.0.1:")
        status, stats = asyncio.run(ask(url))
    assert status == 200 and stats[url]["open"] == 1 and "streams" in stats[url]  # spoken in HTTP/2


def test_mock_upstream_options_map_onto_the_mock():
    parser = build_parser()
    args = parser.parse_args(["mock-upstream", "--chunks", "3", "--text", "t", "--model", "a", "--model", "b",
                              "--garbage", "--embedding-dims", "4", "--end-delay-ms", "7"])
    assert (args.stream_chunks, args.text, args.models, args.garbage, args.embedding_dims) == (3, "t", ["a", "b"], True, 4)
    assert args.end_delay_ms == 7
    assert parser.parse_args(["mock-upstream"]).garbage is None


def test_mock_upstream_smoke():
    args = ["mock-upstream", "--port", "0", "--api-key", "sk-mock", "--stream-chunks", "4", "--text", "fixed answer",
            "--model", "m-1", "--embedding-dims", "5"]
    with running(args, "listening on") as url:
        headers = {"authorization": "Bearer sk-mock", "content-type": "application/json"}
        body = orjson.dumps({"model": "m-1", "messages": [{"role": "user", "content": "hi"}], "stream": True})
        streamed = request(url, "POST", "/v1/chat/completions", body, headers)
        deltas = [orjson.loads(line[6:]) for line in streamed.body.split(b"\n")
                  if line.startswith(b"data: {")]
        assert "".join(d["choices"][0]["delta"].get("content") or "" for d in deltas) == "fixed answer"
        assert len([d for d in deltas if d["choices"][0]["delta"].get("content")]) == 4
        models = request(url, path="/v1/models", headers=headers).json()
        assert [m["id"] for m in models["data"]] == ["m-1"]
        vector = request(url, "POST", "/v1/embeddings", b'{"model": "m-1", "input": "x"}', headers).json()
        assert len(vector["data"][0]["embedding"]) == 5
        assert request(url, "POST", "/v1/chat/completions", body, {"content-type": "application/json"}).status == 401


def test_mock_upstream_fault_flags():
    with running(["mock-upstream", "--port", "0", "--status", "429", "--retry-after", "3"], "listening on") as url:
        answer = request(url, "POST", "/v1/chat/completions",
                         b'{"model": "m", "messages": [{"role": "user", "content": "x"}]}',
                         {"content-type": "application/json"})
        assert answer.status == 429 and answer.headers["retry-after"] == "3"
    with running(["mock-upstream", "--port", "0", "--garbage"], "listening on") as url:
        answer = request(url, "POST", "/v1/chat/completions",
                         b'{"model": "m", "messages": [{"role": "user", "content": "x"}]}',
                         {"content-type": "application/json"})
        assert answer.status == 200
        with pytest.raises(orjson.JSONDecodeError):
            orjson.loads(answer.body)


def test_check_config_checks_the_connection_limits(tmp_path, capsys):
    path = tmp_path / "limits.yaml"
    path.write_text("server:\n  max_header_bytes: 100\n  max_headers: 0\n  header_timeout: 0\n"
                    "  body_timeout: -1\n  keepalive_timeout: soon\n")
    assert main(["check-config", str(path)]) == 1
    paths = [line.partition(": ")[0] for line in _problem_lines(capsys.readouterr().err)]
    assert paths == ["server.body_timeout", "server.header_timeout", "server.keepalive_timeout",
                     "server.max_header_bytes", "server.max_headers"]
    path.write_text("server: {max_header_bytes: 32768, max_headers: 50, header_timeout: 5, body_timeout: 30,"
                    " keepalive_timeout: 2}\n")
    assert main(["check-config", str(path)]) == 0
