"""Errors a user can fix.

Every problem with the user's input is a UserError whose message is one
line naming the problem and the fix; the command line prints it and exits
with status 2.  Anything else escaping to the top is a harness bug.
"""


class UserError(Exception):
    """Bad input: one line, names the problem and what to do about it."""

    exit_status = 2

    def __init__(self, message: str) -> None:
        if "\n" in message:
            raise ValueError("UserError messages must be one line")
        super().__init__(message)
