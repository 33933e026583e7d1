"""Errors that are the user's to fix.

Anything raised as :class:`UserError` is printed by the CLI as one line and exits
with code 2, without a traceback. Everything else is a bug and keeps its traceback.
"""


class UserError(Exception):
    """Bad input: an unknown name, a malformed file, a value of the wrong type."""


class UnknownNameError(UserError, KeyError):
    """A registry lookup that found nothing.

    Subclasses KeyError so that library code can treat registries like mappings.
    """

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""
