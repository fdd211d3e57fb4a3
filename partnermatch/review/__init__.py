"""Suggested matches, coordinator review, consented introductions and outcomes."""
