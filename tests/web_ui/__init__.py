"""The web UI in a real browser: Playwright driving Debian's chromium against Corral under
gunicorn, the Ollama double behind it. Screenshots go to $CORRAL_SCREENSHOTS (default
.artifacts/screenshots) for a person to look at."""
