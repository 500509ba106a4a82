"""The gateway's /admin/flows: start a configured YAML flow, watch its events as SSE, deliver
the human's decision, read its status, journal and trace; admin-authenticated; bad input is a
400 naming the field."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parents[2]
MASTER = "sk-master-flows"


def _events(url: str, headers: dict[str, str]) -> Any:
    with requests.get(url, headers=headers, stream=True, timeout=30) as answer:
        assert answer.status_code == 200
        assert answer.headers["content-type"].startswith("text/event-stream")
        for line in answer.iter_lines(decode_unicode=True):
            if line.startswith("data: "):
                yield json.loads(line[6:])


def test_start_watch_and_steer_a_run_over_http(start_gateway, tmp_path: Path) -> None:
    gateway = start_gateway({
        "auth": {"master_key": MASTER},
        "models": {"fake/*": {"deployments": [{"provider": "fake", "model": "*"}]}},
        "flows": {"url": f"sqlite:///{tmp_path / 'flows.db'}", "allow_inline": True,
                  "definitions": {"approval": str(ROOT / "examples" / "flows" / "approval.yaml")}},
    })
    admin = {"authorization": f"Bearer {MASTER}"}
    base = gateway.url + "/admin/flows"

    assert requests.post(base + "/runs", json={"flow": "approval"}, timeout=10).status_code == 401
    started = requests.post(base + "/runs", json={"flow": "approval", "run_id": "h-1",
                                                  "input": {"request": "Ship it"}}, headers=admin, timeout=30)
    assert started.status_code == 201, started.text
    assert started.json()["run_id"] == "h-1" and started.json()["flow"] == "approval"

    seen = []
    for event in _events(base + "/events/h-1", admin):
        seen.append(event["type"])
        if event["type"] == "wait.started":
            sent = requests.post(base + "/send/h-1", json={"event": "approval", "value": {"approved": True}},
                                 headers=admin, timeout=10)
            assert sent.status_code == 200, sent.text
    assert seen[0] == "run.started" and "wait.started" in seen and seen[-1] == "run.finished"

    status = requests.get(base + "/runs/h-1", headers=admin, timeout=10).json()
    assert status["status"] == "done"
    assert status["outcome"]["output"] == {"draft": "Ship it", "decision": {"approved": True}, "published": "Ship it"}
    journal = requests.get(base + "/journal/h-1", headers=admin, timeout=10).json()["data"]
    draft = next(step for step in journal if step["name"] == "draft")
    assert draft["output"]["value"]["request"]["messages"] == [{"role": "user", "content": "Ship it"}]
    spans = requests.get(base + "/trace/h-1", headers=admin, timeout=10).json()["data"]
    assert spans[0]["name"] == "flow approval" and {s["trace_id"] for s in spans} == {spans[0]["trace_id"]}
    listed = requests.get(base + "/runs", headers=admin, timeout=10).json()["data"]
    assert [r["run_id"] for r in listed] == ["h-1"]

    bad = requests.post(base + "/runs", json={"definition": {"name": "x", "steps": [{"id": "a", "model": "chat"}]}},
                        headers=admin, timeout=10)
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "steps[0]"
    assert "prompt or messages" in bad.json()["error"]["message"]
    code = requests.post(base + "/runs", json={"definition": {"name": "x", "register": {"sh": "os:system"},
                                                              "steps": [{"id": "a", "step": "sh"}]}},
                         headers=admin, timeout=10)
    assert code.status_code == 400 and code.json()["error"]["param"] == "definition.register"
    unknown = requests.post(base + "/runs", json={"flow": "approval", "colour": 1}, headers=admin, timeout=10)
    assert unknown.status_code == 400 and unknown.json()["error"]["param"] == "colour"
    missing = requests.get(base + "/runs/nope", headers=admin, timeout=10)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "flow_not_found"
    ended = requests.post(base + "/send/h-1", json={"event": "approval"}, headers=admin, timeout=10)
    assert ended.status_code == 400 and "has ended" in ended.json()["error"]["message"]
