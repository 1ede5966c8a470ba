"""API key administration (admin role)."""

from __future__ import annotations

import uuid

from fastapi import APIRouter

from backend.auth import service as auth
from backend.auth.schemas import ApiKeyCreate, ApiKeyIssued, ApiKeyPublic
from backend.deps import Admin, CurrentKey, SessionDep
from backend.responses import problems

router = APIRouter(prefix="/api/v1/keys", tags=["api keys"], responses=problems(401))


@router.get("", response_model=list[ApiKeyPublic], summary="List API keys", responses=problems(403))
def list_keys(session: SessionDep, _: Admin) -> list[ApiKeyPublic]:
    return [ApiKeyPublic.model_validate(k) for k in auth.list_api_keys(session)]


@router.post(
    "", response_model=ApiKeyIssued, status_code=201, summary="Issue a key (the token is shown once)",
    responses=problems(400, 403),
)
def create_key(body: ApiKeyCreate, session: SessionDep, _: Admin) -> ApiKeyIssued:
    issued = auth.create_api_key(session, name=body.name, role=body.role)
    return ApiKeyIssued(**ApiKeyPublic.model_validate(issued.key).model_dump(), token=issued.token)


@router.delete("/{key_id:uuid}", response_model=ApiKeyPublic, summary="Revoke a key", responses=problems(403, 404))
def revoke_key(key_id: uuid.UUID, session: SessionDep, _: Admin) -> ApiKeyPublic:
    return ApiKeyPublic.model_validate(auth.revoke_api_key(session, key_id))


@router.get("/me", response_model=ApiKeyPublic, summary="The key making this request", tags=["api keys"])
def whoami(key: CurrentKey) -> ApiKeyPublic:
    return ApiKeyPublic.model_validate(key)
