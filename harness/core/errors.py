"""Errors a user can fix.

Every problem with the user's input is a UserError whose message is one
line naming the problem and the fix; the command line prints it and exits
with status 2.  Anything else escaping to the top is a harness bug.
"""


class UserError(Exception):
    """Bad input: one line, names the problem and what to do about it."""

    exit_status = 2

    def __init__(self, message: str) -> None:
        # User text quoted in a message (a source name, a path) may hold a
        # newline; escaped, the message stays one line instead of the
        # error path itself failing.
        super().__init__(message.replace("\r", "\\r").replace("\n", "\\n"))
