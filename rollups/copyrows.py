"""Write rows with COPY in text format, encoding them here rather than with psycopg's per-value
adapters: its array dumper inspects every element (a regex per integer), which made writing a
batch's histograms slower than computing them."""
from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from decimal import Decimal
from typing import Any

from rollups.aggregate import Hex

_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


# Dispatch on the exact type: a chain of isinstance checks per field was most of the encoding time.
_ENCODERS: dict[type, Callable[[Any], str]] = {
    str: lambda v: v.translate(_ESCAPES), int: str, float: repr, Decimal: str,
    bool: lambda v: "t" if v else "f", type(None): lambda v: "\\N", datetime: datetime.isoformat,
    Hex: lambda v: "\\\\x" + v,  # bytea: \x + hex digits, its backslash escaped for COPY
}


def _field(value: Any) -> str:
    return _ENCODERS[type(value)](value)


def copy_rows(cursor: Any, sql: str, rows: Iterable[tuple[Any, ...]]) -> None:
    """COPY ... FROM STDIN (text format) of rows of None, bool, int, float, Decimal, str, datetime
    and Hex (bytea)."""
    raw = getattr(cursor, "cursor", cursor)  # Django's wrapper around the psycopg cursor
    data = "".join("\t".join(map(_field, row)) + "\n" for row in rows)
    if data:
        with raw.copy(sql) as copy:
            copy.write(data)
