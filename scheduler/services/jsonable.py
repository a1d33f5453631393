"""Service results as JSON values, one way for every `--json` output and the web app."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping
from enum import Enum
from typing import Any


def jsonable(value: Any) -> Any:
    """`value` as plain JSON values: a dataclass becomes an object of its fields (in order),
    a date or datetime its ISO 8601 text (a datetime with its offset when aware), an enum its
    value, a tuple or list a list, a mapping an object; None, str, int, float and bool stay.

    Raises:
        TypeError: a value of another type (a service result should not hold one).
    """
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dt.date):  # datetime is a date too
        return value.isoformat()
    if isinstance(value, Enum):
        return jsonable(value.value)
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if value is None or isinstance(value, str | int | float | bool):
        return value
    raise TypeError(f"not a JSON value: {type(value).__name__}")
