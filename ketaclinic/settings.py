"""The one settings module. Every knob is an environment variable, documented in README.md.

Without DATABASE_URL the data (SQLite database, generated secret key) lives under
KETACLINIC_DATA_DIR, a per-user data folder by default and never the source tree.
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

import dj_database_url
import platformdirs

BASE_DIR = Path(__file__).resolve().parent


def env(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool = False) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    return raw.strip().lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ValueError(f"{name} must be a whole number, got {raw!r}") from exc


DATA_DIR = Path(env("KETACLINIC_DATA_DIR") or platformdirs.user_data_dir("ketaclinic"))


def _private_data_dir() -> Path:
    """The data folder, readable by its owner only (0700): it holds patient records and the secret key."""
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    DATA_DIR.chmod(0o700)
    return DATA_DIR


def _private_file(path: Path) -> Path:
    """``path`` created empty if missing (an empty file is an empty SQLite database), owner-only
    (0600) either way. SQLite gives its -wal and -shm files the database file's permissions."""
    os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
    path.chmod(0o600)
    return path


def _secret_key() -> str:
    # A secret in the environment wins; otherwise one is generated once per data folder,
    # so that no secret ever lives in the repository.
    if key := env("KETACLINIC_SECRET_KEY"):
        return key
    path = _private_file(_private_data_dir() / "secret_key")  # 0600 before a byte is written
    if not path.read_text().strip():
        path.write_text(secrets.token_urlsafe(50))
    return path.read_text().strip()


SECRET_KEY = _secret_key()


def _audit_key() -> bytes:
    # The key that seals the audit trail (ketaclinic/audit/seal.py). It must live where the
    # database does not: whoever can write the database must not be able to re-seal it. In
    # production give it in the environment (or a file on another volume); by default it is
    # generated once in the data folder, which on PostgreSQL is not where the database lives.
    if key := env("KETACLINIC_AUDIT_KEY"):
        return key.encode()
    path = Path(env("KETACLINIC_AUDIT_KEY_FILE") or _private_data_dir() / "audit_key")
    _private_file(path)
    if not path.read_text().strip():
        path.write_text(secrets.token_hex(32))
    return path.read_text().strip().encode()


AUDIT_KEY = _audit_key()
# The audit trail's checkpoint outside the database: the newest sealed entry, written after each
# commit (docs/security.md). Point it at another machine's mount or a write-once volume.
AUDIT_CHECKPOINT = Path(env("KETACLINIC_AUDIT_CHECKPOINT") or _private_data_dir() / "audit-checkpoint.json")
DEBUG = env_bool("KETACLINIC_DEBUG")
ALLOWED_HOSTS = [
    h.strip() for h in env("KETACLINIC_ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]").split(",") if h.strip()
]
CSRF_TRUSTED_ORIGINS = [o.strip() for o in env("KETACLINIC_CSRF_TRUSTED_ORIGINS").split(",") if o.strip()]

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "ketaclinic.accounts",
    "ketaclinic.audit",
    "ketaclinic.patients",
    "ketaclinic.protocols",
    "ketaclinic.events",
    "ketaclinic.infusions",
    "ketaclinic.ledger",
    # The task queue for work done with no page open (alert checks); docs/operations.md.
    "django_q",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # After WhiteNoise: static files keep their cache; every page and API answer gets no-store.
    "ketaclinic.accounts.middleware.NoStoreMiddleware",
    # Scripts only from the server's own files (docs/security.md, "Transport, caching ...").
    "ketaclinic.web.ContentSecurityPolicyMiddleware",
    # Every audit entry of the request records its client's address (actions never see the request).
    "ketaclinic.audit.middleware.ClientAddressMiddleware",
    # A NUL character anywhere in a request is refused before any view or form reads it.
    "ketaclinic.web.RefuseNulMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Before the idle timeout, which tells the user why they were signed out.
    "django.contrib.messages.middleware.MessageMiddleware",
    "ketaclinic.accounts.middleware.IdleTimeoutMiddleware",
    "ketaclinic.accounts.middleware.ClinicMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "ketaclinic.urls"
ASGI_APPLICATION = "ketaclinic.asgi.application"

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
                "ketaclinic.accounts.context_processors.clinic",
            ],
        },
    },
]

