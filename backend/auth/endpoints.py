"""API keys (admin), sign-in sessions for the web app, a person's own profile, and people (admin)."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from backend.auth import service as auth
from backend.auth import sessions, users
from backend.auth.models import User
from backend.auth.schemas import (
    ApiKeyCreate,
    ApiKeyIssued,
    ApiKeyPublic,
    PasswordChange,
    ProfileUpdate,
    SessionPublic,
    SignIn,
    UserCreate,
    UserPublic,
    UserUpdate,
)
from backend.deps import (
    SESSION_COOKIE,
    Admin,
    CurrentKey,
    SessionDep,
    SettingsDep,
    SignedInDep,
    bearer_token,
    lookup_session,
)
from backend.errors import Unauthorized
from backend.responses import answers, problems

# One flat router (BodyGuard and the Allow header read its routes; included routers are not flattened).
router = APIRouter()


@router.get(
    "/api/v1/keys", tags=["api keys"], response_model=list[ApiKeyPublic], summary="List API keys", responses=problems(401, 403))
def list_keys(session: SessionDep, _: Admin) -> list[ApiKeyPublic]:
    return [ApiKeyPublic.model_validate(k) for k in auth.list_api_keys(session)]


@router.post(
    "/api/v1/keys", tags=["api keys"], response_model=ApiKeyIssued, status_code=201, summary="Issue a key (the token is shown once)",
    responses=problems(401, 400, 403),
)
def create_key(body: ApiKeyCreate, session: SessionDep, _: Admin) -> ApiKeyIssued:
    issued = auth.create_api_key(session, name=body.name, role=body.role)
    return ApiKeyIssued(**ApiKeyPublic.model_validate(issued.key).model_dump(), token=issued.token)


@router.delete(
    "/api/v1/keys/{key_id:uuid}", tags=["api keys"], response_model=ApiKeyPublic, summary="Revoke a key", responses=problems(401, 403, 404))
def revoke_key(key_id: uuid.UUID, session: SessionDep, _: Admin) -> ApiKeyPublic:
    return ApiKeyPublic.model_validate(auth.revoke_api_key(session, key_id))


@router.get(
    "/api/v1/keys/me", tags=["api keys"], responses=problems(401), response_model=ApiKeyPublic, summary="The key making this request")
def whoami(key: CurrentKey) -> ApiKeyPublic:
    return ApiKeyPublic.model_validate(key)


# --- sign-in ------------------------------------------------------------------------------------

def _session_public(signed_in: sessions.SignedIn) -> SessionPublic:
    s = signed_in.session
    return SessionPublic(
        user=UserPublic.model_validate(signed_in.user), csrf_token=s.csrf_token, created_at=s.created_at,
        expires_at=s.expires_at, absolute_expires_at=s.absolute_expires_at,
    )


def _secure(request: Request, settings: SettingsDep) -> bool:
    return settings.cookie_secure if settings.cookie_secure is not None else request.url.scheme == "https"


@router.post(
    "/api/v1/session", tags=["sign-in"], response_model=SessionPublic, summary="Sign in with a user name and password (sets the session cookie)",
    description=(
        "Answers the session and sets an HttpOnly, SameSite=Lax cookie (Secure over https). The session that "
        "cookie held before, if any, ends: each sign-in gets a new one. Requests that change something must then "
        "send `csrf_token` as `X-CSRF-Token`. Failed sign-ins are counted per user name and per address: past "
        "the limit the answer is 429 with Retry-After."
    ),
    responses=problems(401, 429),
)
async def sign_in(body: SignIn, request: Request, response: Response, settings: SettingsDep) -> SessionPublic:
    new = await run_in_threadpool(
        sessions.sign_in_recorded, settings, username=body.username, password=body.password,
        ip=request.client.host if request.client else "unknown", user_agent=request.headers.get("user-agent"),
        previous_token=request.cookies.get(SESSION_COOKIE),
    )
    response.set_cookie(
        SESSION_COOKIE, new.token, expires=new.signed_in.session.absolute_expires_at, path="/",
        httponly=True, samesite="lax", secure=_secure(request, settings),
    )
    return _session_public(new.signed_in)


@router.get(
    "/api/v1/session", tags=["sign-in"], response_model=SessionPublic,
    summary="The signed-in session, its person and CSRF token (204: not signed in)",
    description=(
        "200 with the session when the request carries a live session cookie; 204 with no body when it does not "
        "(no cookie, an ended or expired session, or an API key, which is not a session). The web app asks this "
        "when it starts, and not being signed in is no error there."
    ),
    responses=answers(204, "Not signed in"),
)
async def current_session(request: Request) -> Response | SessionPublic:
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie or bearer_token(request.headers.get("authorization"), request.headers.get("x-api-key")):
        return Response(status_code=204)
    try:
        signed_in = await run_in_threadpool(lookup_session, cookie, "GET", None)
    except Unauthorized:
        response = Response(status_code=204)
        response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="lax")
        return response
    return _session_public(signed_in)


@router.delete(
    "/api/v1/session", tags=["sign-in"], status_code=204, summary="Sign out (ends the session and clears the cookie)",
    responses={**answers(204, "Signed out"), **problems(401, 403)},
)
def sign_out(signed_in: SignedInDep, session: SessionDep, request: Request, settings: SettingsDep) -> Response:
    sessions.revoke_session(session, signed_in.session.id)
    response = Response(status_code=204)
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="lax", secure=_secure(request, settings))
    return response


# --- the signed-in person's own profile -----------------------------------------------------------

@router.patch(
    "/api/v1/me", tags=["sign-in"], response_model=UserPublic, summary="Change my display name, timezone or language", responses=problems(401, 403))
def update_profile(body: ProfileUpdate, signed_in: SignedInDep, session: SessionDep) -> UserPublic:
    user = users.get_user(session, signed_in.user.id)
    changes = users.UserChanges(**body.model_dump(exclude_unset=True))
    return UserPublic.model_validate(users.update_user(session, user, changes))


@router.post(
    "/api/v1/me/password", tags=["sign-in"], status_code=204, summary="Change my password (my other sessions end)",
    responses={**answers(204, "Changed"), **problems(401, 403)},
)
def change_password(body: PasswordChange, signed_in: SignedInDep, session: SessionDep) -> Response:
    user = users.get_user(session, signed_in.user.id)
    users.change_own_password(session, user, body.current_password, body.new_password, keep=signed_in.session.id)
    return Response(status_code=204)


# --- people (admin) -------------------------------------------------------------------------------

@router.get(
    "/api/v1/users", tags=["users"], responses=problems(401, 403), response_model=list[UserPublic], summary="List the people who can sign in")
def list_users(session: SessionDep, _: Admin) -> list[UserPublic]:
    return [UserPublic.model_validate(u) for u in users.list_users(session)]


@router.post(
    "/api/v1/users", tags=["users"], response_model=UserPublic, status_code=201, summary="Add a person", responses=problems(401, 403, 409))
def create_user(body: UserCreate, session: SessionDep, _: Admin) -> UserPublic:
    return UserPublic.model_validate(users.create_user(session, **body.model_dump()))


@router.get(
    "/api/v1/users/{user_id:uuid}", tags=["users"], response_model=UserPublic, summary="One person", responses=problems(401, 403, 404))
def get_user(user_id: uuid.UUID, session: SessionDep, _: Admin) -> UserPublic:
    return UserPublic.model_validate(users.get_user(session, user_id))


@router.patch(
    "/api/v1/users/{user_id:uuid}", tags=["users"], response_model=UserPublic, summary="Change a person's role, password, preferences; disable or enable",
    responses=problems(401, 403, 404, 409),
)
def update_user(user_id: uuid.UUID, body: UserUpdate, session: SessionDep, _: Admin) -> UserPublic:
    user: User = users.get_user(session, user_id)
    return UserPublic.model_validate(users.update_user(session, user, users.UserChanges(**body.model_dump(exclude_unset=True))))


@router.delete(
    "/api/v1/users/{user_id:uuid}/sessions", tags=["users"], status_code=204, summary="Sign a person out everywhere",
    responses={**answers(204, "Their sessions ended"), **problems(401, 403, 404)},
)
def end_sessions(user_id: uuid.UUID, session: SessionDep, _: Admin) -> Response:
    users.revoke_sessions(session, users.get_user(session, user_id).id)
    return Response(status_code=204)

