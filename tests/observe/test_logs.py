"""The formatter on its own, and ``switchyard serve`` writing through it."""

from __future__ import annotations

import io
import logging
import subprocess
import sys
import threading
import time

import orjson
import pytest
import yaml

from switchyard.core.config import ConfigError, LoggingConfig, parse_config
from switchyard.observe.access import FIELDS
from switchyard.observe.logs import REDACTED, LineFormatter, is_secret_field, parse_kv, setup_logging
from switchyard.server.runner import LISTENING
from tests.server.raw_http import request as raw_request


def record(msg: str = "retry", level: int = logging.INFO, exc_info=None, **extra) -> logging.LogRecord:
    logger = logging.getLogger("switchyard.test")
    return logger.makeRecord(logger.name, level, __file__, 1, msg, None, exc_info, None, extra)


def test_extra_fields_become_fields_in_both_formats():
    fields = {"request_id": "req_1", "deployment": "gpt#0", "attempt": 2, "delay_ms": 12.5, "ok": True,
              "reason": 'upstream said "no" = 503'}
    kv = parse_kv(LineFormatter("kv").format(record(**fields)))
    assert kv["level"] == "info" and kv["logger"] == "switchyard.test" and kv["msg"] == "retry"
    assert kv["request_id"] == "req_1" and kv["attempt"] == "2" and kv["delay_ms"] == "12.5" and kv["ok"] == "true"
    assert kv["reason"] == 'upstream said "no" = 503'  # quoted, and read back whole
    line = orjson.loads(LineFormatter("json").format(record(**fields)))
    assert {k: line[k] for k in fields} == fields
    assert line["ts"].endswith("Z") and len(line["ts"]) == len("2026-11-26T06:53:28.947Z")


def test_secret_named_fields_are_redacted_whatever_the_caller_passes():
    secret = "sk-leak-DISTINCT-0001"
    extra = {"authorization": f"Bearer {secret}", "api_key": secret, "x-api-key": secret, "master_key": secret,
             "refresh_token": secret, "headers": {"Authorization": secret, "accept": "json"}}
    for fmt in ("kv", "json"):
        line = LineFormatter(fmt).format(record(**extra))
        assert secret not in line and REDACTED in line
    nested = orjson.loads(LineFormatter("json").format(record(headers=extra["headers"])))["headers"]
    assert nested == {"Authorization": REDACTED, "accept": "json"}
    # token counts are not tokens
    assert not any(is_secret_field(name) for name in ("prompt_tokens", "total_tokens", "key_name", "deployment"))


def test_the_access_fields_are_none_secret():
    assert not [name for name in FIELDS if is_secret_field(name)]


def test_bearer_tokens_and_keys_are_blanked_from_messages_and_tracebacks():
    secret = "sk-proj-DISTINCT0123456789"
    try:
        raise RuntimeError(f"upstream refused Authorization: Bearer {secret}")
    except RuntimeError:
        exc = sys.exc_info()
    line = LineFormatter("kv").format(record(f"call failed with api_key={secret}", logging.ERROR, exc))
    assert secret not in line and "RuntimeError" in line and "DISTINCT" not in line


def test_prompt_fields_only_with_include_prompts():
    text = "PROMPT-TEXT-ZEBRA-31"
    assert text not in LineFormatter("kv").format(record(messages=[{"content": text}], prompt=text))
    assert text in LineFormatter("kv", include_prompts=True).format(record(messages=[{"content": text}]))


def test_the_logging_section_is_strict():
    assert parse_config({}).logging == LoggingConfig()
    assert parse_config({"logging": {"format": "json", "level": "debug"}}).logging.format == "json"
    for bad, path in (({"fromat": "json"}, "logging.fromat"), ({"format": "xml"}, "logging.format"),
                      ({"level": "loud"}, "logging.level"), ({"prompt_max_chars": -1}, "logging.prompt_max_chars")):
        with pytest.raises(ConfigError) as caught:
            parse_config({"logging": bad})
        assert path in str(caught.value)


def test_setup_logging_installs_one_handler_and_close_restores():
    root = logging.getLogger()
    before = list(root.handlers), root.level
    stream = io.StringIO()
    setup = setup_logging(LoggingConfig(format="json"), "warning", stream=stream)
    logging.getLogger("switchyard.x").info("hidden")
    logging.getLogger("switchyard.x").warning("shown", extra={"request_id": "req_9"})
    setup.close()
    (line,) = stream.getvalue().splitlines()
    assert orjson.loads(line)["request_id"] == "req_9"
    assert (list(root.handlers), root.level) == before


