"""Smart reframe: the suggested camera path of a material for a preset and ranges (from its stored
analysis), and a strip of frames with the crop window drawn, to check a path before rendering."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Response

from backend.deps import SessionDep, StorageDep, Viewer
from backend.reframe import service as reframe
from backend.reframe.schemas import ReframePreviewRequest, ReframePublic, ReframeRequest
from backend.responses import answers, problems

router = APIRouter(tags=["reframe"], responses=problems(401))

API = "/api/v1"


@router.post(
    f"{API}/materials/{{material_id}}/reframe",
    response_model=ReframePublic,
    summary="Suggest a smart-reframe camera path",
    responses=problems(400, 404, 409),
    description="Follows the host (and the product card, when both fit) shot by shot from the material's "
    "newest analysis, without decoding the video again: the window holds still while the subject stays in "
    "it and makes a short eased pan when the subject is about to leave (per shot: hold, pan or track); a shot change "
    "resets the camera; a face seen once (a false detection, a passer-by) does not move it. Returns "
    "keyframes to send as a render's `crop_path` (edit them freely) with the per-shot moves. 409 "
    "reframe-needs-analysis until the material has been analysed.",
)
def suggest_path(material_id: uuid.UUID, body: ReframeRequest, _: Viewer, session: SessionDep) -> ReframePublic:
    return reframe.suggest(session, material_id, body)


@router.post(
    f"{API}/materials/{{material_id}}/reframe/preview",
    summary="A strip of frames with the crop window drawn",
    response_class=Response,
    responses={**answers(200, "JPEG strip: frames spread over the output, the window outlined", "image/jpeg"), **problems(400, 404, 409)},
    description="Draws `crop_path` (an edited path) or, without it, the suggested one on frames spread "
    "over the output, so the framing can be checked before rendering.",
)
def preview_path(
    material_id: uuid.UUID,
    body: ReframePreviewRequest,
    _: Viewer,
    session: SessionDep,
    storage: StorageDep,
) -> Response:
    data = reframe.preview_strip(session, storage, material_id, body, body.crop_path, body.frames)
    return Response(data, media_type="image/jpeg", headers={"Cache-Control": "no-store"})
