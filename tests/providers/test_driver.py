"""The shared HTTP driver's pure parts: the headers it keeps and the timeout it uses."""

from __future__ import annotations

import time

from switchyard.core.call import Call
from switchyard.core.config.models import Timeouts
from switchyard.providers.driver import Driver
from switchyard.transport.headers import Headers


def _driver(**keep: str) -> Driver:
    return Driver(None, Timeouts(request=30), lambda status, body, get: None, keep)  # type: ignore[arg-type,return-value]


def test_kept_headers_are_filtered_and_renamed():
    headers = Headers.from_items([("X-Amzn-RequestId", "r1"), ("Content-Type", "application/json")])
    assert _driver(**{"x-amzn-requestid": "x-request-id"}).kept(headers) == {"x-request-id": "r1"}
    assert _driver().kept(headers) == {}


def test_timeout_is_bounded_by_the_deadline():
    driver = _driver()
    assert driver.timeout(Call("r")) == 30
    assert 4 < driver.timeout(Call("r", deadline=time.monotonic() + 5)) <= 5
    assert driver.timeout(Call("r", deadline=time.monotonic() - 1)) == 0.001

