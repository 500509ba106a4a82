from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

import switchyard
from tests.agents.scripts import config


@pytest.fixture
async def client() -> AsyncIterator[switchyard.AsyncClient]:
    async with switchyard.AsyncClient(config()) as started:
        yield started
