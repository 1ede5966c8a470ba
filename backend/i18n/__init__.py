"""The language an answer speaks (Simplified Chinese unless the caller asks for English) and the texts of
problem answers in both languages.

A problem's title comes from the web app's message catalogues (`backend/web/static/i18n/<lang>.json`,
key `problem.<slug>`): the team words every problem type there once, and the browser must fetch those
files as they are. They are read here as data files, by path, never by importing `backend.web`, so the
kernel stays below every domain. Details the server words itself (templates with named parameters)
live beside this module in `details.<lang>.json`: the web app never shows them.
"""

from __future__ import annotations

import json
import re
import string
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

ZH = "zh-CN"
EN = "en"
LANGUAGES = (ZH, EN)
DEFAULT = ZH
# Where a request's person keeps their chosen language once they are known (backend/deps), for answers
# made after that (an error in the handler): their setting outweighs the browser's Accept-Language.
LANGUAGE_SCOPE = "reelhouse.language"

_HERE = Path(__file__).resolve().parent
WEB_CATALOGUES = _HERE.parent / "web" / "static" / "i18n"


# --- which language -----------------------------------------------------------------------------

_RANGE = re.compile(r"^\s*([A-Za-z]{1,8}(?:-[A-Za-z0-9]{1,8})*|\*)\s*(?:;\s*q\s*=\s*([01](?:\.\d{0,3})?))?\s*$")


def _language_of_range(tag: str) -> str | None:
    primary = tag.lower().split("-", 1)[0]
    return ZH if primary == "zh" else EN if primary == "en" else None


def negotiate(accept_language: str | None) -> str:
    """The language to answer in for an `Accept-Language` header (RFC 9110 12.5.4): the first of zh*
    (any Chinese: we only write Simplified) and en* by quality, ties going to the order written; a
    missing or unreadable header, one naming neither, or `*`, gets the default (Chinese). A range with
    q=0 is "not acceptable" and is skipped. Parsed here: a dozen lines do not warrant a dependency."""
    if not accept_language:
        return DEFAULT
    best: tuple[float, int, str] | None = None
    for position, item in enumerate(accept_language.split(",")):
        match = _RANGE.match(item)
        if match is None:
            continue
        quality = float(match.group(2)) if match.group(2) is not None else 1.0
        language = _language_of_range(match.group(1))
        if language is None or quality <= 0:
            continue
        if best is None or quality > best[0]:
            best = (quality, position, language)
    return best[2] if best else DEFAULT


def chosen(preference: str | None, accept_language: str | None) -> str:
    """A signed-in person's language setting if there is one, else the header's choice."""
    return preference if preference in LANGUAGES else negotiate(accept_language)


# --- numbers as the team writes them ---------------------------------------------------------------


def number(value: float, language: str = ZH) -> str:
    """As the web app's number() writes counts (Intl compact notation, at most one decimal): 12000 ->
    '1.2万', 10000 -> '1万', 150000000 -> '1.5亿' in Chinese; '12,000' in English. Below 10,000 both
    group thousands."""
    if language == ZH:
        for scale, unit in ((1e8, "亿"), (1e4, "万")):
            if abs(value) >= scale:
                return f"{value / scale:.1f}".removesuffix(".0") + unit
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.2f}"


def file_size(n: int) -> str:
    """1048576 -> '1 MB', 1610612736 -> '1.5 GB' (1024-based, as the web app shows sizes)."""
    units = ("B", "KB", "MB", "GB", "TB")
    value, unit = float(n), 0
    while value >= 1024 and unit < len(units) - 1:
        value /= 1024
        unit += 1
    shown = f"{value:,.1f}".removesuffix(".0") if unit else f"{value:,.0f}"
    return f"{shown} {units[unit]}"


class _Formatter(string.Formatter):
    """`{rows:count}` as `number()` in the text's language, `{limit:size}` as `file_size()`; a parameter
    that is a mapping of languages to words as its words in the text's language; any other field as
    str.format has it."""

    def __init__(self, language: str) -> None:
        self.language = language

    def format_field(self, value: Any, format_spec: str) -> str:
        if isinstance(value, Mapping):  # a parameter worded per language: {"zh-CN": ..., "en": ...}
            value = value.get(self.language, value.get(EN, ""))
        if format_spec == "count" and isinstance(value, int | float):
            return number(value, self.language)
        if format_spec == "size" and isinstance(value, int):
            return file_size(value)
        return super().format_field(value, "" if format_spec in ("count", "size") else format_spec)


# --- catalogues ------------------------------------------------------------------------------------


@lru_cache(maxsize=len(LANGUAGES))
def _web_catalogue(language: str) -> Mapping[str, str]:
    data: dict[str, str] = json.loads((WEB_CATALOGUES / f"{language}.json").read_text(encoding="utf-8"))
    return data


@lru_cache(maxsize=len(LANGUAGES))
def details_catalogue(language: str) -> Mapping[str, str]:
    data: dict[str, str] = json.loads((_HERE / f"details.{language}.json").read_text(encoding="utf-8"))
    return data


def title(slug: str, language: str) -> str | None:
    """The problem type's title in `language` (the web app's wording), None if the catalogue lacks it."""
    text = _web_catalogue(language if language in LANGUAGES else DEFAULT).get(f"problem.{slug}")
    return text.removesuffix("。").removesuffix(".") if text else None


def words(web_key: str, english: str) -> dict[str, str]:
    """A parameter worded per language: Chinese as the web app words `web_key` (e.g. `status.ready`,
    `media_type.video`), English as `english` (the value as the API spells it, so English details keep
    the words they always had)."""
    return {ZH: _web_catalogue(ZH).get(web_key, english), EN: english}


def text(key: str, language: str, params: Mapping[str, Any] | None = None) -> str | None:
    """A server-worded text (`details.<lang>.json`) with its named parameters filled in; None if the
    catalogue has no such key. A missing parameter is a bug the catalogue test catches, not a 500."""
    template = details_catalogue(language if language in LANGUAGES else DEFAULT).get(key)
    if template is None:
        return None
    try:
        return _Formatter(language).vformat(template, (), dict(params or {}))
    except (KeyError, IndexError, ValueError):
        return None
