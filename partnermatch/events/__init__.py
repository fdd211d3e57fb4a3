"""Brokerage events: sessions, participants, meeting requests and scheduled meetings."""
