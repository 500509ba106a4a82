"""The README cannot rot silently: every example in it is checked here.

- each YAML block parses and validates (``parse_config`` + ``problems_in``) with
  the environment variables it names set to dummy values, and the aliases its
  rules and fallbacks name exist in the same block;
- each ``switchyard ...`` command line parses with the CLI's own argparse parser
  (synopses with ``[...]`` and placeholders: their subcommand and options exist);
- the curl example and every Python example run against a gateway on the
  embedded default (with batches on, on a SQLite file); the mock-upstream example
  config serves through a real mock;
- the routes, headers, error codes, providers and deployment keys it names exist.
"""

from __future__ import annotations

import base64
import json
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import openai
import pytest
import yaml

from bench.run import SECTIONS
from switchyard.cli.main import build_parser
from switchyard.core.config import DeploymentConfig, parse_config
from switchyard.core.registry import BUILTIN_PROVIDERS
from switchyard.gateway.defaults import default_config_data
from switchyard.gateway.validate import problems_in
from switchyard.server.routes import RouteTable

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")
SOURCE = "\n".join(p.read_text(encoding="utf-8") for p in sorted((ROOT / "src" / "switchyard").rglob("*.py")))
README_URL = "http://127.0.0.1:4000"
MOCK_URL = "http://127.0.0.1:8900"
ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-[^}]*)?\}")


def blocks(language: str) -> list[str]:
    return [m.group(2) for m in re.finditer(r"^```(\w*)\n(.*?)^```", README, re.S | re.M) if m.group(1) == language]


def section(title: str) -> str:
    """The text of the README section ``## title`` (up to the next ``## ``)."""
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", README, re.S | re.M)
    assert match, f"README has no section '## {title}'"
    return match.group(1)


def table_column(text: str, column: int) -> list[str]:
    """Cells of one column of every markdown table row in ``text`` (header and rule rows skipped)."""
    rows = [line for line in text.splitlines() if line.startswith("|") and not line.startswith("|---")]
    return [row.split("|")[column + 1].strip() for row in rows[1:]] if rows else []


def shell_lines(text: str) -> list[str]:
    """Commands of a shell block, continuation lines joined, comments dropped."""
    joined = re.sub(r"\\\n\s*", " ", text)
    out = []
    for line in joined.splitlines():
        line = re.sub(r"\s+#.*$", "", line).strip()
        if line and not line.startswith("#"):
            out.append(line)
    return out


# -- YAML ------------------------------------------------------------------------------------------

YAML_BLOCKS = blocks("yaml")


def test_readme_has_the_examples_this_file_checks():
    assert len(YAML_BLOCKS) >= 6
    assert blocks("python") and any("curl" in b for b in blocks("sh"))


