"""Exceptions routes raise to get an error page in the site's layout."""


class NotFound(Exception):
    pass


class BadRequest(Exception):
    def __init__(self, message) -> None:
        super().__init__(getattr(message, "msgid", str(message)))
        self.message = message
