"""Reliability policies: each wraps a provider and is one (see ``chain.py`` for the order)."""
