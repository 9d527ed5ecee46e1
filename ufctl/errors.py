"""One-line errors: every failure the user can fix is reported as `ufctl: <what> (<what to do>)`."""


class CliError(Exception):
    """Printed as one line; exit code 1."""
