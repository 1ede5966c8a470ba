"""The reelhouse API application: routers, error rendering, start-up. Nothing heavy at import."""

from __future__ import annotations

import gc
import html
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse
from sqlalchemy import exc as sa_exc
from starlette.exceptions import HTTPException as StarletteHTTPException

from backend import errors
from backend.auth import endpoints as keys
from backend.autoclip import endpoints as autoclip_api
from backend.catalogue import endpoints as materials
from backend.catalogue import tag_endpoints as tags
from backend.compliance import endpoints as compliance
from backend.config import get_settings
from backend.guard import BodyGuard
from backend.health import endpoints as health
from backend.metrics import endpoints as metrics
from backend.platforms import endpoints as presets_api
from backend.proxies import endpoints as proxies_api
from backend.reframe import endpoints as reframe_api
from backend.renders import endpoints as renders_api
from backend.responses import (
    PROBLEM_JSON,
    PathMethods,
    SecurityHeaders,
    answer_language,
    problem_response,
    problems,
    validation_detail,
)
from backend.uploads import endpoints as tus
from backend.web import endpoints as web

log = logging.getLogger("reelhouse")



_HTTP_ERRORS: dict[int, type[errors.AppError]] = {
    400: errors.BadRequest, 401: errors.Unauthorized, 403: errors.Forbidden, 404: errors.NotFound,
    405: errors.MethodNotAllowed, 409: errors.Conflict, 410: errors.Gone, 413: errors.PayloadTooLarge, 415: errors.UnsupportedMediaType,
    416: errors.RangeNotSatisfiable, 503: errors.ServiceUnavailable,
}


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(errors.AppError)
    async def _app_error(request: Request, exc: errors.AppError) -> JSONResponse:
        return problem_response(exc, request)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [
            {"loc": list(e.get("loc", ())), "msg": e.get("msg"), "type": e.get("type")} for e in exc.errors()
        ]
        detail = validation_detail(exc.errors(), answer_language(request))
        return problem_response(errors.ValidationFailed(detail, errors=problems), request)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        cls = _HTTP_ERRORS.get(exc.status_code)
        if cls is None:
            body = {"type": "about:blank", "title": str(exc.detail), "status": exc.status_code}
            return JSONResponse(body, status_code=exc.status_code, media_type=PROBLEM_JSON)
        detail = exc.detail if isinstance(exc.detail, str) and exc.detail != cls.title else None
        where = {"method": request.method, "path": request.url.path}
        allow = request.app.state.path_methods.allowed(request.url.path) if exc.status_code == 405 else ""
        if exc.status_code == 404 and detail in (None, "Not Found"):
            problem = cls(key="endpoint-not-found", params=where)
        elif exc.status_code == 405 and detail in (None, "Method Not Allowed"):
            problem = cls(key="method-not-allowed", params={**where, "allow": allow})
        else:
            problem = cls(detail)
        response = problem_response(problem, request)
        if exc.status_code == 405:
            response.headers["Allow"] = allow
        return response

    @app.exception_handler(sa_exc.SQLAlchemyError)
    async def _database(request: Request, exc: Exception) -> JSONResponse:
        # A lost or refused connection (a database restart, a failover) is a 503 the client may
        # retry; the pool drops the dead connection (invalidation, pre-ping) and the next request
        # reconnects. Anything else from the database is a bug: 500, logged.
        problem = errors.database_error(exc)
        if problem is None:
            log.exception("database error on %s %s", request.method, request.url.path)
            problem = errors.AppError(key="unexpected-error")
        else:
            log.warning("database unavailable on %s %s: %s", request.method, request.url.path, exc)
        return problem_response(problem, request)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return problem_response(errors.AppError(key="unexpected-error"), request)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings = get_settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    settings.spool_dir.mkdir(parents=True, exist_ok=True)
    from fastapi.concurrency import run_in_threadpool

    from backend.objectstore import get_storage

    try:
        await run_in_threadpool(get_storage().ensure_bucket)
    except Exception:  # noqa: BLE001 - storage may come up later; /ready reports it meanwhile
        log.warning("storage is not reachable at start-up", exc_info=True)
    from backend.uploads.spool import cleanup_spool

    # Spool files of requests that died with a previous process (nobody holds them) go now.
    await run_in_threadpool(cleanup_spool, settings.spool_dir)
    # Everything loaded so far (modules, routes, schemas) lives as long as the process: move it out
    # of the collector's sight, or every full collection walks it again (~80 ms pauses in requests).
    gc.collect()
    gc.freeze()
    yield


API_DESCRIPTION = """reelhouse catalogues brand video material (live-stream footage, derived clips, platform
copies), re-cuts it into platform presets, and tracks channel quotas.

Every endpoint except `/health`, `/ready` and signing in needs an API key (`Authorization: Bearer rh_...`
or `X-API-Key`) or the web app's session cookie (`POST /api/v1/session`); a cookie-authenticated request
that changes something also sends the session's `X-CSRF-Token`. Errors are `application/problem+json` (RFC 9457); switch on `type`, listed at
`GET /problems`. Their `title` and `detail` are in Simplified Chinese unless `Accept-Language` asks for English
(`en`); `Content-Language` says which."""


def create_app() -> FastAPI:
    app = FastAPI(
        title="reelhouse",
        version="0.1.0",
        description=API_DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,  # served by backend/web from vendored Swagger UI assets (works offline)
        redoc_url=None,  # ReDoc would load its script from a CDN
    )
    install_error_handlers(app)
    modules = (health, keys, materials, tags, tus, web, compliance, metrics, presets_api, renders_api, autoclip_api, proxies_api, reframe_api)
    for module in modules:
        # Every API route takes parameters, headers or a body, so any of them can answer 422 (as
        # problem+json: FastAPI would otherwise declare its own JSON shape).
        app.include_router(module.router, responses=None if module in (health, web) else problems(422))
    # Key, size and nesting checked before a JSON body is read.
    app.add_middleware(BodyGuard, routers=[m.router for m in modules])
    app.add_middleware(SecurityHeaders)  # outermost: on every answer, the guard's refusals too

    @app.get("/problems", tags=["health"], summary="Every problem type this API returns")
    def problem_types(request: Request, response: Response) -> list[dict[str, Any]]:
        language = answer_language(request)
        response.headers["Content-Language"] = language
        response.headers["Vary"] = "Accept-Language"
        return [{"type": c.type_uri(), "title": c.title_in(language), "status": c.status} for c in errors.error_classes()]

    @app.get(
        "/problems/{slug}", tags=["health"], summary="One problem type", response_class=HTMLResponse,
        responses=problems(404, 422),
    )
    def problem_type(slug: str, request: Request) -> HTMLResponse:
        language = answer_language(request)
        for c in errors.error_classes():
            if c.slug == slug:
                return HTMLResponse(
                    f'<!doctype html><html lang="{language}"><meta charset="utf-8"><h1>{html.escape(c.title_in(language))}</h1>'
                    f"<p>HTTP {c.status}. Type <code>{c.type_uri()}</code>.</p></html>",
                    headers={"Content-Language": language, "Vary": "Accept-Language"},
                )
        raise errors.NotFound(key="problem-type-not-found", params={"slug": slug})

    app.state.path_methods = PathMethods([app.router, *(module.router for module in modules)])
    return app
