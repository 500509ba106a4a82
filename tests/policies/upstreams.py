"""Mock upstreams that can be killed and brought back on the same port (for
connection-refused, region-down and chaos tests)."""

from __future__ import annotations

import http.client
from typing import Any
from urllib.parse import urlsplit

import orjson

from switchyard.mock import MockUpstreamThread


class Killable:
    """A mock upstream on a fixed port: ``stop()`` refuses connections,
    ``start()`` serves again on the same port."""

    def __init__(self, **options: Any) -> None:
        self.options = options
        self.mock: MockUpstreamThread | None = MockUpstreamThread(**options).start()
        self.port = int(urlsplit(self.mock.url).port)
        self.base_url = self.mock.base_url

    @property
    def running(self) -> bool:
        return self.mock is not None

    def stop(self) -> None:
        if self.mock is not None:
            self.mock.stop()
            self.mock = None

    def start(self) -> None:
        if self.mock is None:
            self.mock = MockUpstreamThread(**{**self.options, "port": self.port}).start()

    def count(self, path: str) -> int:
        return self.mock.count(path) if self.mock is not None else 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.mock, name)


def get_json(url: str, path: str, key: str | None = "sk-m", timeout: float = 10) -> tuple[int, Any]:
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    try:
        conn.request("GET", path, headers={"authorization": f"Bearer {key}"} if key else {})
        response = conn.getresponse()
        return response.status, orjson.loads(response.read())
    finally:
        conn.close()
