"""What the API takes as text, zones and numbers, checked at the schema so PostgreSQL and SQLite see the
same values: no NUL (PostgreSQL refuses it in text, SQLite stores it), no other control character, no
lone surrogate (neither database can encode one), a time zone that exists, integers that fit their column.

Every request schema and every string or integer query/path parameter uses these types; a value outside
them is a 422 before any handler runs."""

from __future__ import annotations

import re
import unicodedata
from datetime import date, datetime
from functools import lru_cache
from pathlib import PurePosixPath
from typing import Annotated, Any
from zoneinfo import available_timezones

from pydantic import AfterValidator, AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field, Strict

# C0 controls (NUL included) and lone surrogates; multi-line text keeps tab, LF and CR.
_NOT_LINE = re.compile(r"[\x00-\x1f\ud800-\udfff]")
_NOT_MULTILINE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff]")
# The same rules for clients and fuzzers, as JSON Schema (ECMA 262) patterns in the OpenAPI.
LINE_PATTERN = r"^[^\u0000-\u001f]*$"
MULTILINE_PATTERN = r"^[^\u0000-\u0008\u000b\u000c\u000e-\u001f]*$"


def _describe(char: str) -> str:
    return "a lone surrogate" if "\ud800" <= char <= "\udfff" else f"the control character U+{ord(char):04X}"


def single_line(value: str) -> str:
    found = _NOT_LINE.search(value)
    if found:
        raise ValueError(f"{_describe(found.group())} is not allowed here (position {found.start()})")
    return value


def multi_line(value: str) -> str:
    found = _NOT_MULTILINE.search(value)
    if found:
        raise ValueError(f"{_describe(found.group())} is not allowed here (position {found.start()})")
    return value


@lru_cache(maxsize=1)
def zone_names() -> frozenset[str]:
    """IANA zone names the system knows (read once: the scan walks the zone directory)."""
    return frozenset(available_timezones()) | {"UTC"}


def zone_name(value: str) -> str:
    if value not in zone_names():
        raise ValueError(f"{value!r} is not an IANA time zone name (e.g. Asia/Shanghai)")
    return value


Text = Annotated[str, AfterValidator(single_line), Field(json_schema_extra={"pattern": LINE_PATTERN})]
"""One line of text: a title, a name, an id from a platform, a search term."""

MultilineText = Annotated[str, AfterValidator(multi_line), Field(json_schema_extra={"pattern": MULTILINE_PATTERN})]
"""Text that may hold tabs and line breaks: a description, a note, subtitles."""

ZoneName = Annotated[str, AfterValidator(zone_name), Field(max_length=64, examples=["Asia/Shanghai"])]
"""An IANA time zone name."""

_ISO_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}")


def iso_8601(value: Any) -> Any:
    """Dates and times come as ISO 8601 text (or as date objects from Python callers): pydantic would
    also read a number as a Unix time, which no client means and the schema does not say."""
    if isinstance(value, date):
        return value
    if not isinstance(value, str) or not _ISO_DATE.match(value):
        raise ValueError("expected an ISO 8601 date or date-time, e.g. 2026-11-20 or 2026-11-20T08:00:00+08:00")
    return value


Instant = Annotated[AwareDatetime, BeforeValidator(iso_8601)]
"""A moment with its UTC offset."""

Moment = Annotated[datetime, BeforeValidator(iso_8601)]
"""A date-time whose offset the handler checks itself (and answers 400 without one)."""

Day = Annotated[date, BeforeValidator(iso_8601)]
"""A calendar date."""

Number = Annotated[float, Strict(), Field(allow_inf_nan=False)]
"""A JSON number in a body: finite, never a boolean or a string (pydantic's lax mode takes both)."""

INT32_MAX = 2**31 - 1
INT64_MAX = 2**63 - 1

IntId = Annotated[int, Field(ge=1, le=INT32_MAX)]
"""The id of a row with an INTEGER key (tags, reports)."""

Count = Annotated[int, Strict(), Field(ge=0, le=INT32_MAX)]
"""A count or limit in a body, stored in an INTEGER column (channel rules); never a boolean."""

Offset = Annotated[int, Field(ge=0, le=INT32_MAX)]
"""How many rows a page skips."""


def _no_null_defaults(schema: dict[str, Any]) -> None:
    for prop in schema.get("properties", {}).values():
        if prop.get("default", ...) is None and not _allows_null(prop):
            del prop["default"]


def _allows_null(prop: dict[str, Any]) -> bool:
    return prop.get("type") == "null" or any(p.get("type") == "null" for p in prop.get("anyOf", ()))


class PartialUpdate(BaseModel):
    """A PATCH body (or a create body whose fields fall back to defaults): a field left out keeps its value.

    A field whose column is NOT NULL is typed without None (`title: Text = unchanged(max_length=500)`), so
    an explicit null is a 422 rather than an IntegrityError; its schema then shows no `default: null`."""

    model_config = ConfigDict(json_schema_extra=_no_null_defaults)


def unchanged(**constraints: Any) -> Any:
    """The default of a PartialUpdate field whose column is NOT NULL: left out, the value stays as it
    is; null is refused by the field's type. (Typed Any: None is a marker here, not a value.)"""
    return Field(default=None, **constraints)


# --- file names a client sends (from its disk: cleaned, not refused) -------------------------------

MAX_NAME_CHARS = 180  # leaves room for an extension and " (2)" under the usual 255-byte limits
# Characters Windows refuses in a name, as their full-width forms (which read the same in Chinese text).
_RESERVED = str.maketrans({":": "：", "/": "／", "\\": "＼", "?": "？", "*": "＊", '"': "”", "<": "＜", ">": "＞", "|": "｜"})
_BIDI = re.compile("[\u202a-\u202e\u2066-\u2069]")  # direction overrides can disguise an extension
_SPACES = re.compile(r"\s+")


def safe_filename(name: str | None) -> str | None:
    """A name fit to store and to send: no control characters (CR, LF, NUL ...), line separators or
    direction overrides, no path, no characters a file system refuses; Chinese kept as it is."""
    if not name:
        return None
    name = PurePosixPath(name.replace("\\", "/")).name
    kept = "".join(
        " " if unicodedata.category(c) in ("Cc", "Zl", "Zp") else c for c in unicodedata.normalize("NFC", name)
    )
    kept = _SPACES.sub(" ", _BIDI.sub("", kept).translate(_RESERVED)).strip(" .")
    if not kept:
        return None
    stem, dot, ext = kept.rpartition(".")
    if dot and stem.strip(" .") and len(ext) <= 10:
        return f"{stem[:MAX_NAME_CHARS].rstrip(' .')}.{ext.strip()}"
    return kept[:MAX_NAME_CHARS].rstrip(" .") or None
