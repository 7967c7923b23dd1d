"""The error a command raises for bad input or an environment it cannot run in."""

from __future__ import annotations


class UsageError(Exception):
    """Reported by `main()` as one line, `avatar-stream: error: <message>`, with exit code 2
    and no traceback: the user can act on the message, a traceback would only bury it."""
