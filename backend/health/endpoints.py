"""Liveness and readiness: is the process up, and can it reach its database, storage and broker."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from sqlalchemy import text

from backend import queue
from backend.db import get_engine
from backend.objectstore import get_storage

router = APIRouter(tags=["health"])


@router.get("/health", summary="Liveness: the process answers")
async def health() -> dict[str, str]:  # on the loop: liveness must not queue behind a busy thread pool
    return {"status": "ok"}


def _check_database() -> None:
    with get_engine().connect() as conn:
        conn.execute(text("SELECT 1"))


def _check_storage() -> None:
    get_storage().healthcheck()


@router.get(
    "/ready",
    summary="Readiness: database, storage and broker reachable",
    responses={503: {"description": "Not ready: `checks` names what is unreachable", "content": {"application/json": {}}}},
)
async def ready() -> JSONResponse:
    checks: dict[str, Any] = {}
    ok = True
    for name, check in (("database", _check_database), ("storage", _check_storage), ("broker", queue.check_broker)):
        try:
            await run_in_threadpool(check)
            checks[name] = "ok"
        except Exception as exc:  # noqa: BLE001 - report every failure, whatever it is
            ok = False
            checks[name] = f"error: {type(exc).__name__}: {exc}"[:300]
    return JSONResponse({"status": "ok" if ok else "unavailable", "checks": checks}, status_code=200 if ok else 503)
