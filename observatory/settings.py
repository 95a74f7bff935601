"""Django settings. Every value comes from the environment (docs/configuration.md)."""
from __future__ import annotations

import secrets
from datetime import timedelta
from pathlib import Path

import dj_database_url
from csp.constants import NONE, SELF, UNSAFE_INLINE
from django.core.exceptions import ImproperlyConfigured

from observatory.env import data_dir, env_bool, env_float, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = data_dir()


def _secret_key() -> str:
    """SECRET_KEY from the environment, else one generated once per data folder."""
    configured = env_str("SECRET_KEY")
    if configured:
        return configured
    path = DATA_DIR / "secret_key"
    if not path.exists():
        DATA_DIR.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


def _rate_or_off(name: str, default: str) -> str | None:
    """A DRF rate ("20/min"), or None for "off"/"0"; a malformed rate stops the start."""
    raw = (env_str(name, default) or "").strip()
    if raw.lower() in {"", "off", "0"}:
        return None
    count, _, period = raw.partition("/")
    if not count.isdigit() or period[:1] not in {"s", "m", "h", "d"}:
        raise ImproperlyConfigured(f"{name}={raw!r} is not a rate: use <n>/<second|minute|hour|day>, or off")
    return raw


SECRET_KEY = _secret_key()
DEBUG = env_bool("DEBUG", False)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])
SITE_URL = (env_str("SITE_URL") or "http://127.0.0.1:8000").rstrip("/")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "axes",  # sign-in throttling and lockout (observatory/security.py)
    "csp",  # Content-Security-Policy header
    "tenancy",
    "pricing",
    "telemetry",
    "rollups",
    "quality",
    "ingest",
    "dashboards",
    "audit",
    "privacy",
    "alerts",
    "prompts",
    "review",
    "drift",
]

MIDDLEWARE = [
    "observatory.middleware.ServerTimingMiddleware",
    "observatory.middleware.RejectNulMiddleware",
    "observatory.middleware.DatabaseUnavailableMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    # Static files (plotly.js, htmx, the dashboards' CSS/JS) from the app itself: no CDN, no nginx.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "observatory.security.PrivateCacheMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "dashboards.middleware.TimezoneMiddleware",
    # Last, as axes asks: turns a sign-in refused during a lockout into the lockout page (429).
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "observatory.urls"
WSGI_APPLICATION = "observatory.wsgi.application"

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
                "dashboards.context_processors.nav",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------
_database_url = env_str("DATABASE_URL")
if not _database_url:
    raise ImproperlyConfigured(
        "DATABASE_URL is not set. Start Observatory with `python3 dev.py run` (it starts an "
        "embedded PostgreSQL and sets it), or set DATABASE_URL=postgresql://user:pass@host/db."
    )
DATABASES = {
    "default": dj_database_url.parse(
        _database_url, conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60, minimum=0), conn_health_checks=True
    )
}
# JIT compilation costs 100-500 ms on our rollup and metrics statements (their estimated cost is
# high, their real work small), so it is off for the application's sessions.
DATABASES["default"].setdefault("OPTIONS", {})
if env_bool("DATABASE_DISABLE_JIT", True):
    DATABASES["default"]["OPTIONS"]["options"] = "-c jit=off"
# pgserver's URIs name the socket folder as ?host=...; Django wants it in HOST.
if DATABASES["default"].get("OPTIONS", {}).get("host"):
    DATABASES["default"]["HOST"] = DATABASES["default"]["OPTIONS"].pop("host")
if not DATABASES["default"]["ENGINE"].endswith("postgresql"):
    raise ImproperlyConfigured("Observatory needs PostgreSQL: DATABASE_URL must start with postgresql://")
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis, cache and Celery ----------------------------------------------------


def _broker_url(redis_url: str | None) -> str | None:
    # kombu names Unix-socket Redis "redis+socket://"; redis-py and Django say "unix://".
    if redis_url and redis_url.startswith("unix://"):
        return "redis+socket://" + redis_url[len("unix://"):]
    return redis_url


