"""``PriceBook``: each deployment's ``PriceSheet``, resolved once when it is built.

A deployment's ``price:`` in the config wins (US dollars per million tokens);
otherwise the price table (``table.py``) is asked once per provider, model and
endpoint, and the answer kept. Local models (Ollama, vLLM, the fake provider)
are unpriced: they cost 0 and their spend records say ``priced: false``. A
model the table does not know is unpriced too, and the log says so once, so
its owner can set ``price:``.
"""

from __future__ import annotations

import logging

from switchyard.core.config import DeploymentConfig
from switchyard.pricing import table
from switchyard.pricing.sheet import PriceSheet, from_config

log = logging.getLogger("switchyard.pricing")

#: Distinct (provider, model, endpoint) answers kept; wildcard aliases may name many models.
MAX_ENTRIES = 4096


class PriceBook:
    """Deployment config -> ``PriceSheet`` (see the module docstring)."""

    def __init__(self) -> None:
        self._sheets: dict[tuple[str, str, str | None], PriceSheet] = {}

    def for_deployment(self, config: DeploymentConfig) -> PriceSheet:
        if config.price is not None:
            return from_config(config.price)
        key = (config.provider, config.model, config.base_url)
        sheet = self._sheets.get(key)
        if sheet is None:
            sheet = table.lookup(config.provider, config.model, config.base_url)
            if not sheet.priced and config.provider not in table.LOCAL and config.model != "*":
                log.warning("deployment_unpriced", extra={"provider": config.provider, "model": config.model,
                                                          "reason": sheet.source})
            if len(self._sheets) < MAX_ENTRIES:
                self._sheets[key] = sheet
        return sheet
