"""Strict config: unknown keys with their path, ${ENV} interpolation, secrets that never print."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from switchyard.core.config import Config, ConfigError, load_config, parse_config

SECRET = "sk-very-secret-0123456789"


def _problems(data, env=None) -> dict[str, str]:
    with pytest.raises(ConfigError) as info:
        parse_config(data, env=env or {})
    assert SECRET not in str(info.value)
    return dict(info.value.problems)


def test_minimal_config_and_defaults():
    config = parse_config({"models": {"m": {"deployments": [{"provider": "fake", "model": "echo"}]}}}, env={})
    assert config.server.max_body_bytes == 8 * 1024 * 1024
    assert not config.auth.enabled
    assert config.models["m"].deployments[0].timeouts.request == 600.0
    assert parse_config(None, env={}) == Config()


def test_unknown_keys_are_reported_with_their_paths_all_at_once():
    problems = _problems({
        "sever": {},
        "server": {"prot": 1},
        "models": {"gpt": {"deployments": [{"provider": "openai", "model": "x", "api_kye": SECRET}]}},
    })
    assert problems == {
        "sever": "unknown key",
        "server.prot": "unknown key",
        "models.gpt.deployments[0].api_kye": "unknown key",
    }


def test_type_errors_and_missing_fields_have_paths():
    problems = _problems({
        "server": {"port": "eighty", "max_body_bytes": 10},
        "models": {"a": {"deployments": []}, "b": {"deployments": [{"model": "x", "base_url": "ftp://x"}]}},
    })
    assert set(problems) == {"server.port", "server.max_body_bytes", "models.a.deployments",
                             "models.b.deployments[0].provider", "models.b.deployments[0].base_url"}
    assert problems["models.b.deployments[0].provider"] == "required"
    assert "http://" in problems["models.b.deployments[0].base_url"]


def test_env_interpolation_with_defaults():
    data = {
        "server": {"host": "${HOST:-0.0.0.0}", "port": "${PORT}"},
        "models": {"m": {"deployments": [{"provider": "openai", "model": "x", "api_key": "${KEY}",
                                          "base_url": "http://${UPSTREAM_HOST}:9/v1"}]}},
    }
    config = parse_config(data, env={"PORT": "8123", "KEY": SECRET, "UPSTREAM_HOST": "up"})
    assert config.server.host == "0.0.0.0" and config.server.port == 8123
    deployment = config.models["m"].deployments[0]
    assert deployment.api_key.get_secret_value() == SECRET
    assert deployment.base_url == "http://up:9/v1"
    assert parse_config(data, env={"HOST": "h", "PORT": "1", "KEY": "k", "UPSTREAM_HOST": "u"}).server.host == "h"


def test_missing_env_var_names_the_variable_and_the_path():
    problems = _problems({"auth": {"master_key": "${MASTER}"},
                          "models": {"m": {"deployments": [{"provider": "openai", "model": "${MODEL}"}]}}})
    assert problems["auth.master_key"] == "environment variable MASTER is not set"
    assert problems["models.m.deployments[0].model"] == "environment variable MODEL is not set"


def test_empty_default_is_allowed():
    config = parse_config({"server": {"log_level": "${LEVEL:-}x"}}, env={})
    assert config.server.log_level == "x"


def test_secrets_never_print():
    config = parse_config(
        {"auth": {"master_key": SECRET, "keys": [{"key": SECRET + "-client", "name": "team-a"}]},
         "models": {"m": {"deployments": [{"provider": "openai", "model": "x", "api_key": SECRET}]}}},
        env={},
    )
    for text in (repr(config), str(config), repr(config.models["m"].deployments[0]), str(config.auth),
                 repr(config.auth.keys[0]), str(config.model_dump()), config.model_dump_json()):
        assert SECRET not in text


def test_invalid_secret_type_does_not_echo_neighbouring_values():
    problems = _problems({"auth": {"master_key": {"nested": SECRET}}})
    assert "auth.master_key" in problems


def test_config_is_frozen():
    config = parse_config({}, env={})
    with pytest.raises(ValidationError):
        config.server.port = 1  # type: ignore[misc]


def test_load_config_from_yaml(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("models:\n  m:\n    deployments:\n      - provider: fake\n        model: ${M:-echo}\n")
    assert load_config(path, env={}).models["m"].deployments[0].model == "echo"


def test_load_config_bad_yaml_and_missing_file(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("models: [\n")
    with pytest.raises(ConfigError) as info:
        load_config(path, env={})
    assert "invalid YAML at line" in str(info.value)
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path / "absent.yaml", env={})
    assert "cannot read" in str(info.value)


def test_config_must_be_a_mapping():
    assert _problems(["a", "b"]) == {"": "the config must be a mapping"}


def test_an_invalid_file_still_carries_its_valid_deployments():
    with pytest.raises(ConfigError) as info:
        parse_config({
            "sever": {},
            "models": {
                "a": {"deployments": [{"provider": "openai", "model": "x", "api_key": SECRET},
                                      {"provider": "openai", "model": "x", "api_kye": SECRET},
                                      "not a mapping"]},
                "b": {"deployments": [{"provider": "fake", "model": "echo", "weight": -1}],
                      "strategy": "nonsense"},
                "c": "not a mapping",
            },
        }, env={})
    error = info.value
    assert [path for path, _ in error.deployments] == ["models.a.deployments[0]"]
    assert error.deployments[0][1].api_key.get_secret_value() == SECRET
    assert SECRET not in str(error)


def test_unset_variables_alone_still_carry_every_deployment():
    with pytest.raises(ConfigError) as info:
        parse_config({"auth": {"master_key": "${MASTER}"},
                      "models": {"m": {"deployments": [{"provider": "openai", "model": "x"},
                                                       {"provider": "fake", "model": "${MODEL}"}]}}}, env={})
    assert [path for path, _ in info.value.deployments] == ["models.m.deployments[0]", "models.m.deployments[1]"]
    assert info.value.deployments[1][1].model == ""


def test_a_file_that_never_parsed_carries_no_deployments():
    with pytest.raises(ConfigError) as info:
        parse_config(["a"], env={})
    assert info.value.deployments == []


def test_dangling_references_and_duplicate_ids_are_errors_with_their_paths():
    from switchyard.core.config import ConfigError, parse_config

    with pytest.raises(ConfigError) as bad:
        parse_config({
            "models": {
                "a": {"deployments": [{"provider": "fake", "model": "echo", "id": "x"},
                                      {"provider": "fake", "model": "echo", "id": "x"}],
                      "fallbacks": {"default": ["missing"], "context_window": ["openai/gpt-4o"]}},
                "openai/*": {"deployments": [{"provider": "fake", "model": "*"}]},
            },
            "routing": {"rules": [{"name": "r", "route": "nowhere"}, {"name": "ok", "route": "openai/x"}]},
        })
    assert dict(bad.value.problems) == {
        "models.a.deployments[1].id": "duplicate deployment id 'x' (also at models.a.deployments[0].id)",
        "models.a.fallbacks.default[0]": "no model alias 'missing' is configured",
        "routing.rules[0].route": "no model alias 'nowhere' is configured",
    }


def test_a_key_given_twice_in_the_yaml_is_an_error_not_a_silent_override(tmp_path):
    from switchyard.core.config import ConfigError, load_config

    path = tmp_path / "dup.yaml"
    path.write_text("models:\n  a:\n    deployments:\n      - provider: fake\n        model: echo\n"
                    "        model: slow\n  a:\n    deployments: []\n")
    with pytest.raises(ConfigError) as bad:
        load_config(path)
    assert [p for p, _ in bad.value.problems] == ["models.a.deployments[0].model", "models.a"]
    assert "first at line 5" in bad.value.problems[0][1]
