"""Corral's own REST API under /api/v1/: chat, models, asynchronous completions, calls, usage, tokens."""
