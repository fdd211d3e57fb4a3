"""Shortlists: partner profiles a member keeps to come back to, and CSV exports."""
