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
