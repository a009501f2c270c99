"""Expected failures, shared by every service and the gateway.

A service raises a `DomainError` (or a subclass) naming the code, the reason and the input
field; the endpoint kit turns it into a JSON error answer, the gateway into a typed GraphQL
error. Codes are one enum so that the schema can list them and clients can switch on them.
Services subclass `DomainError` for their own rules; shared code never imports those.
"""

from __future__ import annotations

from enum import StrEnum


class ErrorCode(StrEnum):
    """Every error code a client can receive, from any service or the gateway."""

    # Input and identity
    INVALID_INPUT = "INVALID_INPUT"
    MALFORMED_JSON = "MALFORMED_JSON"
    INVALID_ID = "INVALID_ID"
    INVALID_CURSOR = "INVALID_CURSOR"
    INVALID_PAGE_SIZE = "INVALID_PAGE_SIZE"
    INVALID_HEADER = "INVALID_HEADER"
    MISSING_HEADERS = "MISSING_HEADERS"
    INVALID_SIGNATURE = "INVALID_SIGNATURE"
    INVALID_EXPORT_LINK = "INVALID_EXPORT_LINK"
    TOO_LARGE = "TOO_LARGE"
    IDENTITY_REQUIRED = "IDENTITY_REQUIRED"
    UNKNOWN_EXPORT = "UNKNOWN_EXPORT"
    # Who may do what
    UNAUTHENTICATED = "UNAUTHENTICATED"
    FORBIDDEN = "FORBIDDEN"
    NO_MEMBERSHIP = "NO_MEMBERSHIP"
    NO_ORGANISATION = "NO_ORGANISATION"
    NO_SUBJECT = "NO_SUBJECT"
    # State
    NOT_FOUND = "NOT_FOUND"
    ALREADY_MEMBER = "ALREADY_MEMBER"
    DUPLICATE_NAME = "DUPLICATE_NAME"
    CATEGORY_IN_USE = "CATEGORY_IN_USE"
    LAST_ADMIN = "LAST_ADMIN"
    CANNOT_REMOVE_SELF = "CANNOT_REMOVE_SELF"
    CURRENCY_MISMATCH = "CURRENCY_MISMATCH"
    ILLEGAL_TRANSITION = "ILLEGAL_TRANSITION"
    ALREADY_ADDED = "ALREADY_ADDED"
    PRODUCT_IN_USE = "PRODUCT_IN_USE"
    PRODUCT_DISABLED = "PRODUCT_DISABLED"
    # The platform
    RATE_LIMITED = "RATE_LIMITED"  # 429: this caller is over its concurrency or rate limit; see Retry-After
    OVERLOADED = "OVERLOADED"  # 503: this process is at its cap of requests in flight; see Retry-After
    UNAVAILABLE = "UNAVAILABLE"
    INTERNAL = "INTERNAL"


class DomainError(Exception):
    """An expected refusal: the request changes nothing and the caller is told why."""

    status = 400

    def __init__(self, code: ErrorCode, message: str, field: str | None = None, *, status: int | None = None) -> None:
        super().__init__(message)
        self.code, self.message, self.field = ErrorCode(code), message, field
        if status is not None:
            self.status = status


class NotFound(DomainError):
    """Also what another organisation's ids get: indistinguishable from absent."""

    status = 404

    def __init__(self, what: str, field: str = "id") -> None:
        super().__init__(ErrorCode.NOT_FOUND, f"{what} not found", field)


class Conflict(DomainError):
    status = 409


class Forbidden(DomainError):
    status = 403

    def __init__(self, message: str = "this action needs the admin role", field: str | None = None) -> None:
        super().__init__(ErrorCode.FORBIDDEN, message, field)


class Unauthenticated(DomainError):
    status = 401

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(ErrorCode.UNAUTHENTICATED, message, field)
