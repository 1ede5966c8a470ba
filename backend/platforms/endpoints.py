"""Platform presets: every figure with its source and whether the platform documents it."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query

from backend.deps import Viewer
from backend.platforms import service as preset_service
from backend.responses import problems
from backend.text import Text

router = APIRouter(tags=["presets"], responses=problems(401))

API = "/api/v1"


@router.get(f"{API}/presets", summary="List rendition presets")
def list_presets(
    _: Viewer, platform: Annotated[Text | None, Query(max_length=64, description="Only this platform's presets")] = None
) -> dict[str, Any]:
    items = [
        preset_service.preset_public(p)
        for p in preset_service.get_catalog().presets()
        if platform is None or p.platform == platform
    ]
    return {"items": items, "count": len(items)}


@router.get(f"{API}/presets/{{preset_id}}", summary="One rendition preset", responses=problems(404))
def get_preset(preset_id: Annotated[Text, Path(max_length=100)], _: Viewer) -> dict[str, Any]:
    return preset_service.preset_public(preset_service.get_preset(preset_id))


@router.get(f"{API}/platforms", summary="Platforms, their presets and channel rules")
def list_platforms(_: Viewer) -> dict[str, Any]:
    items = [preset_service.platform_public(p) for p in preset_service.get_catalog().platforms]
    return {"items": items, "count": len(items)}
