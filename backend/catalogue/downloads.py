"""What a downloaded file is called: stored names cleaned of characters no header or file system takes,
and renditions named from their title, platform and date instead of their preset id."""

from __future__ import annotations

import re
import unicodedata
from datetime import datetime
from pathlib import PurePosixPath
from zoneinfo import ZoneInfo

from backend.catalogue.models import Material
from backend.platforms.service import get_catalog
from presets.schema import UnknownPreset

# The team works on Beijing time: a clip rendered at 07:00 there is named with that day, not UTC's.
NAME_TIMEZONE = ZoneInfo("Asia/Shanghai")
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


def _extension(material: Material) -> str:
    return (material.storage_key or "").rsplit(".", 1)[-1] if "." in (material.storage_key or "") else "bin"


def _platform_label(preset_id: str) -> str | None:
    try:
        return get_catalog().preset(preset_id).label.zh
    except UnknownPreset:
        return None


def _local_date(when: datetime) -> str:
    return when.astimezone(NAME_TIMEZONE).date().isoformat()


def download_name(material: Material) -> str:
    """The name a download gets. A rendition: `{title}_{platform label}_{date}.mp4` (the label left out when
    the title already says it), so renditions of different sources never share `douyin.feed_9x16.mp4`.
    An upload: the name it was uploaded under, else its title."""
    ext = _extension(material)
    if material.preset_id:
        title = material.title.strip()
        label = _platform_label(material.preset_id) or material.preset_id
        parts = [title] if label in title else [title, label]
        stem = "_".join([*parts, _local_date(material.created_at)])
    elif material.original_filename:
        stem = material.original_filename.rsplit(".", 1)[0]
    else:
        stem = material.title
    return safe_filename(f"{stem}.{ext}") or f"{material.id}.{ext}"
