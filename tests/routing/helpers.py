"""Building routers and groups in-process (fake provider, no network)."""

from __future__ import annotations

from typing import Any

from switchyard.core.call import Call
from switchyard.core.config import parse_config
from switchyard.core.messages import validate_chat
from switchyard.core.registry import Registry
from switchyard.core.tokens import TokenCounter
from switchyard.routing.catalog import Catalog, Deployment
from switchyard.routing.load import DeploymentLoad
from switchyard.routing.router import Router


class Down:
    """A health object that keeps a deployment out of rotation."""

    available = False


def build(models: dict[str, Any], routing: dict[str, Any] | None = None,
          kv: Any = None) -> tuple[Catalog, Router]:
    config = parse_config({"models": models, "routing": routing or {}})
    registry = Registry()
    decay = config.routing.latency.decay
    catalog = Catalog(config, registry, lambda id, alias, c: Deployment(
        id, alias, c, registry.get(c.provider)(c, None), load=DeploymentLoad(decay, c)))
    router = Router(config.routing, tokens=TokenCounter(), kv=kv, resolve=catalog.resolve)
    return catalog, router


def fakes(n: int, **extra: Any) -> list[dict[str, Any]]:
    return [{"provider": "fake", "model": "echo", "id": f"d{i}", **extra} for i in range(n)]


def chat(text: str = "hello", **fields: Any) -> Any:
    return validate_chat({"model": "g", "messages": [{"role": "user", "content": text}], **fields})


def call(**headers: str) -> Call:
    return Call("test", headers={k.replace("_", "-"): v for k, v in headers.items()})


def client(gateway: Any, key: str = "sk-none") -> Any:
    """The official openai SDK pointed at a gateway (no retries: tests count calls)."""
    from openai import OpenAI

    return OpenAI(base_url=gateway.url + "/v1", api_key=key, max_retries=0, timeout=20)


def ask(sdk: Any, model: str = "chat", text: str = "hi", headers: dict[str, str] | None = None, **fields: Any) -> Any:
    """One chat call; returns the raw response (``.headers``, ``.parse()``)."""
    return sdk.chat.completions.with_raw_response.create(
        model=model, messages=[{"role": "user", "content": text}], extra_headers=headers or {}, **fields
    )
