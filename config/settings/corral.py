"""Corral's own settings: the upstream, request bounds, routes, timeouts, health and breaker,
limits, the audit trail, caches, spans and callbacks."""

import hmac

from django.core.exceptions import ImproperlyConfigured

from config.settings.django import SECRET_KEY, env

OLLAMA_HOST = env.str("OLLAMA_HOST", default="http://localhost:11434")
if "://" not in OLLAMA_HOST:
    # Ollama's own CLI accepts "host:port"; so does Corral.
    OLLAMA_HOST = f"http://{OLLAMA_HOST}"

# Largest request body the API accepts, in bytes (images travel base64-encoded inside the JSON).
# Signs the audit chain's checkpoints. Not in the database, so whoever can write the database
# cannot forge one; by default derived from SECRET_KEY (set it on its own to rotate SECRET_KEY).
CORRAL_AUDIT_SIGNING_KEY = (
    env.str("CORRAL_AUDIT_SIGNING_KEY", default="")
    or hmac.new(SECRET_KEY.encode(), b"corral audit checkpoints", "sha256").hexdigest()
)
CORRAL_MAX_REQUEST_BYTES = env.int("CORRAL_MAX_REQUEST_BYTES", default=20 * 1024 * 1024)
# The most one request may ask for, in every door (OpenAI's own caps for tools and inputs).
CORRAL_MAX_MESSAGES = env.int("CORRAL_MAX_MESSAGES", default=1000)
CORRAL_MAX_TOOLS = env.int("CORRAL_MAX_TOOLS", default=128)
CORRAL_MAX_EMBEDDING_INPUTS = env.int("CORRAL_MAX_EMBEDDING_INPUTS", default=2048)
DATA_UPLOAD_MAX_MEMORY_SIZE = CORRAL_MAX_REQUEST_BYTES

# What a caller without a team (or a team created without an explicit list) may use: "all" or "none".
# The maxima a new route gets (each can be changed, or emptied, per route in the admin).
CORRAL_ROUTE_MAX_NUM_PREDICT = env.int("CORRAL_ROUTE_MAX_NUM_PREDICT", default=4096)
CORRAL_ROUTE_MAX_NUM_CTX = env.int("CORRAL_ROUTE_MAX_NUM_CTX", default=32768)
CORRAL_ROUTE_MAX_KEEP_ALIVE = env.str("CORRAL_ROUTE_MAX_KEEP_ALIVE", default="1h")
CORRAL_MODEL_ACCESS_DEFAULT = env.str("CORRAL_MODEL_ACCESS_DEFAULT", default="all")
if CORRAL_MODEL_ACCESS_DEFAULT not in ("all", "none"):
    raise ImproperlyConfigured("CORRAL_MODEL_ACCESS_DEFAULT must be 'all' or 'none'")

# Defaults for a backend's timeouts (seconds); each backend row can override them.
CORRAL_CONNECT_TIMEOUT = env.float("CORRAL_CONNECT_TIMEOUT", default=5.0)
# Time to the first token includes loading the model into GPU memory: give it room.
CORRAL_FIRST_TOKEN_TIMEOUT = env.float("CORRAL_FIRST_TOKEN_TIMEOUT", default=180.0)
CORRAL_IDLE_TIMEOUT = env.float("CORRAL_IDLE_TIMEOUT", default=60.0)
CORRAL_TOTAL_TIMEOUT = env.float("CORRAL_TOTAL_TIMEOUT", default=600.0)

# Seconds each process keeps a resolved route (targets, backends, allowed teams) before asking the
# database again; changes made elsewhere take at most this long to reach every process.
CORRAL_ROUTE_CACHE_SECONDS = env.float("CORRAL_ROUTE_CACHE_SECONDS", default=5.0)
# how long each process keeps a backend's model listing (/api/tags) for the listing doors
CORRAL_TAGS_CACHE_SECONDS = env.float("CORRAL_TAGS_CACHE_SECONDS", default=30.0)

# Health checks and the circuit breaker: a backend that fails its checks (or this many calls within
# the window) is taken out of rotation for the cool-down, and put back when a check succeeds.
CORRAL_HEALTH_CHECK_SECONDS = env.float("CORRAL_HEALTH_CHECK_SECONDS", default=15.0)
CORRAL_HEALTH_CHECK_TIMEOUT = env.float("CORRAL_HEALTH_CHECK_TIMEOUT", default=5.0)
CORRAL_HEALTH_FAILURES = env.int("CORRAL_HEALTH_FAILURES", default=2)
CORRAL_BREAKER_FAILURES = env.int("CORRAL_BREAKER_FAILURES", default=3)
CORRAL_BREAKER_WINDOW = env.float("CORRAL_BREAKER_WINDOW", default=30.0)
CORRAL_BREAKER_COOLDOWN = env.float("CORRAL_BREAKER_COOLDOWN", default=30.0)

