"""Errors a user can act on. The CLI prints them without a traceback and exits 2."""

from __future__ import annotations

from collections.abc import Iterable


class UserError(Exception):
    """Bad input (usage, config, dataset, spreadsheet): exit status 2, no traceback."""

    exit_code = 2

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ConfigError(UserError):
    pass


class DataError(UserError):
    """A dataset or spreadsheet refused whole; `problems` lists every one found."""

    def __init__(self, problems: Iterable[str]) -> None:
        self.problems = list(problems)
        count = len(self.problems)
        header = f"refused: {count} problem{'s' if count != 1 else ''}, nothing was changed"
        super().__init__("\n".join([*self.problems, header]))


class SchemaError(UserError):
    """The database schema is older or newer than this version expects."""