if database_url := env("DATABASE_URL"):
    # No persistent connections: under ASGI each request's sync code runs in a thread of its own, so a
    # kept connection is never reused and lingers until garbage collection; bench/session_bench.py
    # ran PostgreSQL out of connections ("too many clients") that way. Django: "When using ASGI,
    # persistent connections should be disabled" (docs/ref/databases, Persistent connections).
    DATABASES = {"default": dj_database_url.parse(database_url, conn_max_age=0)}
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": str(_private_file(_private_data_dir() / "ketaclinic.sqlite3")),
            "OPTIONS": {
                # WAL lets the live views read while a nurse writes; IMMEDIATE takes the write
                # lock at BEGIN, so concurrent writers queue instead of failing mid-transaction.
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
            },
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "accounts-login"
LOGIN_REDIRECT_URL = "home"
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
PASSWORD_MIN_LENGTH = env_int("KETACLINIC_PASSWORD_MIN_LENGTH", 12)
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": PASSWORD_MIN_LENGTH},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
    {"NAME": "ketaclinic.accounts.passwords.GuessableValidator"},
]

# Login security: pause sign-in after repeated failures (a username from one address, one
# address whatever the usernames, an account from all addresses); end idle sessions.
LOCKOUT_ATTEMPTS = env_int("KETACLINIC_LOCKOUT_ATTEMPTS", 5)
LOCKOUT_ADDRESS_ATTEMPTS = env_int("KETACLINIC_LOCKOUT_ADDRESS_ATTEMPTS", 20)
LOCKOUT_ACCOUNT_ATTEMPTS = env_int("KETACLINIC_LOCKOUT_ACCOUNT_ATTEMPTS", 50)
LOCKOUT_MINUTES = env_int("KETACLINIC_LOCKOUT_MINUTES", 15)
IDLE_TIMEOUT_MINUTES = env_int("KETACLINIC_IDLE_TIMEOUT_MINUTES", 15)
SESSION_COOKIE_AGE = 12 * 60 * 60
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_SECURE = env_bool("KETACLINIC_SECURE_COOKIES")
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
X_FRAME_OPTIONS = "DENY"
# Secure cookies mean the clinic serves over HTTPS: browsers are told to keep to it for a year.
SECURE_HSTS_SECONDS = 365 * 24 * 3600 if SESSION_COOKIE_SECURE else 0
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CONTENT_TYPE_NOSNIFF = True

# Eligibility screening stays valid this long unless the intake changes first.
SCREENING_VALID_MONTHS = env_int("KETACLINIC_SCREENING_VALID_MONTHS", 12)


def env_range(name: str) -> tuple[float, float] | None:
    raw = os.environ.get(name)
    if not raw:
        return None
    try:
        low, high = (float(part) for part in raw.split(","))
    except ValueError as exc:
        raise ValueError(f"{name} must be two numbers 'low,high', got {raw!r}") from exc
    return low, high


# Plausibility ranges that catch typing errors at registration (not clinical limits).
if (_range := env_range("KETACLINIC_PATIENT_WEIGHT_RANGE_KG")) is not None:
    PATIENT_WEIGHT_RANGE_KG = _range
if (_range := env_range("KETACLINIC_PATIENT_HEIGHT_RANGE_CM")) is not None:
    PATIENT_HEIGHT_RANGE_CM = _range

# Eligibility rule thresholds: each has a cited default in patients/eligibility.py (Thresholds);
# KETACLINIC_ELIGIBILITY_<FIELD>=value overrides it, e.g. KETACLINIC_ELIGIBILITY_BP_REVIEW_SYSTOLIC_MMHG=150.
for _name, _raw in os.environ.items():
    if _name.startswith("KETACLINIC_ELIGIBILITY_"):
        try:
            globals()[_name.removeprefix("KETACLINIC_")] = float(_raw)
        except ValueError as exc:
            raise ValueError(f"{_name} must be a number, got {_raw!r}") from exc


# Drug-library plausibility ceilings (protocols/library_rules.py; docs/dosing.md), overridden per
# route and kind as JSON, e.g. KETACLINIC_LIBRARY_CEILINGS='{"nasal": {"dose_mg": 200}}'.
def env_ceilings(name: str) -> dict[str, dict[str, str]]:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return {}
    from ketaclinic.protocols.library_rules import ceilings

    try:
        value = json.loads(raw)
    except ValueError as exc:
        raise ValueError(f'{name} must be JSON like {{"nasal": {{"dose_mg": 200}}}}: {exc}') from exc
    if not isinstance(value, dict) or not all(isinstance(v, dict) for v in value.values()):
        raise ValueError(f"{name} must map each route to {{kind: ceiling}}, got {raw!r}")
    ceilings(value)  # ValueError names the route, kind or value that is wrong
    return {route: {kind: str(v) for kind, v in kinds.items()} for route, kinds in value.items()}


