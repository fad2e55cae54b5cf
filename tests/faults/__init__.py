"""The fault matrix, against Corral's real processes: gunicorn (gevent) and, where a row needs it,
the Celery worker and beat. Ollama, PostgreSQL and Redis are reached through TCP relays the tests
cut and restore, so "down" is what a client really sees (reset connections, refused connects).

Every row checks the same four things: the caller gets a clear error in its door's own format, an
audit record exists with the right status, the call's span reaches the collector, and the next
call succeeds again without restarting anything."""