# Connections one process may hold open to one backend (each stream holds one).
CORRAL_UPSTREAM_MAX_CONNECTIONS = env.int("CORRAL_UPSTREAM_MAX_CONNECTIONS", default=1024)

# Audit rows still "running" after this long belong to a crashed process.
CORRAL_AUDIT_INTERRUPTED_AFTER = env.int("CORRAL_AUDIT_INTERRUPTED_AFTER", default=3600)

# Believe X-Forwarded-For for the client address (only when a reverse proxy sets it).
CORRAL_TRUST_X_FORWARDED_FOR = env.bool("CORRAL_TRUST_X_FORWARDED_FOR", default=False)
# How many proxies in front of Corral append to X-Forwarded-For; the client is that many entries
# from the right. CORRAL_TRUST_X_FORWARDED_FOR=true (older setting) means one.
CORRAL_TRUSTED_PROXIES = env.int(
    "CORRAL_TRUSTED_PROXIES", default=1 if CORRAL_TRUST_X_FORWARDED_FOR else 0
)

# Limits for a person without their own row in "user limits" (empty: unlimited).
CORRAL_USER_REQUESTS_PER_MINUTE = env.int("CORRAL_USER_REQUESTS_PER_MINUTE", default=None)
CORRAL_USER_TOKENS_PER_DAY = env.int("CORRAL_USER_TOKENS_PER_DAY", default=None)
CORRAL_USER_TOKENS_PER_MONTH = env.int("CORRAL_USER_TOKENS_PER_MONTH", default=None)

# When Redis cannot be reached: refuse calls with a 503 (false, the default) or admit them unchecked.
CORRAL_LIMITS_FAIL_OPEN = env.bool("CORRAL_LIMITS_FAIL_OPEN", default=False)

# Prompt and completion text of audit records older than this many days is blanked (0: kept forever);
# metadata, hashes and the chain stay.
AUDIT_CONTENT_RETENTION_DAYS = env.int("AUDIT_CONTENT_RETENTION_DAYS", default=0)

# A link from an audit record to its trace, e.g. http://jaeger:16686/trace/{trace_id} or
# https://{env}.live.dynatrace.com/ui/apps/dynatrace.distributedtracing/explorer?traceId={trace_id}
CORRAL_TRACE_URL_TEMPLATE = env.str("CORRAL_TRACE_URL_TEMPLATE", default="")

# A token's last-used time and IP are written at most this often, not on every call.
CORRAL_TOKEN_TOUCH_INTERVAL = env.int("CORRAL_TOKEN_TOUCH_INTERVAL", default=60)
# Seconds each process keeps a checked token (with its user, limits and team); a revocation made
# elsewhere reaches every process within this time.
CORRAL_TOKEN_CACHE_SECONDS = env.float("CORRAL_TOKEN_CACHE_SECONDS", default=5.0)
# How often each process asks Redis whether tokens, memberships, teams or routes changed elsewhere
# (then it forgets what it kept): the longest a revocation takes to reach every process.
CORRAL_CACHE_CHECK_SECONDS = env.float("CORRAL_CACHE_CHECK_SECONDS", default=0.25)

# Prompt and completion text in spans: on by default (Dynatrace's Ollama view shows them).
CORRAL_CAPTURE_MESSAGE_CONTENT = env.bool(
    "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", default=True
)

# A worker re-sending an OTLP batch holds it this long; if the worker dies, the sweeper takes over after.
CORRAL_OTLP_LEASE_SECONDS = env.int("CORRAL_OTLP_LEASE_SECONDS", default=120)

# Regular expressions whose matches are replaced by [REDACTED] in everything Corral stores or exports
# (audit content and spans; what goes to Ollama is untouched). A JSON list. Corral's own token format
# is always redacted.
CORRAL_REDACT_PATTERNS = env.json("CORRAL_REDACT_PATTERNS", default=[])

# Asynchronous completions: how often a transient upstream failure is retried (backoff with jitter).
CORRAL_COMPLETION_MAX_RETRIES = env.int("CORRAL_COMPLETION_MAX_RETRIES", default=5)
# Callback URLs: only these hosts if set (an entry ".example.com" admits its subdomains); addresses in
# private, loopback and link-local ranges are refused unless CORRAL_CALLBACK_ALLOW_PRIVATE is on.
CORRAL_CALLBACK_ALLOWED_HOSTS = env.list("CORRAL_CALLBACK_ALLOWED_HOSTS", default=[])
CORRAL_CALLBACK_ALLOW_PRIVATE = env.bool("CORRAL_CALLBACK_ALLOW_PRIVATE", default=False)
