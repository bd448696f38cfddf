"""Errors a user can cause, each rendered by the CLI as one line and a non-zero exit.

Invariant: every message names the thing at fault, the bad value and what to do.
"""


class TemuGenError(Exception):
    """Base class: a problem with the user's input or environment, not a bug."""

    exit_code = 2


class ConfigError(TemuGenError):
    """The config file or a CLI override is invalid."""


class OutputError(TemuGenError):
    """The output destination cannot be used."""

    exit_code = 3


class RunFailed(TemuGenError):
    """A run started but did not commit; nothing was marked finished."""

    exit_code = 4