REDIS_URL = env_str("REDIS_URL")
# The web process talks to Redis after a commit (debounce, publish) and from /healthz: a stopped
# Redis (SIGSTOP, a full disk, a partition) must cost a request this long, not seconds. Workers use
# the same value; their blocking BRPOP has its own timeout in kombu.
REDIS_TIMEOUT_SECONDS = env_int("OBSERVATORY_REDIS_TIMEOUT_MS", 250, minimum=10) / 1000
# After an enqueue failed, requests skip enqueueing this long (the sweeper recovers the work).
ENQUEUE_COOLDOWN_SECONDS = env_float("OBSERVATORY_ENQUEUE_COOLDOWN_SECONDS", 5.0)
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL") or _broker_url(REDIS_URL)
if not CELERY_BROKER_URL:
    raise ImproperlyConfigured(
        "Neither CELERY_BROKER_URL nor REDIS_URL is set. Start with `python3 dev.py run` "
        "(embedded Redis) or point REDIS_URL at a Redis server."
    )
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL,
                          "OPTIONS": {"socket_connect_timeout": REDIS_TIMEOUT_SECONDS,
                                      "socket_timeout": REDIS_TIMEOUT_SECONDS}}}
else:
    # Without Redis (for example a RabbitMQ broker), rate limits and debouncing are per process.
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Ingest must answer even when the broker is down: publish once, fail fast, let the sweeper recover.
CELERY_BROKER_CONNECTION_TIMEOUT = REDIS_TIMEOUT_SECONDS
CELERY_TASK_PUBLISH_RETRY = False
# max_retries=0: kombu's ensure_connection otherwise retries a refused connection before the publish.
CELERY_BROKER_TRANSPORT_OPTIONS = {"socket_connect_timeout": REDIS_TIMEOUT_SECONDS,
                                   "socket_timeout": REDIS_TIMEOUT_SECONDS, "max_retries": 0}
CELERY_BEAT_SCHEDULE_FILENAME = str(DATA_DIR / "celerybeat-schedule")
CELERY_TIMEZONE = "UTC"
OBSERVATORY_SWEEP_SECONDS = env_int("OBSERVATORY_SWEEP_SECONDS", 30, minimum=1)
# How often rollup parts written by the folds are merged (rollups/compact.py).
OBSERVATORY_COMPACT_SECONDS = env_int("OBSERVATORY_COMPACT_SECONDS", 15, minimum=1)
# How often payloads are added to the full-text search index (telemetry.tasks.index_payloads).
OBSERVATORY_SEARCH_INDEX_SECONDS = env_int("OBSERVATORY_SEARCH_INDEX_SECONDS", 10, minimum=1)
# How often drift runs for each project (docs/drift.md); beat checks every 5 minutes at most and
# starts one run per project per interval.
OBSERVATORY_DRIFT_INTERVAL_MINUTES = env_int("OBSERVATORY_DRIFT_INTERVAL_MINUTES", 60, minimum=5)
# Topic drift (a TF-IDF classifier over at most 5,000 sampled inputs per side, scikit-learn) in each run.
OBSERVATORY_DRIFT_TOPICS = env_bool("OBSERVATORY_DRIFT_TOPICS", True)
CELERY_BEAT_SCHEDULE = {
    "sweep-unprocessed": {"task": "telemetry.tasks.sweep", "schedule": float(OBSERVATORY_SWEEP_SECONDS)},
    "purge-expired": {"task": "rollups.tasks.purge_expired", "schedule": 3600.0},
    "compact-rollups": {"task": "rollups.tasks.compact", "schedule": float(OBSERVATORY_COMPACT_SECONDS)},
    "sweep-evaluations": {"task": "quality.tasks.sweep", "schedule": float(OBSERVATORY_SWEEP_SECONDS)},
    # Users & sessions tops take seconds to group at millions of calls: kept warm for the pages.
    "warm-top-entities": {"task": "dashboards.tasks.warm_top_entities", "schedule": 240.0},
    "index-payloads": {"task": "telemetry.tasks.index_payloads",
                       "schedule": float(OBSERVATORY_SEARCH_INDEX_SECONDS)},
    # Drift (docs/drift.md): one run per project per interval; also re-sends runs whose message was lost.
    "drift-schedule": {"task": "drift.tasks.schedule",
                       "schedule": float(min(300, OBSERVATORY_DRIFT_INTERVAL_MINUTES * 60))},
    # Alerts (docs/alerts.md): rules are evaluated each minute; the delivery sweep sends outbox rows
    # whose enqueue was lost and retries the ones that are due.
    "alerts-evaluate": {"task": "alerts.tasks.evaluate", "schedule": 60.0},
    # Prompt guards (docs/prompts.md): a tripped guard rolls its label back within one run.
    "prompts-guards": {"task": "prompts.tasks.evaluate_guards",
                       "schedule": float(env_int("OBSERVATORY_PROMPT_GUARD_SECONDS", 60, minimum=5))},
    "alerts-deliver": {"task": "alerts.tasks.deliver",
                       "schedule": float(env_int("OBSERVATORY_ALERTS_DELIVER_SECONDS", 15, minimum=1))},
    # Review backfills whose task message was lost (docs/review.md).
    "review-sweep": {"task": "review.tasks.sweep", "schedule": 300.0},
}

