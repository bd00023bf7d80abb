"""Exports (placeholder while h18a writes the package; theirs replaces this file)."""
