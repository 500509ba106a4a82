"""A code runner: Python in a subprocess without network, under CPU, memory, time and file limits.

Each run is a fresh ``python -I -S`` (isolated: no site, no environment, no user
directory) in an empty temporary directory, its working directory, removed afterwards,
with an empty environment. Before it starts (``preexec_fn``): ``RLIMIT_CPU``,
``RLIMIT_AS`` (memory), ``RLIMIT_FSIZE`` (the largest file it may write),
``RLIMIT_NOFILE`` and ``RLIMIT_CORE`` = 0, and — when the gateway runs as root — the
identity of ``nobody``. It runs inside a new user and network namespace
(``unshare --user --map-root-user --net``): no interface but a loopback that is down.
The wall-clock ``timeout`` kills it; stdout and stderr are kept up to
``max_output_bytes`` each. Where no network namespace can be made the runner refuses
to be enabled (``NoSandbox``), and says so at start.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
from typing import Any

from switchyard.core.config.mcp import CodeService

NOBODY = 65534


class NoSandbox(RuntimeError):
    """This machine cannot give the runner a network namespace of its own."""


class CodeRefused(ValueError):
    """The code is refused before it runs; the message says why."""


def unshare_command() -> list[str]:
    """The command prefix that isolates the network, after checking it works here; else ``NoSandbox``."""
    unshare = shutil.which("unshare")
    if unshare is None:
        raise NoSandbox("mcp.builtins.code needs `unshare` (util-linux) to run code without network; "
                        "it is not installed, so the code runner stays off")
    prefix = [unshare, "--user", "--map-root-user", "--net", "--"]
    try:
        probe = subprocess.run([*prefix, "true"], capture_output=True, timeout=10, preexec_fn=_drop_identity)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise NoSandbox(f"mcp.builtins.code cannot make a network namespace here ({exc}); "
                        "the code runner stays off") from None
    if probe.returncode != 0:
        raise NoSandbox("mcp.builtins.code cannot make a network namespace here (unshare: "
                        f"{probe.stderr.decode(errors='replace').strip()[:200]}); the code runner stays off")
    return prefix


def _drop_identity() -> None:
    if os.getuid() == 0:  # never run clients' code as root: nobody, no supplementary groups
        os.setgroups([])
        os.setgid(NOBODY)
        os.setuid(NOBODY)


class CodeRunner:
    def __init__(self, config: CodeService) -> None:
        self.config = config
        self.prefix = unshare_command()
        self.python = self._interpreter()

    def _interpreter(self) -> str:
        """The configured interpreter, else the gateway's own (its real file: ``-I -S`` reads no
        site-packages anyway), else a ``python3`` on PATH or in /usr — the first that runs in the sandbox."""
        if self.config.python is not None:
            candidates = [self.config.python]
        else:
            found = [os.path.realpath(sys.executable), shutil.which("python3"), "/usr/bin/python3",
                     "/usr/local/bin/python3"]
            candidates = list(dict.fromkeys(p for p in found if p and os.path.exists(p)))
        for python in candidates:
            try:
                probe = subprocess.run([*self.prefix, python, "-I", "-S", "-c", "pass"], capture_output=True,
                                       timeout=30, preexec_fn=_drop_identity)
            except (OSError, subprocess.TimeoutExpired):
                continue
            if probe.returncode == 0:
                return python
        raise NoSandbox(f"mcp.builtins.code: none of {candidates} runs in the sandbox (as nobody when the gateway "
                        "is root: is it readable and executable by all?); set mcp.builtins.code.python")

    def _limits(self) -> None:
        import resource

        c = self.config
        resource.setrlimit(resource.RLIMIT_CPU, (c.cpu_seconds, c.cpu_seconds + 1))
        memory = c.memory_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
        resource.setrlimit(resource.RLIMIT_FSIZE, (c.file_size_bytes, c.file_size_bytes))
        resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        os.setsid()
        _drop_identity()

    async def run(self, code: str) -> dict[str, Any]:
        if not isinstance(code, str) or not code.strip():
            raise CodeRefused("code: must be a non-empty string")
        size = len(code.encode("utf-8", "surrogatepass"))
        if size > self.config.max_code_bytes:
            raise CodeRefused(f"code: {size} bytes; the limit is {self.config.max_code_bytes}")
        if "\x00" in code:
            raise CodeRefused("code: must not contain NUL characters")
        workdir = tempfile.mkdtemp(prefix="switchyard-code-")
        os.chmod(workdir, 0o777)  # noqa: S103 - the run's own scratch directory, written as nobody, removed after
        try:
            process = await asyncio.create_subprocess_exec(
                *self.prefix, self.python, "-I", "-S", "-c", code, cwd=workdir, env={"PATH": "/usr/bin:/bin"},
                stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
                preexec_fn=self._limits)
            limit = self.config.max_output_bytes
            reading = asyncio.gather(_read(process.stdout, limit), _read(process.stderr, limit))
            timed_out = False
            try:
                async with asyncio.timeout(self.config.timeout):
                    (out, out_cut), (err, err_cut) = await reading
                    await process.wait()
            except TimeoutError:
                timed_out = True
                _kill(process)
                await process.wait()
                reading.cancel()
                out, out_cut, err, err_cut = b"", False, b"", False
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        code_ = process.returncode
        result: dict[str, Any] = {"exit_code": code_, "stdout": out.decode("utf-8", "replace"),
                                  "stderr": err.decode("utf-8", "replace")}
        if out_cut or err_cut:
            result["output_truncated"] = True
        if timed_out:
            result["killed"] = f"ran past {self.config.timeout:g} s of wall time (mcp.builtins.code.timeout)"
        elif code_ is not None and code_ < 0:
            result["killed"] = _signal_reason(-code_, self.config)
        return result


async def _read(stream: Any, limit: int) -> tuple[bytes, bool]:
    """Up to ``limit`` bytes of ``stream``; the rest is read and dropped (the child never blocks on a full pipe)."""
    kept = bytearray()
    cut = False
    while True:
        part = await stream.read(65536)
        if not part:
            return bytes(kept), cut
        room = limit - len(kept)
        if len(part) > room:
            cut = True
        if room > 0:
            kept += part[:room]


def _kill(process: Any) -> None:
    try:
        os.killpg(process.pid, 9)
    except (ProcessLookupError, PermissionError):
        process.kill()


def _signal_reason(signal: int, config: CodeService) -> str:
    import signal as signals

    if signal == signals.SIGXCPU or signal == signals.SIGKILL:
        return f"CPU time limit of {config.cpu_seconds} s (mcp.builtins.code.cpu_seconds)"
    if signal == signals.SIGXFSZ:
        return f"file size limit of {config.file_size_bytes} bytes (mcp.builtins.code.file_size_bytes)"
    return f"signal {signal}"