# --- Auth, i18n, static ---------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/accounts/login/"
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
STATIC_ROOT = DATA_DIR / "static"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # whitenoise warns at start when it is missing
STATICFILES_FINDERS = [
    "django.contrib.staticfiles.finders.FileSystemFinder",
    "django.contrib.staticfiles.finders.AppDirectoriesFinder",
    "observatory.staticfinders.PlotlyFinder",  # plotly.min.js from the installed plotly package
    "observatory.staticstorage.HashedNameFinder",  # a hashed name, for servers reading the finders
]
# Without collectstatic (tests, `manage.py runserver`), serve straight from the finders.
WHITENOISE_USE_FINDERS = True
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    # Hashed names cached as immutable, brotli and gzip made at collectstatic (observatory/staticstorage.py).
    "staticfiles": {"BACKEND": "observatory.staticstorage.StaticStorage"},
}
# The brotli and gzip copies (plotly.min.js at brotli's best level is ~30 s of CPU the first time);
# `dev.py test` collects without them: its live server never serves them.
STATIC_COMPRESS = env_bool("OBSERVATORY_STATIC_COMPRESS", True)
SESSION_COOKIE_HTTPONLY = True
# Password-reset (and, later, alert) mail. Without OBSERVATORY_EMAIL_HOST mail is printed to the
# console, so a local install shows the reset link in its terminal.
EMAIL_HOST = env_str("OBSERVATORY_EMAIL_HOST", "") or ""
EMAIL_BACKEND = ("django.core.mail.backends.smtp.EmailBackend" if EMAIL_HOST
                 else "django.core.mail.backends.console.EmailBackend")
EMAIL_PORT = env_int("OBSERVATORY_EMAIL_PORT", 587, minimum=1)
EMAIL_HOST_USER = env_str("OBSERVATORY_EMAIL_USER", "") or ""
EMAIL_HOST_PASSWORD = env_str("OBSERVATORY_EMAIL_PASSWORD", "") or ""
EMAIL_USE_TLS = env_bool("OBSERVATORY_EMAIL_TLS", True)
EMAIL_TIMEOUT = 10
DEFAULT_FROM_EMAIL = env_str("OBSERVATORY_EMAIL_FROM", "observatory@localhost") or "observatory@localhost"

# --- Alerts (docs/alerts.md) -------------------------------------------------------
# Fernet key(s) for channel secrets, comma-separated (the first encrypts); empty: derived from SECRET_KEY.
ALERTS_ENCRYPTION_KEY = env_str("OBSERVATORY_ALERTS_ENCRYPTION_KEY", "") or ""
# Outbound alert URLs resolving to private, loopback or link-local addresses are refused unless set.
ALERTS_ALLOW_PRIVATE_URLS = env_bool("OBSERVATORY_ALERTS_ALLOW_PRIVATE_URLS", False)
PAGERDUTY_EVENTS_URL = env_str("OBSERVATORY_PAGERDUTY_EVENTS_URL", "") or "https://events.pagerduty.com/v2/enqueue"
ALERTS_HTTP_TIMEOUT_SECONDS = env_float("OBSERVATORY_ALERTS_HTTP_TIMEOUT_SECONDS", 10.0)
ALERTS_RETRY_BASE_SECONDS = env_float("OBSERVATORY_ALERTS_RETRY_BASE_SECONDS", 1.0)
ALERTS_RETRY_MAX_WAIT_SECONDS = env_float("OBSERVATORY_ALERTS_RETRY_MAX_WAIT_SECONDS", 10.0)
ALERTS_CLAIM_STALE_SECONDS = env_int("OBSERVATORY_ALERTS_CLAIM_STALE_SECONDS", 300, minimum=30)
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"

