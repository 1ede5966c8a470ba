"""Column mappings for platform metric exports, kept as data in `presets/metrics/*.toml`.

Each file names one platform export: which headers feed which metric, whether its figures are
cumulative totals (as of the export) or per-day figures (one row per post and day), the time zone
its dates are written in and the currency its money columns use unless a cell says otherwise.
"""

from __future__ import annotations

import re
import tomllib
import unicodedata
from functools import lru_cache
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

SHIPPED_DIR = Path(__file__).resolve().parents[2] / "presets" / "metrics"

MetricKind = Literal["count", "signed_count", "ratio", "seconds", "money"]

# Every figure a snapshot can carry, with how a cell is read. Money is kept exactly (minor units).
METRICS: dict[str, MetricKind] = {
    "views": "count",
    "likes": "count",
    "comments": "count",
    "shares": "count",
    "favourites": "count",
    "followers_gained": "signed_count",  # unfollows can outnumber follows
    "avg_watch_seconds": "seconds",
    "completion_rate": "ratio",
    "clicks": "count",
    "add_to_cart": "count",
    "orders": "count",
    "gmv": "money",
    "ad_spend": "money",
}
# Fields that identify the post or the moment, not figures.
KEYS = ("post_id", "url", "title", "published_at", "captured_at", "account", "currency")
FIELDS = (*KEYS, *METRICS)


class MetricMapping(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    platform: str = Field(pattern=r"^[a-z0-9][a-z0-9_]*$")
    name_zh: str
    name_en: str
    export: str = Field(min_length=3, description="Which export of the platform this reads, as a person finds it")
    cumulative: bool = Field(description="True: totals since publication as of the export; False: per-day figures")
    timezone: str = "Asia/Shanghai"
    currency: str = Field(default="CNY", pattern=r"^[A-Z]{3}$")
    columns: dict[str, tuple[str, ...]]

    @field_validator("columns")
    @classmethod
    def _known_fields(cls, value: dict[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
        unknown = sorted(set(value) - set(FIELDS))
        if unknown:
            raise ValueError(f"unknown fields {unknown}; known: {list(FIELDS)}")
        if not {"post_id", "url", "title"} & set(value):
            raise ValueError("a mapping needs at least one of post_id, url, title to find the post")
        return value

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        ZoneInfo(value)
        return value

    @model_validator(mode="after")
    def _daily_needs_date(self) -> MetricMapping:
        if not self.cumulative and "captured_at" not in self.columns:
            raise ValueError("a per-day export needs a captured_at (date) column")
        return self

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def header_index(self) -> dict[str, str]:
        """Normalised header text -> field."""
        out: dict[str, str] = {}
        for fld, aliases in self.columns.items():
            for alias in aliases:
                out[normalise_header(alias)] = fld
        return out


_BRACKETS = re.compile(r"[(\[（【<《].*?[)\]）】>》]")


def normalise_header(text: str) -> str:
    """Headers differ in width, case, spaces and unit suffixes: '成交金额（元）' == '成交金额'."""
    folded = unicodedata.normalize("NFKC", str(text)).strip().lower()
    folded = _BRACKETS.sub("", folded)
    return re.sub(r"[\s_\-:：/]+", "", folded)


def load_mappings(directory: Path | None = None) -> dict[str, MetricMapping]:
    """Every mapping in the shipped directory, then `directory` (same platform name replaces)."""
    found: dict[str, MetricMapping] = {}
    for folder in (SHIPPED_DIR, directory):
        if folder is None or not folder.is_dir():
            continue
        for path in sorted(folder.glob("*.toml")):
            with path.open("rb") as fh:
                data = tomllib.load(fh)
            try:
                mapping = MetricMapping.model_validate(data)
            except ValueError as exc:
                raise ValueError(f"{path}: {exc}") from exc
            found[mapping.platform] = mapping
    return found


@lru_cache
def shipped_mappings() -> dict[str, MetricMapping]:
    return load_mappings()
