"""The route table: exact paths in a dict, ``{param}`` paths by prefix."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from switchyard.core.errors import ClientError, NotFound, SwitchyardError, to_openai_body
from switchyard.server.http import Request, Response, StreamResponse

ErrorBody = Callable[[SwitchyardError], dict[str, Any]]


class MethodNotAllowed(ClientError):
    status = 405
    type = "invalid_request_error"
    code = "method_not_allowed"


@dataclass(frozen=True, slots=True)
class Handler:
    fn: Callable[[Request], Awaitable[Response | StreamResponse]]
    authenticated: bool = True
    reads_body: bool = True
    needs_services: bool = True
    error_body: ErrorBody = to_openai_body
    #: The largest body this route takes (None: ``server.max_body_bytes``), e.g. file uploads.
    max_body: int | None = None


class RouteTable:
    """Maps ``(method, path)`` to a handler. Paths may end in one ``{param}``."""

    def __init__(self) -> None:
        self._exact: dict[str, dict[str, Handler]] = {}
        self._prefixed: list[tuple[str, str, dict[str, Handler]]] = []

    def add(self, method: str, path: str, handler: Handler) -> None:
        if "{" in path:
            prefix, _, rest = path.partition("{")
            name = rest.rstrip("}")
            for existing_prefix, existing_name, methods in self._prefixed:
                if existing_prefix == prefix and existing_name == name:
                    methods[method] = handler
                    return
            self._prefixed.append((prefix, name, {method: handler}))
            self._prefixed.sort(key=lambda item: -len(item[0]))
        else:
            self._exact.setdefault(path, {})[method] = handler

    def match(self, method: str, path: str) -> tuple[Handler | None, Any, ErrorBody]:
        """``(handler, path params, error renderer)``; with no handler, the second
        item is the error to answer with."""
        methods = self._exact.get(path)
        params: dict[str, str] = {}
        if methods is None:
            for prefix, name, candidate in self._prefixed:
                if path.startswith(prefix) and len(path) > len(prefix):
                    methods, params = candidate, {name: path[len(prefix):]}
                    break
        if methods is None:
            return None, NotFound(f"Unknown path: {path}", code="unknown_url"), to_openai_body
        handler = methods.get(method)
        if handler is None:
            error_body = next(iter(methods.values())).error_body
            return None, MethodNotAllowed(f"Method {method} is not allowed on {path}"), error_body
        return handler, params, handler.error_body

    @classmethod
    def default(cls, app: Any) -> RouteTable:
        """Every built-in route, for ``app``."""
        from switchyard.server.admin_routes import add_admin_routes
        from switchyard.server.agent_routes import add_agent_routes
        from switchyard.server.anthropic_routes import add_anthropic_routes
        from switchyard.server.audit_routes import add_audit_routes
        from switchyard.server.batch_routes import add_batch_routes
        from switchyard.server.experiment_routes import add_experiment_routes
        from switchyard.server.flow_routes import add_flow_routes
        from switchyard.server.health_routes import add_health_routes
        from switchyard.server.mcp_admin_routes import add_mcp_admin_routes
        from switchyard.server.metrics_routes import add_metrics_routes
        from switchyard.server.openai_routes import add_openai_routes
        from switchyard.server.openapi import add_openapi_routes
        from switchyard.server.reliability_routes import add_reliability_routes
        from switchyard.server.responses_routes import add_responses_routes
        from switchyard.server.retrieval_routes import add_retrieval_routes
        from switchyard.server.routing_routes import add_routing_routes
        from switchyard.server.semantic_routes import add_semantic_routes
        from switchyard.server.slo_routes import add_slo_routes
        from switchyard.server.spend_routes import add_spend_routes
        from switchyard.server.stream_routes import add_stream_routes
        from switchyard.server.ui_routes import add_ui_routes

        table = cls()
        add_openai_routes(table, app)
        add_health_routes(table, app)
        add_reliability_routes(table, app)
        add_anthropic_routes(table, app)
        add_responses_routes(table, app)
        add_routing_routes(table, app)
        add_audit_routes(table, app)
        add_openapi_routes(table, app)
        add_admin_routes(table, app)
        add_spend_routes(table, app)
        add_metrics_routes(table, app)
        add_stream_routes(table, app)
        add_batch_routes(table, app)
        add_slo_routes(table, app)
        add_semantic_routes(table, app)
        add_agent_routes(table, app)
        add_retrieval_routes(table, app)
        add_mcp_admin_routes(table, app)
        add_ui_routes(table, app)
        add_experiment_routes(table, app)
        add_flow_routes(table, app)
        return table
