"""The request pipeline: stages folded in one documented order (``order.py``)."""

from switchyard.pipeline.pipeline import Pipeline

__all__ = ["Pipeline"]
