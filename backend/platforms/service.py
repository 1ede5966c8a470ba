"""The platform preset catalogue: shipped files plus the deployment's override directory, loaded once."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

from backend import errors
from backend.config import Settings, get_settings
from presets.loader import load_catalog
from presets.schema import Platform, PresetCatalog, RenditionPreset, UnknownPreset


@lru_cache(maxsize=4)
def _catalog_for(override_dir: Path | None) -> PresetCatalog:
    return load_catalog(override_dir)


def get_catalog(settings: Settings | None = None) -> PresetCatalog:
    """The one preset catalogue: shipped presets plus `settings.presets_dir` (default: the process's
    settings), cached per override directory, i.e. loaded once per process."""
    return _catalog_for((settings or get_settings()).presets_dir)


def get_preset(preset_id: str) -> RenditionPreset:
    try:
        return get_catalog().preset(preset_id)
    except UnknownPreset:
        raise errors.NotFound(key="preset-not-found", params={"id": preset_id}) from None


def figure_status(preset: RenditionPreset) -> dict[str, list[str]]:
    """Which of a preset's platform figures the platform documents and which are only commonly cited."""
    out: dict[str, list[str]] = {"documented": [], "commonly_cited": []}
    for name, figure in preset.figures().items():
        out[figure.source.status].append(name)
    return out


def preset_public(preset: RenditionPreset) -> dict[str, Any]:
    body = preset.model_dump(mode="json")
    body["figure_status"] = figure_status(preset)
    body["links"] = {
        "self": f"/api/v1/presets/{preset.id}",
        "platform": f"/api/v1/platforms#{preset.platform}",
    }
    return body


def platform_public(platform: Platform) -> dict[str, Any]:
    return {
        "id": platform.id,
        "name": platform.name.model_dump(),
        "presets": [p.id for p in platform.presets],
        "channels": [c.model_dump(mode="json") for c in platform.channels],
    }
