"""One problem-collecting reader for everything a user writes: config, dataset files,
spreadsheet rows and (later) web forms.

A reader never stops at the first mistake: every problem is collected as
`where: key: what is wrong`, so that a user fixes a file in one pass, and the caller raises
one error listing them all (exit status 2 at the command line, a 4xx page on the web).

    problems = Problems("config.toml")
    smtp = Fields(problems, "smtp", table["smtp"])
    port = smtp.integer("port", 25, minimum=1, maximum=65535)
    smtp.done()                       # unknown keys are problems too
    problems.raise_if_any(ConfigError)
"""

from __future__ import annotations

import datetime as dt
import tomllib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from scheduler.errors import UserError

T = TypeVar("T")

#: The value of a key that is absent (distinct from every TOML or cell value).
MISSING: Any = type("Missing", (), {"__repr__": lambda self: "MISSING"})()


@dataclass(frozen=True)
class Problem:
    """One mistake: `where` is the file (or file and row), `key` the dotted key or column.

    `column` is how the key is named when it is a column of a row (`column "signed on"`); the
    message then reads `where, column: text` (`a.csv: row 3, column "signed on": missing`)
    rather than `where: key: text`.
    """

    where: str
    key: str
    text: str
    column: str = ""

    def __str__(self) -> str:
        if self.column:
            return f"{self.where}, {self.column}: {self.text}"
        return ": ".join(part for part in (self.where, self.key, self.text) if part)


class Problems:
    """The problems found in one input (a file, an upload, a form), in the order found.

    `columns`, for a table of rows (a spreadsheet), maps a key to how a message names it as a
    column of a row (`{"signed_on": 'column "signed on"'}`); see `Problem.column`.
    """

    def __init__(self, where: str, *, columns: Mapping[str, str] | None = None) -> None:
        self.where = where
        self.items: list[Problem] = []
        self.columns: Mapping[str, str] = columns or {}

    def add(self, key: str, text: str, *, where: str | None = None) -> None:
        """Record that `key` (a dotted key, a column name, or "" for the whole input) is wrong."""
        self.items.append(Problem(self.where if where is None else where, key, text,
                                  self.columns.get(key, "")))

    def __bool__(self) -> bool:
        return bool(self.items)

    def __iter__(self) -> Iterator[Problem]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)

    def lines(self) -> list[str]:
        """Each problem as `where: key: text`."""
        return [str(p) for p in self.items]

    def raise_if_any(self, error: type[UserError]) -> None:
        """Raise `error` with one line per problem, when there is any.

        Raises:
            error: the message is the problems, one per line, in the order found.
        """
        if self.items:
            raise error("\n".join(self.lines()))


def parse_toml(text: str) -> dict[str, Any]:
    """`text` as a TOML document (tables are dicts, arrays lists, dates datetime values).

    Raises:
        ValueError: not valid TOML; the message says where (tomllib's own words), or that
            arrays or tables are nested too deeply to read (tomllib recurses once per level,
            so a file nested a few hundred levels deep would end in a RecursionError).
    """
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(str(exc)) from None
    except RecursionError:
        raise ValueError("arrays or tables are nested too deeply") from None


#: Strings longer than this are cut in messages (a hostile file may hold megabytes in one key).
SHOW_MAX = 60


def show(value: Any) -> str:
    """A value as a user wrote it, for "expected …, got …": strings quoted (cut to
    SHOW_MAX characters with "..."), booleans and date-times in TOML spelling, tables and
    lists named rather than printed."""
    if isinstance(value, str):
        return f'"{value}"' if len(value) < SHOW_MAX else f'"{value[:SHOW_MAX - 3]}..."'
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dt.datetime):
        return f"the date-time {value.isoformat()}"
    return str(value)


def is_int(value: Any) -> bool:
    """True for an integer that is not a bool (TOML's true is not 1)."""
    return isinstance(value, int) and not isinstance(value, bool)


class Fields:
    """Reads the keys of one table (or row) at `path`, sending problems to `problems`.

    Each getter marks its key as read; `done()` reports the keys nobody read as unknown.
    A getter that finds a problem records it and returns its default, so reading goes on.
    """

    def __init__(self, problems: Problems, path: str, table: Any, *, where: str | None = None):
        self.problems, self.path, self.where = problems, path, where
        if table is None or table is MISSING:
            table = {}
        if not isinstance(table, Mapping):
            self.problems.add(path, f"expected a table, got {show(table)}", where=where)
            table = {}
        self.table: Mapping[str, Any] = table
        self.seen: set[str] = set()

    def key(self, key: str) -> str:
        """The full dotted name of `key` in this table."""
        if not key:
            return self.path
        return f"{self.path}.{key}" if self.path else key

    def problem(self, key: str, text: str) -> None:
        """Record a problem with `key` of this table ("" for the table itself)."""
        self.problems.add(self.key(key), text, where=self.where)

    def has(self, key: str) -> bool:
        """Whether the table gives `key` (marks it as read)."""
        self.seen.add(key)
        return key in self.table

    def raw(self, key: str) -> Any:
        """The value of `key` as written, or MISSING (marks it as read)."""
        self.seen.add(key)
        return self.table.get(key, MISSING)

    def value(
        self,
        key: str,
        default: T,
        check: Callable[[Any], T | None],
        expected: str,
        *,
        required: bool = False,
    ) -> T:
        """`check(value)` when it accepts the value (returns non-None), else `default`.

        A missing key is a problem only when `required`; a rejected value is reported as
        `expected <expected>, got <value>`.
        """
        value = self.raw(key)
        if value is MISSING:
            if required:
                self.problem(key, "missing")
            return default
        result = check(value)
        if result is None:
            self.problem(key, f"expected {expected}, got {show(value)}")
            return default
        return result

    def parsed(
        self, key: str, parse: Callable[[Any], T], *, required: bool = False
    ) -> T | None:
        """`parse(value)`, or None when missing or when `parse` raises ValueError (whose
        message becomes the problem's text)."""
        value = self.raw(key)
        if value is MISSING or value is None or (isinstance(value, str) and not value.strip()):
            if required:
                self.problem(key, "missing")
            return None
        try:
            return parse(value)
        except ValueError as exc:
            self.problem(key, str(exc))
            return None

    def text(self, key: str, default: str = "", *, required: bool = False) -> str:
        """A string value."""
        return self.value(
            key, default, lambda v: v if isinstance(v, str) else None, "a string",
            required=required,
        )

    def integer(
        self, key: str, default: int, *, minimum: int = 0, maximum: int | None = None
    ) -> int:
        """An integer in [minimum, maximum]."""

        def check(v: Any) -> int | None:
            ok = is_int(v) and v >= minimum and (maximum is None or v <= maximum)
            return int(v) if ok else None

        expected = (f"an integer ≥ {minimum}" if maximum is None
                    else f"an integer from {minimum} to {maximum}")
        return self.value(key, default, check, expected)

    def boolean(self, key: str, default: bool) -> bool:
        """true or false."""
        return self.value(
            key, default, lambda v: v if isinstance(v, bool) else None, "true or false"
        )

    def choice(self, key: str, default: str, choices: tuple[str, ...]) -> str:
        """One of `choices`, spelled exactly."""
        expected = " or ".join(f'"{c}"' for c in choices)
        return self.value(key, default, lambda v: v if v in choices else None, expected)

    def done(self) -> None:
        """Report every key of the table that no getter read as `unknown key`."""
        for key in self.table:
            if key not in self.seen:
                self.problem(key, "unknown key")
