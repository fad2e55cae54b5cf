"""Corral settings. Everything comes from the environment, read once here."""

import hmac
import logging
from datetime import timedelta
from pathlib import Path

import environ
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured
from kombu import Queue

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()

# A local .env (written by bin/run on first start) fills in what the real environment leaves unset.
_env_file = env.str("CORRAL_ENV_FILE", default=str(BASE_DIR / ".env"))
if _env_file and Path(_env_file).is_file():
    environ.Env.read_env(_env_file)

DEBUG = env.bool("DEBUG", default=False)

# A production secret never has a default; only a DEBUG instance may run without one.
if DEBUG:
    SECRET_KEY = env.str("SECRET_KEY", default="corral-insecure-development-key")
else:
    try:
        SECRET_KEY = env.str("SECRET_KEY")
    except ImproperlyConfigured as exc:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off") from exc

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
CSRF_FAILURE_VIEW = "config.views.csrf_failure"

INSTALLED_APPS = [
    "config.apps.CorralAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "csp",
    "axes",
    "gateway",
    "accounts",
    "audit",
]

MIDDLEWARE = [
    "common.log_context.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    # last, as django-axes requires: it turns a locked-out sign-in into its 429 page
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'var' / 'corral.sqlite3'}"),
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # Connections come from a pool and go back to it as soon as a request (or a stream's
    # bookkeeping step) is done: a long stream must not pin a PostgreSQL connection.
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": env.int("DATABASE_POOL_MIN", default=2),
        "max_size": env.int("DATABASE_POOL_MAX", default=20),
        "timeout": env.float("DATABASE_POOL_TIMEOUT", default=5.0),
    }
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    # A connection is checked as it leaves the pool: after PostgreSQL restarts (or the network
    # drops) the pool's idle connections are dead, and no call should fail on one of them.
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = env.bool("DATABASE_POOL_CHECK", default=True)
elif DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    (BASE_DIR / "var").mkdir(exist_ok=True)
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"timeout": 20, "transaction_mode": "IMMEDIATE", "init_command": "PRAGMA journal_mode=WAL;"}
    )
    DATABASES["default"]["TEST"] = {"NAME": str(BASE_DIR / "var" / "test-corral.sqlite3")}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env.str("REDIS_URL", default="redis://localhost:6379/0")

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# Password guessing at the sign-in pages (the chat's and the admin's) is throttled by django-axes:
# after CORRAL_LOGIN_FAILURE_LIMIT wrong passwords for one username from one address, that pair is
# refused for CORRAL_LOGIN_LOCKOUT_MINUTES (a 429 page). Locking the pair, not the username alone,
# keeps a guesser elsewhere from locking a person out.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env.int("CORRAL_LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.float("CORRAL_LOGIN_LOCKOUT_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "gateway.web.views.locked_out"
AXES_CLIENT_IP_CALLABLE = "common.request_info.client_ip"
AXES_VERBOSE = False

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "web-chat"
LOGOUT_REDIRECT_URL = "login"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["accounts.authentication.BearerTokenAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PARSER_CLASSES": ["gateway.api.parsers.LimitedJSONParser"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "EXCEPTION_HANDLER": "gateway.api.exception_handler.handle_exception",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.CursorPagination",
    "PAGE_SIZE": 50,
    "UNAUTHENTICATED_USER": None,
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Corral API",
    "DESCRIPTION": "Team LLM gateway in front of Ollama.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI is served by Corral itself, never from a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "PREPROCESSING_HOOKS": ["gateway.api.native.schema.only_the_native_api"],
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "gateway.api.native.schema.document_errors",
    ],
    "ENUM_NAME_OVERRIDES": {
        "CallStatusEnum": "audit.models.AuditRecord.Status",
        "CompletionStatusEnum": "gateway.models.Completion.Status",
    },
}

# --- Corral -------------------------------------------------------------------------------------

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

# --- Celery -------------------------------------------------------------------------------------

CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL)
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# task modules that are not an app's tasks.py, which autodiscovery finds by itself
CELERY_IMPORTS = ("gateway.completions.tasks",)
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
# A message a dead worker held goes back to the queue after this long (acks_late + Redis broker).
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=3600)
}
CELERY_TASK_DEFAULT_QUEUE = "default"
# A worker takes every queue unless told otherwise (`celery worker -Q completions` for a dedicated one).
CELERY_TASK_QUEUES = [Queue(name) for name in ("default", "completions", "callbacks", "telemetry")]
CELERY_TASK_ROUTES = {
    "gateway.run_completion": {"queue": "completions"},
    "gateway.deliver_callback": {"queue": "callbacks"},
    "gateway.otlp_*": {"queue": "telemetry"},
}
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=int(CORRAL_TOTAL_TIMEOUT) + 120)
CELERY_TASK_SOFT_TIME_LIMIT = env.int(
    "CELERY_TASK_SOFT_TIME_LIMIT", default=int(CORRAL_TOTAL_TIMEOUT) + 60
)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULE = {
    "otlp-sweep": {
        "task": "gateway.otlp_sweep",
        "schedule": env.float("CORRAL_OTLP_SWEEP_SECONDS", default=10.0),
    },
    "backends-health-check": {
        "task": "gateway.backends_health_check",
        "schedule": CORRAL_HEALTH_CHECK_SECONDS,
    },
    "audit-replay-finalizations": {
        "task": "audit.replay_finalizations",
        "schedule": env.float("CORRAL_AUDIT_REPLAY_SECONDS", default=10.0),
    },
    "audit-seal-chain": {
        "task": "audit.seal_chain",
        "schedule": env.float("AUDIT_SEAL_SECONDS", default=10.0),
    },
    "audit-purge-content": {
        "task": "audit.purge_content",
        "schedule": 3600.0,
    },
    "audit-mark-interrupted": {
        "task": "audit.mark_interrupted",
        "schedule": env.float("CORRAL_AUDIT_SWEEP_SECONDS", default=300.0),
    },
}

# --- Logging ------------------------------------------------------------------------------------

# JSON lines (one object per line, with request_id, trace_id and span_id) unless LOG_FORMAT=plain;
# plain text is the default only for a DEBUG instance on a developer's terminal.
LOG_FORMAT = env.str("LOG_FORMAT", default="plain" if DEBUG else "json")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"context": {"()": "common.log_context.ContextFilter"}},
    "formatters": {
        "plain": {
            "format": "%(asctime)s %(levelname)s %(name)s %(message)s "
            "[request_id=%(request_id)s trace_id=%(trace_id)s]"
        },
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(levelname)s %(name)s %(message)s %(request_id)s %(trace_id)s %(span_id)s "
            "%(process)d",
            "rename_fields": {"levelname": "level", "name": "logger"},
            "timestamp": "time",  # ISO 8601, UTC
        },
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": LOG_FORMAT,
            "filters": ["context"],
        },
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # one INFO line per upstream request is noise at gateway volumes
        "httpx": {"level": "WARNING"},
        "httpcore": {"level": "WARNING"},
        # the access line of every request (CORRAL_ACCESS_LOG_LEVEL=WARNING silences it)
        "corral.access": {"level": env.str("CORRAL_ACCESS_LOG_LEVEL", default="INFO")},
    },
}
# Python's warnings become log lines (JSON too) instead of bare text on stderr.
logging.captureWarnings(True)
# Celery keeps Django's logging (JSON, with the trace id of the task's span) instead of its own.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False

# --- Security headers and HTTPS ---------------------------------------------------------------------

SECURE_CONTENT_TYPE_NOSNIFF = True
# Everything Corral serves comes from Corral: no inline script or style, no other origin, no
# framing. Model output shown in the chat is text, and this is the second line behind that.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [NONE],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    },
}
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
if not DEBUG:
    # TLS ends at the proxy in front, which says so in X-Forwarded-Proto.
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=True)
    CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=True)
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=False)
    # probes inside the container speak plain HTTP
    SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
    # HSTS is sticky in browsers: switch it on once HTTPS works (e.g. 31536000).
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=False)
    SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
