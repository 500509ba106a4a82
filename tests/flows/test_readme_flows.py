"""The README's flows (its ```yml blocks) validate as flows, and its examples' files exist."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from switchyard.flows.spec import validate

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_every_flow_in_the_readme_validates() -> None:
    flows = [m.group(1) for m in re.finditer(r"^```yml\n(.*?)^```", README, re.S | re.M)]
    assert flows
    for text in flows:
        validate(yaml.safe_load(text))
    for name in ("research", "documents", "approval"):
        assert f"examples/flows/{name}.yaml" in README
        validate(yaml.safe_load((ROOT / "examples" / "flows" / f"{name}.yaml").read_text()))
