"""Tag endpoints: the vocabulary content teams file materials under."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from backend.catalogue import tags as tag_service
from backend.catalogue.models import TagCategory
from backend.catalogue.schemas import TagCreate, TagPublic, TagUpdate
from backend.deps import Editor, SessionDep, Viewer
from backend.responses import problems
from backend.text import IntId, Text

router = APIRouter(prefix="/api/v1/tags", tags=["tags"], responses=problems(401))


@router.get("", response_model=list[TagPublic], summary="List tags")
def list_tags(
    session: SessionDep, _: Viewer, category: TagCategory | None = None,
    q: Annotated[Text | None, Query(max_length=100)] = None,
) -> list[TagPublic]:
    return [TagPublic.model_validate(t) for t in tag_service.list_tags(session, category=category, q=q)]


@router.post("", response_model=TagPublic, status_code=201, summary="Create a tag", responses=problems(400, 403, 409))
def create_tag(body: TagCreate, session: SessionDep, _: Editor, response: Response) -> TagPublic:
    tag = tag_service.create_tag(session, category=body.category, name_en=body.name_en, name_zh=body.name_zh)
    response.headers["Location"] = f"/api/v1/tags/{tag.id}"
    return TagPublic.model_validate(tag)


@router.get("/{tag_id}", response_model=TagPublic, summary="One tag", responses=problems(404))
def get_tag(tag_id: IntId, session: SessionDep, _: Viewer) -> TagPublic:
    return TagPublic.model_validate(tag_service.get_tag(session, tag_id))


@router.patch("/{tag_id}", response_model=TagPublic, summary="Rename a tag", responses=problems(400, 403, 404, 409))
def update_tag(tag_id: IntId, body: TagUpdate, session: SessionDep, _: Editor) -> TagPublic:
    return TagPublic.model_validate(tag_service.update_tag(session, tag_id, name_en=body.name_en, name_zh=body.name_zh))


@router.delete(
    "/{tag_id}", status_code=204, summary="Delete a tag (untags every material)", responses=problems(403, 404)
)
def delete_tag(tag_id: IntId, session: SessionDep, _: Editor) -> Response:
    tag_service.delete_tag(session, tag_id)
    return Response(status_code=204)