def test_serve_writes_json_lines_with_log_format(tmp_path, mock_upstream):
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({
        "auth": {"master_key": "sk-master-DISTINCT-2222"},
        "models": {"gpt": {"deployments": [{"provider": "openai", "model": "gpt-4o-mini",
                                            "base_url": mock_upstream.base_url, "api_key": "sk-up-DISTINCT-3333"}]}},
    }))
    proc = subprocess.Popen([sys.executable, "-m", "switchyard", "serve", "-c", str(config), "--port", "0",
                             "--log-format", "json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stderr is not None
        url = None
        timer = threading.Timer(20, proc.kill)
        timer.start()
        for line in proc.stdout:
            match = LISTENING.search(line)
            if match:
                url = match.group(1)
                break
        timer.cancel()
        assert url, "gateway did not start"
        body = orjson.dumps({"model": "gpt", "messages": [{"role": "user", "content": "PROMPT-TEXT-ZEBRA-31"}]})
        response = raw_request(url, "POST", "/v1/chat/completions", body,
                               {"content-type": "application/json", "authorization": "Bearer sk-master-DISTINCT-2222"})
        assert response.status == 200
        time.sleep(0.2)
    finally:
        proc.terminate()
        proc.wait(10)
    lines = [orjson.loads(line) for line in proc.stderr.read().splitlines() if line.strip()]
    access = [line for line in lines if line["logger"] == "switchyard.access"]
    assert len(access) == 1 and access[0]["request_id"] == response.headers["x-request-id"]
    assert access[0]["key_name"] == "master" and access[0]["status"] == 200
    assert any(line["logger"].startswith("uvicorn") for line in lines)  # uvicorn's records, same format
    text = "\n".join(map(str, lines))
    assert "DISTINCT" not in text and "ZEBRA" not in text


def _access_line(fmt: str, *, slow: bool, **kwargs) -> dict:
    """One access line for a request with every fact known, through setup_logging's
    handler (fast path) or through a plain handler that needs a LogRecord (slow path)."""
    from switchyard.auth import Caller
    from switchyard.core.call import Attempt, Call
    from switchyard.core.errors import UpstreamError
    from switchyard.core.messages import Usage
    from switchyard.observe.access import AccessLog
    from switchyard.server.http import Request

    call = Call("req_1", alias="auto", usage=Usage(prompt_tokens=7, completion_tokens=3))
    call.route.update({"route": "gpt", "deployment": "gpt#1", "fallback": "backup"})
    call.attempts.append(Attempt("gpt#0", 502, "bad", UpstreamError("bad")))
    request = Request("POST", "/v1/chat/completions", b"", {}, b'{"messages": [{"content": "hi there"}]}', "req 1",
                      caller=Caller(name="team a"), call=call)
    config = LoggingConfig(format=fmt, include_prompts=True)
    stream = io.StringIO()
    setup = setup_logging(config, "info", stream=stream)
    plain = logging.StreamHandler(stream)
    plain.setFormatter(LineFormatter(fmt, include_prompts=True))
    if slow:
        logging.getLogger().addHandler(plain)
        logging.getLogger().removeHandler(setup.handler)
    try:
        AccessLog(config).write("POST", "/v1/chat/completions", "req 1", request, 200, 0.0, stream=True,
                                outcome="ok", **kwargs)
    finally:
        logging.getLogger().removeHandler(plain)
        setup.close()
    (line,) = stream.getvalue().splitlines()
    data = orjson.loads(line) if fmt == "json" else parse_kv(line)
    data.pop("ts")
    data.pop("latency_ms")
    return {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in data.items()}


def test_access_lines_carry_the_same_fields_in_each_format_and_path():
    lines = [_access_line(fmt, slow=slow) for fmt in ("kv", "json") for slow in (False, True)]
    assert all(line == lines[0] for line in lines), lines
    assert lines[0] == {
        "level": "info", "logger": "switchyard.access", "msg": "request", "request_id": "req 1", "method": "POST",
        "path": "/v1/chat/completions", "status": "200", "key_name": "team a", "alias": "auto", "route": "gpt",
        "deployment": "gpt#1", "fallback": "true", "fallback_alias": "backup", "attempts": "2",
        "prompt_tokens": "7", "completion_tokens": "3", "total_tokens": "10", "cache": "false", "stream": "true",
        "outcome": "ok", "messages": '{"messages":[{"content":"hi there"}]}',
    }
