"""Reading a gateway's ``/metrics`` in tests: parsed samples, summed by label."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from tests.server.raw_http import request as raw_request


class Scrape:
    """One exposition, parsed: ``value(name, **labels)`` sums the samples whose labels match."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.samples: list[tuple[str, dict[str, str], float]] = [
            (s.name, dict(s.labels), s.value)
            for family in text_string_to_metric_families(text) for s in family.samples
        ]
        self.families = {family.name for family in text_string_to_metric_families(text)}

    def value(self, name: str, **labels: str) -> float:
        return sum(v for n, ls, v in self.samples if n == name and all(ls.get(k) == x for k, x in labels.items()))

    def series(self) -> set[tuple[str, tuple[tuple[str, str], ...]]]:
        return {(n, tuple(sorted(ls.items()))) for n, ls, _ in self.samples}

    def label_values(self, label: str, names: Iterable[str] | None = None) -> set[str]:
        wanted = set(names) if names is not None else None
        return {ls[label] for n, ls, _ in self.samples if label in ls and (wanted is None or n in wanted)}


def scrape(url: str, headers: dict[str, str] | None = None) -> Scrape:
    response = raw_request(url, "GET", "/metrics", headers=headers or {})
    assert response.status == 200, response.body[:500]
    return Scrape(response.body.decode())


def chat_body(model: str, content: str = "one two three", **extra: Any) -> bytes:
    import orjson

    return orjson.dumps({"model": model, "messages": [{"role": "user", "content": content}], **extra})
