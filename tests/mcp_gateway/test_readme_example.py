"""The README's MCP gateway section: its client example runs against a gateway serving the calculator."""

from __future__ import annotations

import re
import subprocess
import sys

from switchyard.server.runner import GatewayThread
from tests.docs.test_readme import README_URL, section


def test_the_client_example_runs():
    code = re.search(r"^```py\n(.*?)^```", section("MCP gateway"), re.S | re.M).group(1)
    key = re.search(r'"Bearer ([^"]+)"', code).group(1)
    config = {"auth": {"master_key": key}, "logging": {"access_log": False}, "mcp": {"builtins": {"calc": {}}}}
    with GatewayThread(config) as gateway:
        done = subprocess.run([sys.executable, "-c", code.replace(README_URL, gateway.url)], capture_output=True,
                              text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "['calc__evaluate']" in done.stdout and "{'result': 1028.0}" in done.stdout
