"""The code runner: a subprocess without network, under CPU, memory, time and file-size limits."""

from __future__ import annotations

import shutil

import pytest

from switchyard.core.config.mcp import CodeService
from switchyard.mcp.builtin.code import CodeRefused, CodeRunner, NoSandbox, unshare_command


@pytest.fixture(scope="module")
def runner() -> CodeRunner:
    return CodeRunner(CodeService(enabled=True, cpu_seconds=1, memory_mb=128, timeout=2, file_size_bytes=1024,
                                  max_output_bytes=100, max_code_bytes=2000))


async def test_it_runs_python(runner):
    done = await runner.run("import sys\nprint(sum(range(10)))\nprint('oops', file=sys.stderr)")
    assert done == {"exit_code": 0, "stdout": "45\n", "stderr": "oops\n"}


async def test_it_has_no_network(runner, redis_server):
    host, port = redis_server  # a server that answers on loopback outside the sandbox
    done = await runner.run(f"import socket\ntry:\n socket.create_connection(('{host}', {port}), 1)\n print('CONNECTED')\n"
                            "except OSError as e:\n print('refused', e.errno)")
    assert "CONNECTED" not in done["stdout"] and done["stdout"].startswith("refused")


async def test_cpu_is_limited():
    patient = CodeRunner(CodeService(enabled=True, cpu_seconds=1, timeout=60))  # wall time is no limit here
    done = await patient.run("while True: pass")
    assert done["exit_code"] != 0 and "CPU time limit of 1 s" in done["killed"]


async def test_memory_is_limited(runner):
    done = await runner.run("x = bytearray(512 * 1024 * 1024)\nprint('allocated')")
    assert done["exit_code"] == 1 and "MemoryError" in done["stderr"] and "allocated" not in done["stdout"]


async def test_files_are_limited(runner):
    done = await runner.run("f = open('f', 'wb')\nf.write(b'x' * 4096)\nf.close()")
    assert done["exit_code"] == 1 and "Errno 27" in done["stderr"]  # Python ignores SIGXFSZ: EFBIG instead


async def test_wall_time_is_limited(runner):
    done = await runner.run("import time\ntime.sleep(30)")
    assert "ran past 2 s of wall time" in done["killed"]


async def test_output_is_bounded(runner):
    done = await runner.run("print('y' * 10000)")
    assert len(done["stdout"]) == 100 and done["output_truncated"] is True


async def test_it_does_not_run_as_root(runner):
    done = await runner.run("import os\nprint(os.path.exists('/etc/shadow') and os.access('/etc/shadow', os.R_OK))")
    assert done["stdout"] == "False\n"


@pytest.mark.parametrize(("code", "reason"), [
    ("", "code: must be a non-empty string"),
    ("x = 1\n" * 1000, "code: 6000 bytes; the limit is 2000"),
    ("print(1)\x00", "must not contain NUL"),
])
async def test_it_refuses(runner, code, reason):
    with pytest.raises(CodeRefused) as refused:
        await runner.run(code)
    assert reason in str(refused.value)


def test_without_a_network_namespace_it_refuses_to_start(monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(NoSandbox, match="needs `unshare`"):
        unshare_command()
