"""Asynchronous completions: services keep, run and cancel jobs; tasks run them on Celery."""