@pytest.fixture(scope="module")
def service_account_file(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A syntactically real service-account key file, for ``${..._CREDENTIALS}``."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    path = tmp_path_factory.mktemp("readme") / "sa.json"
    path.write_text(json.dumps({
        "type": "service_account", "project_id": "readme-project", "private_key_id": "k1", "private_key": pem,
        "client_email": "readme@readme-project.iam.gserviceaccount.com",
        "token_uri": "https://oauth2.googleapis.com/token",
    }))
    return str(path)


@pytest.fixture(scope="module")
def ca_file(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A real CA certificate (PEM), for ``${..._CA_FILE}``."""
    from tests.certs import UpstreamCerts

    return UpstreamCerts(tmp_path_factory.mktemp("readme-ca")).ca_file


@pytest.mark.parametrize("index", range(len(YAML_BLOCKS)), ids=lambda i: f"yaml{i}")
def test_yaml_block_validates(index, monkeypatch, service_account_file, ca_file):
    text = YAML_BLOCKS[index]
    env = {}
    for name in ENV_REF.findall(text):
        if name.endswith("_CREDENTIALS"):
            env[name] = service_account_file
        elif name.endswith("_CA_FILE"):
            env[name] = ca_file
        elif name.endswith("AUDIT_KEY"):
            env[name] = base64.b64encode(bytes(32)).decode()  # the shape the key must have
        else:
            env[name] = f"dummy-{name.lower()}"
        monkeypatch.setenv(name, env[name])  # problems_in reads the process environment
    config = parse_config(yaml.safe_load(text), source=f"README yaml block {index}", env=env)
    assert problems_in(config) == []

    aliases = set(config.models)
    if aliases:
        named = {rule.route for rule in config.routing.rules if rule.route is not None}
        named |= {alias for rule in config.routing.rules if rule.select is not None for alias in rule.select.targets}
        for model in config.models.values():
            named |= {*model.fallbacks.default, *model.fallbacks.context_window, *model.fallbacks.content_policy}
        assert named <= aliases, f"aliases named but not defined in the block: {sorted(named - aliases)}"


def test_deployment_keys_listed_exist():
    paragraph = re.search(r"Deployment keys:(.*?)Alias keys:", README, re.S)
    assert paragraph
    listed = set(re.findall(r"`(\w+)`", paragraph.group(1).split("`price:")[0] + "`price`"))
    assert listed and listed <= set(DeploymentConfig.model_fields), sorted(listed - set(DeploymentConfig.model_fields))


# -- command lines ---------------------------------------------------------------------------------

def command_lines() -> list[str]:
    lines = [line for block in blocks("sh") for line in shell_lines(block)]
    lines += re.findall(r"`((?:make \w+|switchyard [\w-]+|\.venv/bin/python -m bench\.run)[^`]*)`", README)
    commands = []
    for line in lines:
        line = line.removeprefix(".venv/bin/")
        make = re.match(r'make (serve|bench|test)(?: ARGS="([^"]*)")?$', line)
        if make:
            target, args = make.groups()
            if target == "serve":
                commands.append(f"switchyard serve {args or ''}".strip())
            elif target == "bench":
                commands.append(f"python -m bench.run {args or ''}".strip())
        elif line.startswith(("switchyard ", "python -m bench.run")):
            commands.append(line)
    return commands


COMMANDS = command_lines()
SUBPARSERS = build_parser()._subparsers._group_actions[0].choices  # noqa: SLF001 - argparse has no public accessor


def test_readme_mentions_every_subcommand():
    mentioned = {shlex.split(c)[1] for c in COMMANDS if c.startswith("switchyard ")}
    assert mentioned == set(SUBPARSERS)


@pytest.mark.parametrize("line", COMMANDS)
def test_command_line_parses(line):
    words = shlex.split(line)
    if words[0] == "python":  # the benchmark: its sections and flags exist
        flags = [w for w in words[3:] if w.startswith("--")]
        bench_source = (ROOT / "bench" / "run.py").read_text()
        assert all(f'add_argument("{flag}"' in bench_source for flag in flags), flags
        sections = [words[i + 1] for i, w in enumerate(words) if w == "--section"]
        assert set(sections) <= set(SECTIONS)
        return
    if "[" in line or re.search(r"\b[A-Z]{1,}\b", " ".join(words[2:])):
        # a synopsis: the subcommand and every option it shows exist
        sub, rest = SUBPARSERS[words[1]], words[2:]
        nested = sub._subparsers  # noqa: SLF001 - `db upgrade`: the options are the action's
        if nested is not None and rest and rest[0] in nested._group_actions[0].choices:  # noqa: SLF001
            sub, rest = nested._group_actions[0].choices[rest[0]], rest[1:]  # noqa: SLF001
        options = {w.strip("[]") for w in rest if w.strip("[]").startswith("-")}
        assert options <= set(sub._option_string_actions), sorted(options - set(sub._option_string_actions))  # noqa: SLF001
        return
    try:
        build_parser().parse_args(words[1:])
    except SystemExit as exc:
        pytest.fail(f"`{line}` does not parse (exit {exc.code})")


# -- examples run against a gateway ----------------------------------------------------------------

@pytest.fixture(scope="module")
def default_gateway(tmp_path_factory: pytest.TempPathFactory):
    """The embedded default, with batches on (a SQLite file) for the Batches section's example."""
    from switchyard.server.runner import GatewayThread

    data = default_config_data(env={})
    data["storage"] = {"url": f"sqlite:///{tmp_path_factory.mktemp('readme-gateway') / 'gateway.db'}"}
    data["batch"] = {"sweep_interval": 0.2}
    gateway = GatewayThread(data).start()
    yield gateway
    gateway.stop()


def test_curl_example_answers(default_gateway):
    if shutil.which("curl") is None:
        pytest.skip("curl is not installed")
    curl = next(line for block in blocks("sh") for line in shell_lines(block) if line.startswith("curl "))
    words = [w.replace(README_URL, default_gateway.url) for w in shlex.split(curl)]
    done = subprocess.run(words, capture_output=True, timeout=30, check=True)
    body = json.loads(done.stdout)
    asked = json.loads(words[words.index("-d") + 1])["messages"][-1]["content"]
    assert body["choices"][0]["message"]["content"] == asked


@pytest.mark.parametrize("index", range(len(blocks("python"))), ids=lambda i: f"python{i}")
def test_python_example_runs(index, default_gateway):
    """SDK examples run against a gateway; library examples (``import switchyard``) in-process."""
    code = blocks("python")[index]
    assert README_URL in code or "import switchyard" in code
    done = subprocess.run([sys.executable, "-c", code.replace(README_URL, default_gateway.url)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    asked = re.findall(r'(?:"content": |input=)"([^"]+)"', code)[-1]  # a chat message or a Responses input
    assert asked in done.stdout  # fake/echo answers with the prompt


def test_mock_upstream_example_config_serves(start_mock, start_gateway):
    mock = start_mock()
    text = next(b for b in YAML_BLOCKS if MOCK_URL in b)
    config = yaml.safe_load(text.replace(MOCK_URL, mock.url))
    gateway = start_gateway(config)
    client = openai.OpenAI(base_url=gateway.url + "/v1", api_key="unused", max_retries=0, timeout=20)
    for alias in config["models"]:
        for _ in range(2):  # round robin: the failing deployment is met and falls over
            answer = client.chat.completions.create(model=alias, messages=[{"role": "user", "content": f"via {alias}"}])
            assert answer.choices[0].message.content == f"via {alias}"


# -- names the README uses exist -------------------------------------------------------------------

def test_routes_listed_exist():
    table = RouteTable.default(SimpleNamespace())
    routes = re.findall(r"`(GET|POST) (/[^`\s,]+)`", section("HTTP surface"))
    assert len(routes) >= 10
    for method, path in routes:
        handler, _, _ = table.match(method, re.sub(r"\{\w+\}", "some-id", path))
        assert handler is not None, f"{method} {path} is in the README but not served"


def test_headers_listed_exist():
    headers = set()
    for cell in table_column(section("HTTP surface").split("Headers the gateway")[1], 0):
        for name in re.findall(r"`([a-z][a-z0-9-]*(?:\{[^}]+\}[a-z-]*)*)`", cell):
            headers |= {name}
    assert len(headers) >= 10
    for name in headers:
        if "{" in name:  # x-ratelimit-{limit,remaining,reset}-{requests,tokens}
            assert "x-ratelimit-" in SOURCE
            continue
        # x-switchyard-<key> response headers come from ``call.route[key]``
        key = name.removeprefix("x-switchyard-")
        found = name in SOURCE.lower() or f'route["{key}"]' in SOURCE
        assert found, f"header {name} is in the README but nowhere in the source"


def test_error_codes_listed_exist():
    codes = {c for cell in table_column(section("Errors"), 1) for c in re.findall(r"`([a-z_]+)`", cell)}
    assert len(codes) >= 15
    missing = sorted(c for c in codes if f'"{c}"' not in SOURCE)
    assert not missing, f"error codes in the README but not in the source: {missing}"


def test_provider_table_matches_the_registry():
    named = {p for cell in table_column(section("Providers"), 0) for p in re.findall(r"`(\w+)`", cell)}
    assert named == set(BUILTIN_PROVIDERS)


def test_mock_fault_flags_exist():
    mock = SUBPARSERS["mock-upstream"]
    flags = {f for cell in table_column(section("Mock upstream"), 1) for f in re.findall(r"`(--[\w-]+)", cell)}
    assert len(flags) == 8 and flags <= set(mock._option_string_actions)  # noqa: SLF001
    headers = {h for cell in table_column(section("Mock upstream"), 2) for h in re.findall(r"`(x-mock-[\w-]+)", cell)}
    assert len(headers) == 8 and all(h in SOURCE or h.removeprefix("x-mock-").replace("-", "_") in SOURCE for h in headers)


def test_governance_walkthrough_runs(start_gateway, tmp_path, monkeypatch):
    """The Governance section's config serves, and its commands and curl call run against it, in order."""
    import contextlib
    import io

    from switchyard.cli.main import main

    text = section("Governance")
    config_text = next(b for b in blocks("yaml") if b in text)
    config = yaml.safe_load(config_text.replace("sqlite:///switchyard.db", f"sqlite:///{tmp_path / 'gov.db'}"))
    config["auth"]["master_key"] = "sk-readme-master"
    gateway = start_gateway(config)
    monkeypatch.setenv("SWITCHYARD_URL", gateway.url)
    monkeypatch.setenv("SWITCHYARD_MASTER_KEY", "sk-readme-master")
    monkeypatch.delenv("SWITCHYARD_ADMIN_KEY", raising=False)
    sh = [line for block in blocks("sh") if block in text for line in shell_lines(block)]
    key_id = None
    for line in sh:
        if line.startswith("curl "):
            words = [w.replace(README_URL, gateway.url) for w in shlex.split(line.replace("$SWITCHYARD_MASTER_KEY",
                                                                                       "sk-readme-master"))]
            done = subprocess.run(words, capture_output=True, timeout=30, check=True)
            created = json.loads(done.stdout)
            assert created["key"].startswith("sk-sy-") and created["metadata"] == {"env": "ci"}
            continue
        words = shlex.split(line.replace("key_0123456789abcdef", key_id or "unset"))
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            assert main(words[1:]) == 0, line
        answer = json.loads(out.getvalue())
        if words[1:3] == ["keys", "create"]:
            key_id = answer["id"]
            client = openai.OpenAI(base_url=gateway.url + "/v1", api_key=answer["key"], max_retries=0, timeout=20)
            reply = client.chat.completions.create(model="fake/echo", messages=[{"role": "user", "content": "hi"}])
            assert reply.choices[0].message.content == "hi"
    assert key_id is not None and answer["status"] == "revoked"
