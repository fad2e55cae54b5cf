"""Several Ollama servers behind one route: choosing a backend for a call, the shared circuit and
in-flight state in Redis, and the health checks that take backends out and put them back."""
