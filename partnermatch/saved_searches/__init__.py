"""Saved searches: a member's named search, run again on demand and in a weekly digest."""
