"""What the hub answers instead of a tool's result: a JSON-RPC error whose ``data`` names the
``reason`` (and, for a rate limit, ``retry_after`` in seconds). The README's MCP section
lists them; ``tests/mcp`` drives each."""

from __future__ import annotations

#: reason -> JSON-RPC error code (-32602: the request's params are wrong; -32000s: the server's own).
CODES = {
    "unauthenticated": -32001,  # no caller on the request (never over /mcp: 401 comes first)
    "forbidden": -32003,  # the key may not use this tool (mcp.access)
    "unknown_tool": -32602,  # no such tool behind the gateway
    "arguments_too_large": -32602,  # arguments over mcp.max_argument_bytes
    "rate_limited": -32029,  # mcp.rate_limits
    "unavailable": -32002,  # the server is not connected
    "timeout": -32004,  # the server took longer than its timeout
    "guard_blocked": -32006,  # the arguments (or the result) hold what the guard policy blocks
    "guard_unavailable": -32007,  # a guard detector failed and the policy fails closed
}


class ToolRefused(Exception):
    """A call the gateway answers itself; ``reason`` is a key of ``CODES``."""

    def __init__(self, reason: str, message: str, *, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.retry_after = retry_after

    @property
    def jsonrpc_code(self) -> int:
        return CODES[self.reason]

    def data(self) -> dict[str, object]:
        out: dict[str, object] = {"reason": self.reason}
        if self.retry_after is not None:
            out["retry_after"] = self.retry_after
        return out
