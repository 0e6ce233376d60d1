"""Errors a user can act on. The CLI prints their message (no traceback) and exits with `exit_code`."""

from __future__ import annotations


class FtreadyError(Exception):
    """Base of expected failures: the message says what, where, and what to do."""

    exit_code = 1


class ConfigError(FtreadyError):
    """The configuration (or a rule pack, or a CLI argument) is wrong. Exit code 2."""

    exit_code = 2


class SourceError(FtreadyError):
    """A warehouse source could not be read (unreachable, missing table or column, timeout)."""

    exit_code = 1


class StoreError(FtreadyError):
    """The state store could not be opened or written."""

    exit_code = 1


class ReportError(FtreadyError):
    """The weekly report could not be written (a full disk, no permission on reports.dir)."""

    exit_code = 1


def first_line(exc: BaseException) -> str:
    """The first line of a driver error: the part a person can act on, without the SQL dump."""
    text = str(getattr(exc, "orig", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
