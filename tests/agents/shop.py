"""Python tools the YAML agents of the tests import by path (``tests.agents.shop:refund``)."""

from __future__ import annotations

REFUNDS: list[str] = []


def refund(order: str, amount: float) -> str:
    """Refund an order.

    Args:
        order: the order id
        amount: how much, in euros
    """
    REFUNDS.append(order)
    return f"refunded {amount:.2f} EUR on {order}"


def lookup(order: str) -> dict[str, str]:
    """The status of an order."""
    return {"order": order, "status": "delivered"}
