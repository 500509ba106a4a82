"""The Helm chart (``deploy/helm/switchyard``), rendered (``gotemplate.render_chart``, Helm's
``helm template``) with its defaults and with every option on; every manifest checked against
the Kubernetes API's own schemas (``kubernetes-validate``, strict: an unknown field fails), the
pods non-root on a read-only root file system, the config they mount a valid Switchyard config."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from switchyard.core.config import load_config
from tests.deploy.gotemplate import manifests, render_chart

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "deploy" / "helm" / "switchyard"
KUBERNETES = "1.30.0"
EVERYTHING = {
    "serviceMonitor": {"enabled": True, "labels": {"release": "prometheus"}},
    "grafanaDashboard": {"enabled": True},
    "redis": {"enabled": True}, "postgresql": {"enabled": True},
    "secretEnv": {"OPENAI_API_KEY": "openai-api-key"},
    "autoscaling": {"enabled": False},
    "gateway": {"nodeSelector": {"pool": "gateway"}, "tolerations": [{"key": "llm", "operator": "Exists"}]},
}


def _kinds(objects: list[dict[str, Any]]) -> list[str]:
    return sorted(o["kind"] for o in objects)


def _validate(objects: list[dict[str, Any]]) -> None:
    for obj in objects:
        if obj["apiVersion"].startswith("monitoring.coreos.com/"):  # a CRD: not in the API's schemas
            assert obj["kind"] == "ServiceMonitor" and obj["spec"]["endpoints"][0]["path"] == "/metrics"
            continue
        kubernetes_validate.validate(obj, KUBERNETES, strict=True)


def _pods(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [o["spec"]["template"]["spec"] for o in objects if o["kind"] in ("Deployment", "Job")]


def test_the_defaults_render_valid_manifests():
    objects = manifests(render_chart(CHART))
    assert _kinds(objects) == ["ConfigMap", "Deployment", "Deployment", "HorizontalPodAutoscaler", "Job",
                               "PodDisruptionBudget", "Service", "ServiceAccount"]
    _validate(objects)


def test_every_option_renders_valid_manifests():
    objects = manifests(render_chart(CHART, EVERYTHING))
    assert _kinds(objects) == ["ConfigMap", "ConfigMap", "Deployment", "Deployment", "Job", "PodDisruptionBudget",
                               "Service", "ServiceAccount", "ServiceMonitor"]
    _validate(objects)
    gateway = next(o for o in objects if o["kind"] == "Deployment" and o["metadata"]["name"] == "gw-switchyard")
    assert gateway["spec"]["replicas"] == 2  # set here, not by the autoscaler
    env = {e["name"]: e for e in gateway["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["SWITCHYARD_REDIS_URL"]["value"] == "redis://:$(REDIS_PASSWORD)@gw-redis-master:6379/0"
    assert list(env).index("REDIS_PASSWORD") < list(env).index("SWITCHYARD_REDIS_URL")  # $(…) needs it first
    assert env["OPENAI_API_KEY"]["valueFrom"]["secretKeyRef"] == {"name": "switchyard", "key": "openai-api-key"}
    dashboard = next(o for o in objects if o["kind"] == "ConfigMap" and o["metadata"]["name"].endswith("-dashboard"))
    shipped = json.loads((ROOT / "deploy" / "grafana" / "switchyard.json").read_text())
    assert json.loads(dashboard["data"]["switchyard.json"]) == shipped  # the one dashboard, not a copy
    assert dashboard["metadata"]["labels"]["grafana_dashboard"] == "1"


@pytest.mark.parametrize("values", [{}, EVERYTHING], ids=["defaults", "everything"])
def test_pods_run_as_non_root_on_a_read_only_root_file_system_and_take_secrets_from_secrets(values):
    objects = manifests(render_chart(CHART, values))
    pods = _pods(objects)
    assert len(pods) == 3  # gateway, batch worker, migrations
    for pod in pods:
        assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] != 0
        assert any(v["name"] == "tmp" and "emptyDir" in v for v in pod["volumes"])
        for container in pod["containers"]:
            security = container["securityContext"]
            assert security["readOnlyRootFilesystem"] is True and security["allowPrivilegeEscalation"] is False
            assert {"name": "tmp", "mountPath": "/tmp"} in container["volumeMounts"]
            for variable in container["env"]:  # a credential is never a literal in a manifest
                assert "valueFrom" in variable or "$(" in variable["value"], variable
    gateway = next(p for p in pods if p["containers"][0]["name"] == "gateway")["containers"][0]
    assert gateway["readinessProbe"]["httpGet"]["path"] == "/health/ready"
    assert gateway["livenessProbe"]["httpGet"]["path"] == "/health/live"
    assert gateway["args"][-2:] == ["--workers", "2"]


def test_the_mounted_config_is_a_valid_gateway_config(tmp_path, monkeypatch):
    objects = manifests(render_chart(CHART, {"config": {"routing": {"sticky": {}}}}))
    text = next(o for o in objects if o["kind"] == "ConfigMap")["data"]["switchyard.yaml"]
    (tmp_path / "switchyard.yaml").write_text(text)
    monkeypatch.setenv("SWITCHYARD_MASTER_KEY", "sk-master-0123456789")
    monkeypatch.setenv("SWITCHYARD_REDIS_URL", "redis://redis:6379/0")
    monkeypatch.setenv("SWITCHYARD_DATABASE_URL", "postgresql://switchyard@postgres/switchyard")
    config = load_config(str(tmp_path / "switchyard.yaml"))
    assert config.redis is not None and config.limits is not None and config.limits.backend == "redis"
    assert config.routing.sticky is not None and config.auth.enabled
    from switchyard.server.workers import problems

    assert problems(config, 2) == []  # --workers 2 is accepted: everything shared goes through Redis


def test_the_chart_names_its_dependencies_and_values_for_external_services():
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert {d["name"]: d["condition"] for d in chart["dependencies"]} == {"redis": "redis.enabled",
                                                                          "postgresql": "postgresql.enabled"}
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert values["existingSecret"] and not values["redis"]["enabled"] and not values["postgresql"]["enabled"]
    assert "auth" not in values["config"] and "redis" not in values["config"] and "storage" not in values["config"]
