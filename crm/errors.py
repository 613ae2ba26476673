"""Exceptions routes raise to get an error page in the site's layout."""

from typing import TypeVar

T = TypeVar("T")


class NotFound(Exception):
    pass


def found(record: T | None) -> T:
    """The record, or a 404 page when there is none: the body of every fetch-or-404 dependency."""
    if record is None:
        raise NotFound()
    return record


class BadRequest(Exception):
    def __init__(self, message) -> None:
        super().__init__(getattr(message, "msgid", str(message)))
        self.message = message
