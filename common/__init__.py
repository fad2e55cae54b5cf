"""Helpers every app shares — the contract's errors, Redis, the per-process cache, request facts,
redaction, log context, durations, ids. They import Django and libraries only, never an app, so
accounts, audit and gateway all build on them."""
