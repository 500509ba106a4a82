"""Running the gateway: the open-file limit is raised before serving."""

from __future__ import annotations

import resource
import subprocess
import sys


def test_the_open_file_soft_limit_is_raised_to_the_hard_one():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    low = min(256, hard)

    def lower() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (low, hard))

    code = ("import resource; from switchyard.server.runner import raise_open_file_limit as r; "
            "before = resource.getrlimit(resource.RLIMIT_NOFILE)[0]; got = r(); "
            "print(before, got, resource.getrlimit(resource.RLIMIT_NOFILE)[0])")
    out = subprocess.run([sys.executable, "-c", code], preexec_fn=lower, capture_output=True, text=True,
                         timeout=30, check=True).stdout.split()
    expected = hard if hard != resource.RLIM_INFINITY else max(low, 1 << 20)
    assert [int(x) for x in out] == [low, expected, expected]
