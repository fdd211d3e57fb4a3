"""The search page: plain-language partner search over the matching engine."""
