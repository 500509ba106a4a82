"""What the gateway keeps of a guarded request: logged prompts hold the masked text, and a request
the guard refused (blocked, or not checkable) leaves none of its values in them."""

from __future__ import annotations

import orjson

from tests.observe.test_access_log import capture, deployment, gateway_config, post  # noqa: F401 (fixture)

EMAIL, CARD = "bob@example.com", "4111 1111 1111 1111"


def test_logged_prompts_are_the_guarded_ones(capture, mock_upstream, start_gateway, monkeypatch):  # noqa: F811
    from tests.guard.test_policies import PLUGIN_DIST

    monkeypatch.syspath_prepend(str(PLUGIN_DIST))
    captured = capture(include_prompts=True)
    config = gateway_config(mock_upstream, logging={"include_prompts": True}, gpt={"deployments": [
        deployment(mock_upstream, "gpt-1")]}, strict={"guard": "strict", "deployments": [
        deployment(mock_upstream, "gpt-2")]}, unchecked={"guard": "unchecked", "deployments": [
        deployment(mock_upstream, "gpt-3")]})
    config["guard"] = {"default": "pii", "detectors": [{"name": "analyzer", "plugin": "failing"}], "policies": {
        "pii": {"action": "mask", "categories": ["email", "credit_card"]},
        "strict": {"action": "mask", "actions": {"credit_card": "block"}, "categories": ["email", "credit_card"]},
        "unchecked": {}}}
    gateway = start_gateway(config)
    text = f"mail {EMAIL} card {CARD}"
    statuses = [post(gateway, {"model": model, "messages": [{"role": "user", "content": text}]}).status
                for model in ("gpt", "strict", "unchecked")]
    assert statuses == [200, 400, 503]
    masked, blocked, unchecked = (orjson.loads(line["messages"])["messages"][0]["content"]
                                  for line in captured.access(3))
    assert masked == "mail [EMAIL_1] card [CREDIT_CARD_1]"
    assert blocked == "mail [EMAIL_1] card [REDACTED_CREDIT_CARD]"
    assert unchecked == "[NOT CHECKED]"
    assert EMAIL not in captured.text and CARD not in captured.text
