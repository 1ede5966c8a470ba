"""What a downloaded file is called: stored names cleaned of characters no header or file system takes,
and renditions named from their title, platform and date instead of their preset id."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from backend.catalogue.models import Material
from backend.platforms.service import get_catalog
from backend.text import safe_filename
from presets.schema import UnknownPreset

# The team works on Beijing time: a clip rendered at 07:00 there is named with that day, not UTC's.
NAME_TIMEZONE = ZoneInfo("Asia/Shanghai")


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