# --- Security: sign-in lockout, CSP, TLS (docs/operations.md, "Security") ------------------------
# django-axes (well kept, covers every authenticate(): our sign-in page, the admin's and the browsable
# API's) refuses a sign-in once an address, or an account, has this many failures within the cool-off.
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
# Its database handler: PostgreSQL is the store we already keep and back up, and attempts survive a
# restart. The cache handler would put them in Redis, which is allowed to go away (we fail open there),
# and a lockout that vanishes with a Redis restart is no lockout.
AXES_HANDLER = "axes.handlers.database.AxesDatabaseHandler"
AXES_FAILURE_LIMIT = env_int("OBSERVATORY_LOGIN_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("OBSERVATORY_LOGIN_COOLOFF_MINUTES", 15, minimum=1))
# Either list item locks: failures from one address (whatever the usernames, so guessing across
# accounts is capped) or failures for one account (whatever the addresses, so a botnet is capped too).
AXES_LOCKOUT_PARAMETERS = ["ip_address", "username"]
# A success does not wipe the failures: it would let someone who owns one account clear their
# address's count between guesses at another. Failures older than the cool-off stop counting anyway.
AXES_RESET_ON_SUCCESS = False
AXES_LOCKOUT_CALLABLE = "observatory.security.lockout_response"  # the sign-in page with the reason, 429
AXES_CLIENT_IP_CALLABLE = "observatory.security.client_ip"
# Proxies in front of Observatory that append to X-Forwarded-For (0: use the connection's address only).
TRUSTED_PROXY_COUNT = env_int("OBSERVATORY_TRUSTED_PROXY_COUNT", 0, minimum=0)
AXES_VERBOSE = False
# Successful sign-ins are not logged by axes (a table of addresses with no retention); only failures,
# which the lockout needs and the cool-off expires.
AXES_DISABLE_ACCESS_LOG = True
# Unknown API keys per client address ("<n>/<period>"; "off" disables), and password-reset mails per address.
OBSERVATORY_UNKNOWN_KEY_RATE = _rate_or_off("OBSERVATORY_UNKNOWN_KEY_RATE", "20/min")
OBSERVATORY_PASSWORD_RESET_RATE = _rate_or_off("OBSERVATORY_PASSWORD_RESET_RATE", "5/hour")

# Content-Security-Policy (django-csp 4): scripts only from our own static files, no inline script, no
# eval (app.js reads figures from <script type="application/json">, which is data, not code). Styles
# allow 'unsafe-inline': plotly.js and htmx inject <style> rules at run time and the trace waterfall
# positions its bars with computed style="" values; injected CSS cannot run code, and every template
# value is escaped. The API docs pages (Swagger UI, ReDoc) run under the same policy.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF, UNSAFE_INLINE],
        "img-src": [SELF, "data:", "blob:"],  # favicons as data: URLs; Plotly's "download as PNG"
        "font-src": [SELF],
        "connect-src": [SELF],
        "worker-src": [SELF, "blob:"],  # ReDoc runs its search index in a blob: worker
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    },
}

