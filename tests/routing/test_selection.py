"""Smart model selection: the semantic router (the embedded MiniLM) and the classifier
(a mock upstream through the gateway), end to end with the openai SDK, the dry-run and
the labelled set's command."""

import json
import urllib.request
from pathlib import Path

import pytest
import yaml

from switchyard.cli.main import main as cli
from switchyard.core.config import ConfigError, parse_config

from .helpers import ask, client

FIXTURES = Path(__file__).parent / "fixtures"
FAKE = {"provider": "fake", "model": "echo"}
MODELS = {"cheap": {"deployments": [{**FAKE, "id": "cheap-1"}]}, "strong": {"deployments": [{**FAKE, "id": "strong-1"}]}}
SEMANTIC = {"name": "by-difficulty", "when": {"models": ["auto"]}, "select": {"semantic": {
    "threshold": 0.2, "default": "strong",
    "routes": yaml.safe_load((FIXTURES / "selection.yaml").read_text())["routing"]["rules"][0]["select"]["semantic"]["routes"]}}}


def classifier_rule(**extra):
    return {"name": "by-class", "when": {"models": ["auto"]}, "select": {"classifier": {
        "alias": "judge", "labels": {"easy": "cheap", "hard": "strong"}, "default": "strong", **extra}}}


def test_the_semantic_router_sends_each_prompt_to_its_nearest_route(start_gateway):
    gateway = start_gateway({"models": MODELS, "routing": {"rules": [SEMANTIC]}})
    sdk = client(gateway)
    hard = ask(sdk, "auto", "Prove that the sum of two odd numbers is even, rigorously.")
    assert hard.headers["x-switchyard-route"] == "strong" and hard.headers["x-switchyard-deployment"] == "strong-1"
    assert hard.headers["x-switchyard-rule"] == "by-difficulty"
    assert hard.headers["x-switchyard-selection"].startswith("semantic; similarity=0.")
    easy = ask(sdk, "auto", "What is the capital of Spain?")
    assert easy.headers["x-switchyard-route"] == "cheap"
    assert easy.parse().choices[0].message.content == "What is the capital of Spain?"
    # a stream is routed the same way
    streamed = sdk.chat.completions.with_raw_response.create(
        model="auto", stream=True, messages=[{"role": "user", "content": "Translate 'yes' into French."}])
    assert streamed.headers["x-switchyard-route"] == "cheap"
    assert "".join(c.choices[0].delta.content or "" for c in streamed.parse() if c.choices)
    # other models are not selected
    assert "x-switchyard-selection" not in ask(sdk, "cheap", "Prove Fermat's last theorem.").headers


def test_the_dry_run_explains_the_choice_with_its_alternatives(start_gateway):
    gateway = start_gateway({"models": MODELS, "routing": {"rules": [SEMANTIC]}})
    body = {"model": "auto", "messages": [{"role": "user", "content": "Design a sharded key-value store with replication."}]}
    req = urllib.request.Request(gateway.url + "/admin/route", data=json.dumps(body).encode(),
                                 headers={"content-type": "application/json"})
    with urllib.request.urlopen(req, timeout=20) as resp:
        report = json.loads(resp.read())
    selection = report["selection"]
    assert selection["method"] == "semantic" and selection["route"] == "strong" and selection["default"] is False
    assert [a["route"] for a in selection["alternatives"]] == ["strong", "cheap"]
    assert selection["similarity"] == selection["alternatives"][0]["similarity"] > selection["alternatives"][1]["similarity"]
    assert report["alias"] == "strong" and report["chosen"] == "strong-1"
    # nothing near enough: the default, and why
    body["messages"][0]["content"] = "zxqv"
    req = urllib.request.Request(gateway.url + "/admin/route", data=json.dumps(body).encode(),
                                 headers={"content-type": "application/json"})
    with urllib.request.urlopen(req, timeout=20) as resp:
        low = json.loads(resp.read())["selection"]
    assert low["default"] is True and low["reason"] == "below_threshold" and low["route"] == "strong"
    assert low["similarity"] < 0.2


