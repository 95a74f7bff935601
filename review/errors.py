"""What services refuse, with the field to name in a 4xx (APIs and forms show it)."""
from __future__ import annotations


class ReviewError(Exception):
    status = 400

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


class Invalid(ReviewError):
    status = 400


class Conflict(ReviewError):
    """The item moved on: another reviewer holds it, it is complete, or you already answered it."""

    status = 409


class Forbidden(ReviewError):
    status = 403
