"""Alembic migrations for the Tripline store (a package so wheels ship it)."""
