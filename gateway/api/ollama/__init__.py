"""The Ollama-compatible door under /ollama/: Ollama's own API, for its clients and tools."""
