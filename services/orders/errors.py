"""Expected failures of the orders service, each naming the field and the reason."""

from __future__ import annotations


class DomainError(Exception):
    status = 400

    def __init__(self, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.code, self.message, self.field = code, message, field

    def as_dict(self) -> dict[str, str | None]:
        return {"code": self.code, "message": self.message, "field": self.field}


class NotFound(DomainError):
    """Also what another organisation's ids get: indistinguishable from absent."""

    status = 404

    def __init__(self, what: str, field: str = "id") -> None:
        super().__init__("NOT_FOUND", f"{what} not found", field)


class Conflict(DomainError):
    status = 409


class Forbidden(DomainError):
    status = 403

    def __init__(self, message: str = "this action needs the admin role") -> None:
        super().__init__("FORBIDDEN", message, None)
