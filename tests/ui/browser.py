"""The system's Chromium driven by Playwright, for the dashboard's tests; screenshots go to
``tests/artifacts/ui/`` (git-ignored; ``SWITCHYARD_ARTIFACTS`` moves it).

No browser is ever downloaded: Playwright drives Debian's ``chromium`` package through
``executable_path``. Without it the tests fail (never skip), saying what to install.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

ARTIFACTS = Path(os.environ.get("SWITCHYARD_ARTIFACTS") or Path(__file__).resolve().parent.parent / "artifacts") / "ui"
INSTALL = "the dashboard tests need the system Chromium: run `apt-get install -y chromium` (Debian/Ubuntu)"


def chromium_path() -> str:
    """The Chromium binary (``SWITCHYARD_CHROMIUM`` or ``chromium`` on PATH); an AssertionError naming the fix."""
    found = os.environ.get("SWITCHYARD_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    assert found, INSTALL
    return found


def screenshot(page, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
