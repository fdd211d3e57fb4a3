"""Every API error is JSON: {"error": {"code", "message", "field"}}."""

from __future__ import annotations

from flask import jsonify
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response

CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    422: "invalid_field",
    429: "rate_limited",
    500: "server_error",
    503: "unavailable",
}


class ApiError(Exception):
    """An error to answer with, naming the field at fault when there is one."""

    def __init__(self, status: int, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.field = field


def error_response(status: int, message: str, field: str | None = None) -> tuple[Response, int]:
    """Return the JSON error body and status."""
    body = {"error": {"code": CODES.get(status, "error"), "message": message, "field": field}}
    return jsonify(body), status


def http_error_response(error: HTTPException) -> tuple[Response, int]:
    """Turn a werkzeug HTTP error (404, 405, 413, ...) into the API's JSON shape."""
    status = error.code or 500
    messages = {
        404: "There is nothing at this address.",
        405: "This endpoint does not accept this method.",
        413: "The request body is larger than the API accepts.",
        429: "Too many requests with this token: slow down.",
    }
    return error_response(status, messages.get(status, error.description or "Error."))
