"""JSON API v1: the same services as the pages, for CRMs, event tools and scripts."""
