"""Keyset pagination for the service's lists: a page is the next `limit` rows after a position
in the list's own order, never an OFFSET, so a page costs the same at the start of a list of a
hundred thousand as at its end, and a row inserted or leaving the list while a client pages
makes no other row shown twice or skipped.

The cursor is opaque to clients: base64url of the list's name, a fingerprint of its filters and
the sort key of the last row shown, with a checksum. A cursor that was edited, or that was made
for another list or other filters, is refused (422 naming `cursor`): it would silently page
through something else. It is not a secret and grants nothing: every page applies the list's
access rules again."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import ColumnElement, and_, or_
from sqlalchemy.orm import InstrumentedAttribute

from priorauth.service.errors import Invalid

T = TypeVar("T")
DEFAULT_LIMIT = 50
MAX_LIMIT = 500
# A cursor of an older format reads as stale, not as someone else's list.
VERSION = 1
# Not a secret (see the module's doc): the checksum tells an edited cursor from a valid one.
_CHECK_KEY = b"priorauth cursor v1"
_CHECK_BYTES = 8

Key = tuple[Any, ...]
Decoder = Callable[[Any], Any]


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a list, and the cursor of the next page (None: this was the last)."""

    items: list[T]
    next_cursor: str | None


def check_limit(limit: int) -> int:
    if not 1 <= limit <= MAX_LIMIT:
        raise Invalid(f"limit: expected a number from 1 to {MAX_LIMIT}", "limit")
    return limit


def _fingerprint(name: str, scope: Mapping[str, Any]) -> str:
    shown = json.dumps([name, sorted((k, str(v)) for k, v in scope.items() if v not in (None, ""))])
    return hashlib.blake2b(shown.encode(), digest_size=6).hexdigest()


def _check(payload: bytes) -> bytes:
    return hashlib.blake2b(payload, key=_CHECK_KEY, digest_size=_CHECK_BYTES).digest()


def _plain(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        # SQLite gives back naive datetimes; everything the service stores is UTC.
        return (value if value.tzinfo else value.replace(tzinfo=dt.UTC)).isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def encode(name: str, scope: Mapping[str, Any], key: Key) -> str:
    payload = json.dumps(
        {"v": VERSION, "l": _fingerprint(name, scope), "k": [_plain(v) for v in key]},
        separators=(",", ":"),
    ).encode()
    return base64.urlsafe_b64encode(payload + _check(payload)).decode().rstrip("=")


def decode(cursor: str, name: str, scope: Mapping[str, Any], types: Sequence[Decoder]) -> Key:
    """The sort key a cursor of this list (with these filters) carries; Invalid naming `cursor`
    for anything else."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
    except (binascii.Error, ValueError):
        raise Invalid("cursor: not a cursor this service gave out", "cursor") from None
    payload, check = raw[:-_CHECK_BYTES], raw[-_CHECK_BYTES:]
    if len(raw) <= _CHECK_BYTES or _check(payload) != check:
        raise Invalid("cursor: not a cursor this service gave out (altered?)", "cursor")
    try:
        data = json.loads(payload)
        stale = data["v"] != VERSION or data["l"] != _fingerprint(name, scope)
        values = data["k"]
    except (ValueError, KeyError, TypeError):
        raise Invalid("cursor: not a cursor this service gave out", "cursor") from None
    if stale:
        raise Invalid(
            "cursor: made for another list, other filters or an older version of the service; "
            "start again from the first page (without cursor)",
            "cursor",
        )
    try:
        if len(values) != len(types):
            raise ValueError
        return tuple(kind(v) for kind, v in zip(types, values, strict=True))
    except (ValueError, TypeError):
        raise Invalid("cursor: not a cursor this service gave out", "cursor") from None


def aware(value: Any) -> dt.datetime:
    if not isinstance(value, str):
        raise TypeError(value)
    out = dt.datetime.fromisoformat(value)
    if out.tzinfo is None:
        raise ValueError(value)
    return out


def day(value: Any) -> dt.date:
    if not isinstance(value, str):
        raise TypeError(value)
    return dt.date.fromisoformat(value)


def text(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(value)
    return value


def number(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(value)
    return value


def after(
    first: InstrumentedAttribute[Any],
    second: InstrumentedAttribute[Any],
    key: Key,
    descending: bool = False,
) -> ColumnElement[bool]:
    """Rows after `key` in the order (first, second), both ascending or both descending. The
    first comparison alone bounds an index range on (first, second); the second only filters
    the rows tied with the key (a row value comparison is not an index range on every
    database)."""
    a, b = key
    if descending:
        return and_(first <= a, or_(first < a, second < b))
    return and_(first >= a, or_(first > a, second > b))


def page_of(
    rows: list[T], limit: int, key_of: Callable[[T], Key], cursor_of: Callable[[Key], str]
) -> Page[T]:
    """`rows` were read with limit + 1: the extra one says whether there is a next page."""
    if len(rows) <= limit:
        return Page(rows, None)
    shown = rows[:limit]
    return Page(shown, cursor_of(key_of(shown[-1])))