# TLS deployments (OBSERVATORY_TLS=true): cookies only over HTTPS, and HSTS. Off by default because the
# default install is plain http on 127.0.0.1, where Secure cookies would make signing in impossible.
OBSERVATORY_TLS = env_bool("OBSERVATORY_TLS", False)
SESSION_COOKIE_SECURE = OBSERVATORY_TLS
CSRF_COOKIE_SECURE = OBSERVATORY_TLS
SECURE_HSTS_SECONDS = env_int("OBSERVATORY_HSTS_SECONDS", 31_536_000, minimum=0) if OBSERVATORY_TLS else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = OBSERVATORY_TLS and env_bool("OBSERVATORY_HSTS_INCLUDE_SUBDOMAINS", False)
# Behind a proxy that terminates TLS, Django only knows the request was https from a header the proxy
# sets. Opt-in: trusting it without such a proxy lets any client claim https.
if env_bool("OBSERVATORY_PROXY_SSL_HEADER", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# --- API ------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "tenancy.auth.ApiKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    # Every API takes JSON (OTLP reads its protobuf body itself): the schema must not offer forms.
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_SCHEMA_CLASS": "observatory.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "observatory.api.exception_handler",
    "UNAUTHENTICATED_USER": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Observatory API",
    "DESCRIPTION": "Ingest LLM telemetry and read it back. See docs/api.md for the full guide.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}
# Requests per key for the ingest endpoint, in DRF's "<n>/<period>" form.
OBSERVATORY_INGEST_RATE = env_str("OBSERVATORY_INGEST_RATE", "3000/min")
OBSERVATORY_READ_RATE = env_str("OBSERVATORY_READ_RATE", "600/min")

# --- Ingest limits (read by ingest/limits.py) -----------------------------------
INGEST_MAX_EVENTS = env_int("OBSERVATORY_INGEST_MAX_EVENTS", 1000, minimum=1)
INGEST_MAX_BODY_BYTES = env_int("OBSERVATORY_INGEST_MAX_BODY_BYTES", 10 * 1024 * 1024, minimum=1024)
INGEST_MAX_PAYLOAD_BYTES = env_int("OBSERVATORY_INGEST_MAX_PAYLOAD_BYTES", 1024 * 1024, minimum=1024)
INGEST_MAX_METADATA_BYTES = env_int("OBSERVATORY_INGEST_MAX_METADATA_BYTES", 16 * 1024, minimum=256)
INGEST_MAX_ERROR_MESSAGE = env_int("OBSERVATORY_INGEST_MAX_ERROR_MESSAGE", 8192, minimum=64)
INGEST_MAX_DEPTH = env_int("OBSERVATORY_INGEST_MAX_DEPTH", 64, minimum=2)
# Accepted event times: from this many days ago (default: the day-rollup retention) to this many hours ahead.
INGEST_MAX_AGE_DAYS = env_int("OBSERVATORY_INGEST_MAX_AGE_DAYS", 1095, minimum=1)
INGEST_MAX_FUTURE_HOURS = env_int("OBSERVATORY_INGEST_MAX_FUTURE_HOURS", 24, minimum=0)
# Django's own cap on request.body must not cut in before our 413 does.
DATA_UPLOAD_MAX_MEMORY_SIZE = None

# Rollups: minute buckets are folded and kept only for this recent horizon (installation-wide).
ROLLUP_MINUTE_HOURS = env_int("OBSERVATORY_ROLLUP_MINUTE_HOURS", 48, minimum=1)
# Calls claimed per worker transaction (processing, rollups).
PROCESS_BATCH_SIZE = env_int("OBSERVATORY_PROCESS_BATCH_SIZE", 5000, minimum=10)
# Milliseconds any statement of a Celery worker may run before PostgreSQL cancels it (observatory/celery.py;
# web requests keep the server's default). 0: no limit.
WORKER_STATEMENT_TIMEOUT_MS = env_int("OBSERVATORY_WORKER_STATEMENT_TIMEOUT_MS", 120_000, minimum=0)
# Threads an evaluation task runs inside one worker process: while one waits for PostgreSQL
# (claim, load, COPY, commit), the other evaluates (quality.services.project_evaluate_threads).
EVALUATION_THREADS = min(env_int("OBSERVATORY_EVALUATION_THREADS", 2, minimum=1), 8)

# Retention defaults (a project may override each in the admin); purged hourly in bounded batches.
RETENTION_DEFAULTS = {
    "payload_days": env_int("OBSERVATORY_RETENTION_PAYLOAD_DAYS", 30, minimum=1),
    "call_days": env_int("OBSERVATORY_RETENTION_CALL_DAYS", 90, minimum=1),
    "hour_rollup_days": env_int("OBSERVATORY_RETENTION_HOUR_ROLLUP_DAYS", 90, minimum=1),
    "day_rollup_days": env_int("OBSERVATORY_RETENTION_DAY_ROLLUP_DAYS", 1095, minimum=1),
}

PRICE_CACHE_SECONDS = env_int("OBSERVATORY_PRICE_CACHE_SECONDS", 60, minimum=0)
# Seconds clients may cache a prompt fetched from the native prompts API (Cache-Control max-age;
# docs/prompts.md). A moved label reaches clients within this time (ETag revalidation is cheap).
PROMPT_CACHE_SECONDS = env_int("OBSERVATORY_PROMPT_CACHE_SECONDS", 60, minimum=0)
# When set, /metrics answers only `Authorization: Bearer <token>` (observatory/health.py); unset, it stays open.
METRICS_TOKEN = env_str("OBSERVATORY_METRICS_TOKEN", "") or ""

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
