"""Several Ollama servers behind one route: weights, least in-flight, failover before the first
byte (never after), health checks with the circuit breaker, timeouts and route defaults.

Three Ollama doubles on loopback play gpu-a, gpu-b (same priority, weights 3:1) and gpu-c (the
fallback, priority 1)."""
