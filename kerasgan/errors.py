"""The exceptions kerasgan raises for what the `kerasgan` command reports in one line."""


class UsageError(Exception):
    """A mistake in what the user asked for: printed as one line, exit code 2."""

