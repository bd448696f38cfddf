"""The ``temu-gen`` command's launcher: start the process with glibc's huge pages, then hand over to the CLI.

A run's workers allocate and free a few hundred megabytes of arrays per task, most of it through glibc
(numba's allocations, numpy arrays under 4 MiB, which numpy's own huge-page advice skips). In 4 KiB pages
that is about 190,000 page faults on the default run: a second of kernel time on 2 cores. glibc's
``glibc.malloc.hugetlb=1`` tunable makes malloc advise transparent huge pages for what it maps, which
cuts the faults to about 55,000 (bench/RESULTS.md). glibc reads tunables only when a process starts, and
the workers are forked, so the launcher re-executes the command once with the tunable added: same pid,
same interpreter flags and arguments, one more interpreter start (10-30 ms).

Invariant: at most one re-exec (it marks the environment it passes on, ``TEMU_GEN_HUGEPAGES=relaunched``),
before anything but this module is imported and before any thread or child exists. Where the tunable
cannot help it changes nothing: not glibc 2.35 or later, huge pages off (or already always on), no
interpreter path to run, a program read from stdin, or ``TEMU_GEN_HUGEPAGES=off``. A failed exec leaves
the process as it was. A console script is re-executed as itself, so the process keeps its name (``ps``,
``pgrep temu-gen``). Library callers of :func:`temu_gen.cli.main` are never re-executed.
"""
from __future__ import annotations

import os
import sys

TUNABLE = "glibc.malloc.hugetlb=1"
_THP_MODE = "/sys/kernel/mm/transparent_hugepage/enabled"
_OFF = ("0", "off", "no", "false")
RELAUNCHED = "relaunched"
"""``TEMU_GEN_HUGEPAGES`` in the process the launcher starts: it never starts another."""


def _glibc_version() -> tuple[int, int]:
    try:
        name, version = os.confstr("CS_GNU_LIBC_VERSION").split()  # "glibc 2.36"
        major, minor = version.split(".")[:2]
        return (int(major), int(minor)) if name == "glibc" else (0, 0)
    except (AttributeError, ValueError, OSError):  # not glibc (musl, macOS)
        return (0, 0)


def _thp_only_when_advised() -> bool:
    """Whether the kernel gives huge pages to memory that asks for them, and only to that ("[madvise]")."""
    try:
        with open(_THP_MODE) as f:
            return "[madvise]" in f.read()
    except OSError:
        return False


def relaunch_args(environ, executable: str, orig_argv: list[str], argv: list[str]
                  ) -> tuple[str, list[str], dict[str, str]] | None:
    """(program, arguments, environment) to re-execute with, or None when this process should just go on.

    ``orig_argv`` is the interpreter's whole command line, ``argv`` the script's (``sys.argv``).
    """
    tunables, mode = environ.get("GLIBC_TUNABLES", ""), environ.get("TEMU_GEN_HUGEPAGES", "").lower()
    # the marker, not the tunable, says "done": glibc drops GLIBC_TUNABLES from privileged processes
    if "glibc.malloc.hugetlb" in tunables or mode in _OFF or mode == RELAUNCHED:
        return None
    if not executable or len(orig_argv) < 2 or argv[:1] in (["-"], [""]):  # nothing to run again, or stdin, read
        return None
    if _glibc_version() < (2, 35) or not _thp_only_when_advised():
        return None
    env = {**environ, "GLIBC_TUNABLES": f"{tunables}:{TUNABLE}" if tunables else TUNABLE,
           "TEMU_GEN_HUGEPAGES": RELAUNCHED}
    if orig_argv[1:] == argv and _runs_itself_with(argv[0], executable):  # a script run by its #!: so again (its
        return argv[0], list(argv), env                                   # name stays the process's: ps, pgrep)
    return executable, [executable, *orig_argv[1:]], env


def _runs_itself_with(script: str, executable: str) -> bool:
    """Whether ``script`` is an executable file whose ``#!`` line names this very interpreter (not another Python)."""
    try:
        with open(script, "rb") as f:
            line = f.readline(4096)
    except OSError:  # a folder, a zip application's path, gone
        return False
    words = line[2:].split() if line.startswith(b"#!") else []
    return bool(words) and words[0] == os.fsencode(executable) and os.access(script, os.X_OK)


def entry() -> None:
    """Console-script and ``python -m temu_gen`` entry: re-execute once with huge pages if that helps, then run."""
    again = relaunch_args(os.environ, sys.executable, getattr(sys, "orig_argv", []), sys.argv)
    if again is not None:
        try:
            os.execve(*again)
        except OSError:
            pass  # run as we are: huge pages only save time
    from .cli import entry as cli_entry

    cli_entry()
