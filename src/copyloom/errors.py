"""The one exception hierarchy. `web/errors.py` alone maps it to HTTP; the CLI maps it to exit codes."""

from __future__ import annotations


class CopyloomError(Exception):
    """Base class: an expected failure with a stable machine-readable code and a human message."""

    code = "error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidInput(CopyloomError):
    """The caller sent something malformed: a bad field, a bad definition, a bad body."""

    code = "invalid_input"


class Unauthorized(CopyloomError):
    """No credential, or one that is unknown or revoked."""

    code = "unauthorized"


class Forbidden(CopyloomError):
    """A valid credential that may not do this: a serving token on a management route, or the reverse."""

    code = "forbidden"


class NotFound(CopyloomError):
    """The thing does not exist, or belongs to another tenant (never say which)."""

    code = "not_found"


class Conflict(CopyloomError):
    """The request is valid but clashes with current state (a name taken, a status change not allowed)."""

    code = "conflict"


class PayloadTooLarge(CopyloomError):
    """A request body over the configured limit."""

    code = "payload_too_large"


class RequestTimeout(CopyloomError):
    """A request body that did not arrive within the configured time (a slow or stalled client)."""

    code = "request_timeout"


class StoreUnavailable(CopyloomError):
    """The database could not be reached."""

    code = "store_unavailable"


class CorruptFile(CopyloomError):
    """An event file that cannot be read: truncated, corrupt, not Avro, or with an invalid record."""

    code = "corrupt_file"


class SourceUnavailable(CopyloomError):
    """An event source (S3 bucket or folder) that cannot be listed or read: missing, or access denied."""

    code = "source_unavailable"


class RateLimited(CopyloomError):
    """Too many requests (or events, or sign-in failures) for one credential; retry in `retry_after_s`."""

    code = "rate_limited"

    def __init__(self, message: str, retry_after_s: float = 1.0) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s
