"""Errors of the service, each with its HTTP status; turned into RFC 9457 problem documents."""

from __future__ import annotations

import re

# Unpaired surrogates, and C0/C1 controls but tab, line feed, carriage return: the text rule
# (service/inbound.py) refuses them, and an error message must never carry them back.
BAD_CHAR = re.compile(r"[\ud800-\udfff\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def printable(text: str) -> str:
    """The text with every character the rule refuses shown as an escape: safe to put in an
    error message, a log line or a response."""
    return BAD_CHAR.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


class ServiceError(Exception):
    status = 400
    title = "Bad request"

    def __init__(
        self, detail: str, field: str | None = None, errors: list[dict[str, str]] | None = None
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.field = field
        self.errors = errors  # every problem found, when there are several


class NotFound(ServiceError):
    status = 404
    title = "Not found"


class Forbidden(ServiceError):
    status = 403
    title = "Forbidden"


class Unauthorized(ServiceError):
    status = 401
    title = "Unauthorized"


class Conflict(ServiceError):
    status = 409
    title = "Conflict"


class Invalid(ServiceError):
    status = 422
    title = "Unprocessable request"


class TooLarge(ServiceError):
    status = 413
    title = "Content too large"


class UnsupportedMediaType(ServiceError):
    status = 415
    title = "Unsupported media type"
