"""Matching: embeddings, passages, the vector index, search and explanations.

Plain Python over the database session: no Flask request is read here, so the CLI, views,
API, jobs and benchmarks all call the same functions.
"""
