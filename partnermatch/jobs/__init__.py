"""Background jobs: cohort suggestions and index rebuilds, off the request."""