def test_the_classifier_chooses_by_its_label_and_falls_back_when_late_or_unsure(start_mock, start_gateway,
                                                                                openai_deployment):
    judge = start_mock(text="Easy.")
    gateway = start_gateway({"models": {**MODELS, "judge": {"deployments": [openai_deployment(judge)]}},
                             "routing": {"rules": [classifier_rule(timeout=0.5)]}})
    sdk = client(gateway)
    chosen = ask(sdk, "auto", "What is two plus two?")
    assert chosen.headers["x-switchyard-route"] == "cheap"
    assert chosen.headers["x-switchyard-selection"] == "classifier; label=easy"
    asked = judge.mock.requests[-1]
    sent = json.loads(asked.body)
    assert sent["messages"][0]["role"] == "system" and "easy, hard" in sent["messages"][0]["content"]
    assert sent["messages"][1] == {"role": "user", "content": "What is two plus two?"}
    judge.set_faults(latency_ms=2000)
    late = ask(sdk, "auto", "What is two plus two?")
    assert late.headers["x-switchyard-route"] == "strong"
    assert late.headers["x-switchyard-selection"] == "default; reason=classifier_timeout"
    judge.set_faults(status=500)
    failed = ask(sdk, "auto", "What is two plus two?")
    assert failed.headers["x-switchyard-selection"] == "default; reason=classifier_failed"


def test_a_classifier_answer_without_a_label_leaves_the_default(start_mock, start_gateway, openai_deployment):
    judge = start_mock(text="I cannot tell.")
    gateway = start_gateway({"models": {**MODELS, "judge": {"deployments": [openai_deployment(judge)]}},
                             "routing": {"rules": [classifier_rule(instructions="Say easy or hard.")]}})
    answer = ask(client(gateway), "auto", "Hello")
    assert answer.headers["x-switchyard-route"] == "strong"
    assert answer.headers["x-switchyard-selection"] == "default; reason=no_label"
    assert json.loads(judge.mock.requests[-1].body)["messages"][0]["content"] == "Say easy or hard."


def test_the_labelled_set_measures_accuracy_and_cost_saved(capsys):
    config = str(FIXTURES / "selection.yaml")
    assert cli(["route", "--config", config, "--evaluate", str(FIXTURES / "difficulty.jsonl")]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["prompts"] == 60 and report["method"] == "semantic"
    assert report["accuracy"] >= 0.9, report["misrouted"]
    assert report["chosen"]["cheap"] >= 25
    assert 0.3 < report["saved_share"] < 0.6 and report["saved_usd"] > 0
    assert report["strongest_cost_usd"] > report["cost_usd"]


def test_the_evaluate_command_names_what_is_wrong(tmp_path, capsys):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "hi", "route": "cheap"}\n{"prompt": 3}\n')
    config = str(FIXTURES / "selection.yaml")
    assert cli(["route", "--config", config, "--evaluate", str(bad)]) == 2
    assert "line 2" in capsys.readouterr().err
    good = tmp_path / "good.jsonl"
    good.write_text('{"prompt": "hi", "route": "cheap"}\n')
    assert cli(["route", "--config", config, "--evaluate", str(good), "--rule", "nope"]) == 1
    assert "no selecting rule named 'nope'" in capsys.readouterr().err


def test_a_selecting_rule_is_checked_with_the_config():
    with pytest.raises(ConfigError, match="exactly one of route or select"):
        parse_config({"models": MODELS, "routing": {"rules": [{**SEMANTIC, "route": "cheap"}]}})
    with pytest.raises(ConfigError, match="exactly one of semantic or classifier"):
        parse_config({"models": MODELS, "routing": {"rules": [{"name": "x", "select": {}}]}})
    with pytest.raises(ConfigError) as caught:
        parse_config({"models": MODELS, "routing": {"rules": [classifier_rule()]}})
    assert "routing.rules[0].select.classifier.alias" in str(caught.value)
