"""Alembic migrations of the SQL stores, shipped in the package (no alembic.ini needed)."""
