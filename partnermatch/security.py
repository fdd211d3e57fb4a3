"""Security headers, request ids and structured request logs, for every response."""

from __future__ import annotations

import json
import logging
import os
import socket
import time
import uuid
from typing import Any

from flask import Flask, g, has_request_context, request
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.wrappers import Response

# No inline script or style anywhere: the templates use only our own static files.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; form-action 'self'; base-uri 'self'; "
    "frame-ancestors 'none'; object-src 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "strict-origin-when-cross-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}


class RequestIdFilter(logging.Filter):
    """Add the current request's id (or "-") to every log record."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = g.get("request_id", "-") if has_request_context() else "-"
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object a line: what log collectors read without parsing rules."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": self.formatTime(record),
            "level": record.levelname,
            "logger": record.name,
            "request_id": getattr(record, "request_id", "-"),
            "message": record.getMessage(),
        }
        for key in ("method", "path", "status", "duration_ms"):
            if hasattr(record, key):
                entry[key] = getattr(record, key)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def register_security(app: Flask) -> None:
    """Give every response its security headers and request id, and log every request."""
    proxies = app.config["TRUSTED_PROXIES"]
    if proxies:
        # Behind a proxy, the client's own address (rate limits, logs) and scheme (Secure
        # cookies, redirects) come from the proxy's X-Forwarded-* headers.
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=proxies, x_proto=proxies, x_host=proxies
        )
    handler = logging.StreamHandler()
    handler.addFilter(RequestIdFilter())
    if app.config["LOG_FORMAT"] == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)s [%(request_id)s] %(name)s: %(message)s")
        )
    request_log = logging.getLogger("partnermatch.requests")
    request_log.handlers = [handler]
    request_log.setLevel(logging.INFO)
    request_log.propagate = False
    # Flask logs an unhandled exception on app.logger: in the same format, with the request id.
    app.logger.handlers = [handler]

    @app.before_request
    def assign_request_id() -> None:
        incoming = request.headers.get("X-Request-ID", "")
        # Keep a caller's id (a proxy's) when it is sane; otherwise make one.
        g.request_id = (
            incoming if 0 < len(incoming) <= 64 and incoming.isprintable() else uuid.uuid4().hex
        )
        g.request_started = time.perf_counter()

    headers = dict(SECURITY_HEADERS)
    if app.config["PARTNERMATCH_ENV"] == "production":
        # Production is served over TLS (a proxy in front): browsers keep to HTTPS from the
        # first visit on, so a network cannot downgrade a later one to plain HTTP.
        headers["Strict-Transport-Security"] = (
            f"max-age={int(app.config['HSTS_MAX_AGE'])}; includeSubDomains"
        )

    @app.after_request
    def add_headers(response: Response) -> Response:
        for name, value in headers.items():
            response.headers.setdefault(name, value)
        request_id = g.get("request_id")
        if request_id:
            response.headers["X-Request-ID"] = request_id
        if app.config["SERVED_BY_HEADER"] not in (False, "", "0", "false"):
            response.headers["X-Served-By"] = f"{socket.gethostname()}:{os.getpid()}"
        if app.config["LOG_REQUESTS"]:
            duration = (time.perf_counter() - g.get("request_started", time.perf_counter())) * 1000
            request_log.info(
                "%s %s %s %.1f ms",
                request.method,
                request.path,
                response.status_code,
                duration,
                extra={
                    "method": request.method,
                    "path": request.path,
                    "status": response.status_code,
                    "duration_ms": round(duration, 1),
                },
            )
        return response
