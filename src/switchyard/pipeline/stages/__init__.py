"""The request stages, one module each; their order is written in ``pipeline/order.py``."""
