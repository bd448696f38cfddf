"""Errors a user can cause, each rendered by the CLI as one line and a non-zero exit.

Invariant: every message names the thing at fault, the bad value and what to do, and
every class carries the exit code the README documents (2 bad input, 3 unusable
output or a run locked by another writer, 4 failed run, 130 interrupted by Ctrl-C,
143 terminated by SIGTERM).
"""


class TemuGenError(Exception):
    """Base class: a problem with the user's input or environment, not a bug."""

    exit_code = 2


class ConfigError(TemuGenError):
    """The config file or a CLI override is invalid."""


class OutputError(TemuGenError):
    """The output destination cannot be used."""

    exit_code = 3


class RunLocked(OutputError):
    """Another writer holds (or held, and died holding) the run's lock."""


class RunFailed(TemuGenError):
    """A run started but did not commit; nothing was marked finished."""

    exit_code = 4

    def __init__(self, message: str, exit_code: int = 4):
        super().__init__(message)
        self.exit_code = exit_code


class Terminated(BaseException):
    """SIGTERM (or SIGHUP) reached the coordinator; unwinds like Ctrl-C does.

    A BaseException, like KeyboardInterrupt, so no ``except Exception`` swallows it.
    """

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum
        self.exit_code = 128 + signum
