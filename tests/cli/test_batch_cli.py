"""``switchyard batch``: submit a JSONL file with --model and --wait (a progress bar), then status, list,
download and cancel — against a running gateway's Files and Batches API."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path
from typing import Any

import orjson

from switchyard.cli.batch import with_model
from switchyard.cli.main import main


def _cli(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(args))
    return code, out.getvalue(), err.getvalue()


def test_submit_wait_status_list_download_cancel(tmp_path: Path, start_gateway: Any, monkeypatch: Any) -> None:
    gateway = start_gateway({"storage": {"url": f"sqlite:///{tmp_path / 'gw.db'}"},
                             "batch": {"sweep_interval": 0.1, "lease": 1},
                             "models": {"chat": {"deployments": [{"provider": "fake", "model": "echo"}]}}})
    monkeypatch.setenv("SWITCHYARD_URL", gateway.url)
    source = tmp_path / "requests.jsonl"
    lines = [{"custom_id": f"q{i}", "method": "POST", "url": "/v1/chat/completions",
              "body": {"messages": [{"role": "user", "content": f"question {i}"}]}} for i in range(20)]
    source.write_text("\n".join(json.dumps(line) for line in lines) + "\nnot json\n")

    code, out, err = _cli("batch", "submit", str(source), "--model", "chat", "--wait", "--interval", "0.05",
                          "--metadata", "run=cli")
    assert code == 0, err
    batch = json.loads(out)
    assert batch["status"] == "completed" and batch["request_counts"] == {"total": 21, "completed": 20, "failed": 1}
    assert batch["metadata"] == {"run": "cli"} and batch["model"] == "chat"
    assert "completed" in err and "21/21" in err  # the progress bar's last state

    code, out, _ = _cli("batch", "status", batch["id"])
    assert code == 0 and json.loads(out)["id"] == batch["id"]
    code, out, _ = _cli("batch", "list", "--limit", "5")
    assert code == 0 and [b["id"] for b in json.loads(out)["data"]] == [batch["id"]]
    results, errors = tmp_path / "results.jsonl", tmp_path / "errors.jsonl"
    code, _, err = _cli("batch", "download", batch["id"], "--output", str(results), "--errors", str(errors))
    assert code == 0, err
    answers = [orjson.loads(line) for line in results.read_text().splitlines()]
    assert [a["response"]["body"]["choices"][0]["message"]["content"] for a in answers] == [
        f"question {i}" for i in range(20)]
    assert orjson.loads(errors.read_text())["error"]["code"] == "invalid_json"

    code, _, err = _cli("batch", "cancel", batch["id"])  # finished already
    assert code == 1 and "only a batch in progress can be cancelled" in err and "HTTP 409" in err
    code, _, err = _cli("batch", "status", "batch_nothing")
    assert code == 1 and "HTTP 404" in err


def test_model_rewrites_each_line_and_leaves_the_rest_for_the_gateway() -> None:
    content = b'{"custom_id": "a", "body": {"model": "old", "messages": []}}\n{broken\n'
    first, second = with_model(content, "new").split(b"\n")[:2]
    assert orjson.loads(first)["body"]["model"] == "new" and second == b"{broken"