LIBRARY_CEILINGS = env_ceilings("KETACLINIC_LIBRARY_CEILINGS")


def env_float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return float(raw)
    except ValueError as exc:
        raise ValueError(f"{name} must be a number, got {raw!r}") from exc


def env_positive(name: str, default: int) -> int:
    value = env_int(name, default)
    if value < 1:
        raise ValueError(f"{name} must be at least 1, got {value}")
    return value


# Infusion background checks (docs/infusion.md "Background checks", docs/operations.md).
# An alert left unacknowledged this long is escalated to the prescriber: a local default, unconfirmed.
INFUSIONS_ESCALATE_AFTER_MINUTES = env_positive("KETACLINIC_ESCALATE_AFTER_MINUTES", 5)
# How often the worker raises overdue-observation alerts and escalates (a django-q2 schedule).
INFUSIONS_CHECK_EVERY_MINUTES = env_positive("KETACLINIC_CHECK_EVERY_MINUTES", 1)

# The controlled-substance ledger (docs/ledger.md): how far a session's drawn drug may differ from
# administered + wasted + returned before a discrepancy opens, in mL at the vial's concentration. A
# local default (an assumption: no regulation states one); 0 to 5 mL.
KETACLINIC_LEDGER_TOLERANCE_ML = env_float("KETACLINIC_LEDGER_TOLERANCE_ML", 0.1)
if not 0 <= KETACLINIC_LEDGER_TOLERANCE_ML <= 5:
    raise ValueError(
        f"KETACLINIC_LEDGER_TOLERANCE_ML must be between 0 and 5 mL, got {KETACLINIC_LEDGER_TOLERANCE_ML}"
    )

# The worker (`ketaclinic worker`, started by `ketaclinic serve`): django-q2. Its queue lives in the
# database by default (the ORM broker: nothing else to run), or in Redis when a URL is given.
QUEUE_TASK_TIMEOUT_SECONDS = env_positive("KETACLINIC_QUEUE_TASK_TIMEOUT_SECONDS", 120)
# How often `ketaclinic worker` looks for due schedules; django-q2's own scheduler looks only every
# 30 s or so, which would let a 1-minute check slip to 90 s.
WORKER_SCHEDULER_SECONDS = env_float("KETACLINIC_WORKER_SCHEDULER_SECONDS", 5.0)
Q_CLUSTER: dict[str, object] = {
    "name": "ketaclinic",
    "label": "Worker",
    "workers": env_positive("KETACLINIC_WORKER_PROCESSES", 2),
    "timeout": QUEUE_TASK_TIMEOUT_SECONDS,
    # A task not acknowledged by then (its worker died) is handed out again: longer than the timeout,
    # so a slow task is never run twice at once; three attempts at most.
    "retry": QUEUE_TASK_TIMEOUT_SECONDS + 60,
    "max_attempts": 3,
    # A failed run is recorded as failed and not retried: the next scheduled run comes anyway.
    "ack_failures": True,
    # After downtime, run a missed periodic check once, not once per missed minute.
    "catch_up": False,
    # Seconds between looks at an empty database queue (the ORM broker only; Redis blocks instead).
    "poll": env_float("KETACLINIC_QUEUE_POLL_SECONDS", 1.0),
    # Successful task results kept (about 4 hours of 1-minute checks); failures are always kept.
    "save_limit": 250,
}
if _redis_url := env("KETACLINIC_QUEUE_REDIS_URL"):
    Q_CLUSTER["redis"] = _redis_url
else:
    Q_CLUSTER["orm"] = "default"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
# Only `collectstatic` needs a root; the app serves straight from the package (below).
STATIC_ROOT = env("KETACLINIC_STATIC_ROOT") or None
STATICFILES_DIRS = [BASE_DIR / "static"]
# Serve straight from the package: no collectstatic step for a one-machine clinic.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG

EMAIL_BACKEND = env("KETACLINIC_EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env("KETACLINIC_LOG_LEVEL", "INFO")},
    # django-q2 logs every task at INFO (every minute); its warnings and failures still show.
    "loggers": {"django-q": {"level": env("KETACLINIC_WORKER_LOG_LEVEL", "WARNING")}},
}
