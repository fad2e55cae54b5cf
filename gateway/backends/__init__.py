"""Several Ollama servers behind one route: choosing a backend for a call, the circuit breaker (shared
by every process through Redis), calls in flight (counted per process) and the health checks that take
backends out and put them back."""
