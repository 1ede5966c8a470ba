"""Tag endpoints: the vocabulary content teams file materials under, and its categories."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from backend.catalogue import tags as tag_service
from backend.catalogue.schemas import TagCategoryCreate, TagCategoryPublic, TagCreate, TagPublic, TagUpdate
from backend.deps import Admin, Editor, SessionDep, Viewer
from backend.responses import problems
from backend.text import IntId, Text

router = APIRouter(tags=["tags"], responses=problems(401))
TAGS = "/api/v1/tags"
CATEGORIES = "/api/v1/tag-categories"


@router.get(CATEGORIES, response_model=list[TagCategoryPublic], summary="List tag categories")
def list_categories(session: SessionDep, _: Viewer) -> list[TagCategoryPublic]:
    return [TagCategoryPublic.model_validate(c) for c in tag_service.list_categories(session)]


@router.post(
    CATEGORIES, response_model=TagCategoryPublic, status_code=201, summary="Add a tag category (admin)",
    responses=problems(400, 403, 409),
    description="`inheritable`: whether a rendition takes its source's tags of this category.",
)
def create_category(body: TagCategoryCreate, session: SessionDep, _: Admin, response: Response) -> TagCategoryPublic:
    category = tag_service.create_category(
        session, id=body.id, label_zh=body.label_zh, label_en=body.label_en, inheritable=body.inheritable
    )
    response.headers["Location"] = CATEGORIES
    return TagCategoryPublic.model_validate(category)


@router.get(TAGS, response_model=list[TagPublic], summary="List tags")
def list_tags(
    session: SessionDep, _: Viewer,
    category: Annotated[Text | None, Query(max_length=100, description="Category id or label")] = None,
    q: Annotated[Text | None, Query(max_length=100)] = None,
) -> list[TagPublic]:
    return [TagPublic.model_validate(t) for t in tag_service.list_tags(session, category=category, q=q)]


@router.post(TAGS, response_model=TagPublic, status_code=201, summary="Create a tag", responses=problems(400, 403, 409))
def create_tag(body: TagCreate, session: SessionDep, _: Editor, response: Response) -> TagPublic:
    tag = tag_service.create_tag(session, category=body.category, name_en=body.name_en, name_zh=body.name_zh)
    response.headers["Location"] = f"{TAGS}/{tag.id}"
    return TagPublic.model_validate(tag)


@router.get(f"{TAGS}/{{tag_id}}", response_model=TagPublic, summary="One tag", responses=problems(404))
def get_tag(tag_id: IntId, session: SessionDep, _: Viewer) -> TagPublic:
    return TagPublic.model_validate(tag_service.get_tag(session, tag_id))


@router.patch(f"{TAGS}/{{tag_id}}", response_model=TagPublic, summary="Rename a tag", responses=problems(400, 403, 404, 409))
def update_tag(tag_id: IntId, body: TagUpdate, session: SessionDep, _: Editor) -> TagPublic:
    return TagPublic.model_validate(tag_service.update_tag(session, tag_id, name_en=body.name_en, name_zh=body.name_zh))


@router.delete(
    f"{TAGS}/{{tag_id}}", status_code=204, summary="Delete a tag (untags every material)", responses=problems(403, 404)
)
def delete_tag(tag_id: IntId, session: SessionDep, _: Editor) -> Response:
    tag_service.delete_tag(session, tag_id)
    return Response(status_code=204)
