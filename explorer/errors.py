"""The one kind of error the core raises for problems a user can fix or should be told about."""


class ExplorerError(ValueError):
    """A problem with the user's input or environment, with a message fit to show on a page.

    `hint` is an optional second sentence telling the user what to do about it.
    """

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:  # pragma: no cover - trivial
        return self.message if not self.hint else f"{self.message} {self.hint}"


class ModelUnavailable(ExplorerError):
    """A model could not be loaded: unknown id, offline without a cache, wrong kind, too large…"""
