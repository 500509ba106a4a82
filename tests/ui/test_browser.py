"""Without the system Chromium the dashboard's tests fail — never skip — saying what to install."""

from __future__ import annotations

import pytest

from tests.ui.browser import chromium_path


def test_a_missing_chromium_is_a_failure_naming_the_package(monkeypatch, tmp_path):
    monkeypatch.delenv("SWITCHYARD_CHROMIUM", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))  # nothing on it
    with pytest.raises(AssertionError, match="apt-get install -y chromium"):
        chromium_path()


def test_the_installed_one_is_found():
    assert chromium_path().endswith(("chromium", "chromium-browser"))
