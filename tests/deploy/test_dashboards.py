"""The shipped Grafana dashboard and Prometheus alert rules name only what the gateway exports.

Every PromQL expression in ``deploy/grafana/switchyard.json`` and
``deploy/prometheus/alerts.yml`` is parsed (a syntax error fails here, not in
Grafana); every metric it selects is one ``/metrics`` serves, every label it
matches on or groups by is one that metric carries. The rules wait ``for:``
before firing and keep firing a while after (no page for a blip, no flapping).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import promql_parser
import pytest
import yaml

from switchyard.core.config import parse_config
from switchyard.observe.metrics import Metrics

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "deploy" / "grafana" / "switchyard.json"
ALERTS = ROOT / "deploy" / "prometheus" / "alerts.yml"
_SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "gauge": ("",)}
_DURATION = re.compile(r"^\d+[smhd]$")


def exported() -> dict[str, set[str]]:
    """Every sample name ``/metrics`` can serve, with the labels it carries."""
    metrics = Metrics(parse_config({"metrics": {"enabled": True}}))
    labels_of = {getattr(m, "_name", None): set(getattr(m, "_labelnames", ()))
                 for m in vars(metrics.families).values()}
    out: dict[str, set[str]] = {}
    for family in metrics.registry.collect():
        labels = labels_of.get(family.name, set())
        for suffix in _SUFFIXES.get(family.type, ("",)):
            out[family.name + suffix] = labels | ({"le"} if suffix == "_bucket" else set())
    return out


EXPORTED = exported()


def dashboard_expressions() -> list[str]:
    board = json.loads(DASHBOARD.read_text())
    exprs = [t["expr"] for p in board["panels"] for t in p.get("targets", ())]
    for variable in board["templating"]["list"]:
        query = variable.get("query")
        if isinstance(query, dict):  # label_values(metric, label): Grafana's, not PromQL
            metric, label = re.fullmatch(r"label_values\((\w+),\s*(\w+)\)", query["query"]).groups()
            exprs.append(f"{metric}{{{label}!=''}}")
    return [e.replace("$__rate_interval", "5m").replace("$alias", ".*") for e in exprs]


def alert_rules() -> list[dict[str, Any]]:
    return [rule for group in yaml.safe_load(ALERTS.read_text())["groups"] for rule in group["rules"]]


def _nodes(node: Any) -> Iterator[Any]:
    yield node
    for name in dir(node):
        if name.startswith("_") or name in ("parse", "prettify"):
            continue
        value = getattr(node, name)
        for child in value if isinstance(value, list) else [value]:
            if hasattr(child, "prettify"):
                yield from _nodes(child)


def selections(expr: str) -> tuple[list[tuple[str, set[str]]], set[str]]:
    """``([(metric, labels it matches on)], labels grouped by)`` of a PromQL expression."""
    tree = promql_parser.parse(expr)
    selected, grouped = [], set()
    for node in _nodes(tree):
        if isinstance(node, promql_parser.VectorSelector):
            selected.append((node.name, {m.name for m in node.matchers.matchers}))
        modifier = getattr(node, "modifier", None)
        if isinstance(modifier, promql_parser.AggModifier):
            grouped |= set(modifier.labels)
    return selected, grouped


EXPRESSIONS = dashboard_expressions() + [rule["expr"] for rule in alert_rules()]


def test_the_exposition_is_what_the_test_reads():
    assert "switchyard_requests_total" in EXPORTED and "gen_ai_client_token_usage_bucket" in EXPORTED
    assert EXPORTED["switchyard_requests_total"] == {"alias", "deployment", "provider", "status_class"}
    assert len(EXPRESSIONS) >= 30


@pytest.mark.parametrize("expr", EXPRESSIONS)
def test_every_metric_and_label_named_is_exported(expr):
    selected, grouped = selections(expr)
    assert selected, expr
    labels = set()
    for metric, matched in selected:
        assert metric in EXPORTED, f"{metric} is not exported (in: {expr})"
        assert matched <= EXPORTED[metric], f"{metric} has no label {sorted(matched - EXPORTED[metric])}"
        labels |= EXPORTED[metric]
    assert grouped <= labels, f"grouped by labels no selected metric carries: {sorted(grouped - labels)} ({expr})"


def test_the_dashboard_covers_what_the_gateway_measures():
    named = {metric for expr in dashboard_expressions() for metric, _ in selections(expr)[0]}
    families = {re.sub(r"(_total|_bucket|_sum|_count)$", "", name) for name in named}
    ours = {re.sub(r"(_total|_bucket|_sum|_count)$", "", name) for name in EXPORTED if not name.startswith("process_")}
    assert ours <= families, f"exported but on no panel: {sorted(ours - families)}"


def test_alert_rules_wait_before_firing_and_say_what_fired():
    rules = alert_rules()
    assert len(rules) >= 8
    names = [rule["alert"] for rule in rules]
    assert len(set(names)) == len(names)
    for rule in rules:
        assert _DURATION.match(rule["for"]) and _DURATION.match(rule["keep_firing_for"]), rule["alert"]
        assert rule["labels"]["severity"] in {"page", "warning", "info"}
        assert rule["annotations"]["summary"]
        assert re.search(r"[<>]=?\s*[\d.]+\s*$", rule["expr"].strip()), f"{rule['alert']} has no threshold"
