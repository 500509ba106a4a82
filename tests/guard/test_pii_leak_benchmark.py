"""The independent ``pii-leak-benchmark`` (PyPI) against the gateway, mask and restore on.

Its ``selfcheck`` starts its own capture upstream, sends a streamed chat with fresh
synthetic personal data and credentials (email, SSN, card, AWS key, GitHub and Slack
tokens) through the gateway, inspects everything the capture received (decoded,
joined across requests) and checks the client got the exact prompt back from an
answer streamed one character per event. It must say CLEAN; with the guard off, the
same run must say LEAK (the capture is seeing the traffic: the check can fail).
"""

from __future__ import annotations

import socket
import subprocess
import sys
from typing import Any

from switchyard.server.runner import GatewayThread


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _selfcheck(guard: str) -> subprocess.CompletedProcess[str]:
    capture = _free_port()
    config: dict[str, Any] = {
        "logging": {"access_log": False},
        "guard": {"policies": {"pii": {"action": "mask"}}},
        "models": {"conformance-model": {"guard": guard, "deployments": [{
            "provider": "openai_compatible", "model": "capture", "base_url": f"http://127.0.0.1:{capture}/v1"}]}},
    }
    with GatewayThread(config) as gateway:
        return subprocess.run(
            [sys.executable, "-m", "pii_leak_benchmark.cli", "selfcheck", "--target-base-url", f"{gateway.url}/v1",
             "--capture-port", str(capture), "--iterations", "3", "--duty", "restore", "--timeout-seconds", "20"],
            capture_output=True, text=True, timeout=120)


def test_the_benchmark_reports_clean_with_mask_and_restore():
    done = _selfcheck("pii")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "CLEAN" in done.stdout
    for check in ("configured_upstream_boundary", "fragmentation_safety", "response_fidelity", "sse_validity"):
        assert f"{check:<32}pass" in done.stdout, done.stdout


def test_the_benchmark_sees_the_leak_when_the_guard_is_off():
    done = _selfcheck("off")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "LEAK" in done.stdout and "SSN" in done.stdout
