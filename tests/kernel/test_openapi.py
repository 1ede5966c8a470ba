"""The OpenAPI document, read without a server: errors are declared as problem+json with their schema,
files and tables with their own media types, and no route claims statuses it cannot give."""

from __future__ import annotations

from typing import Any

import pytest


@pytest.fixture(scope="module")
def openapi() -> dict[str, Any]:
    from backend.app import create_app

    return create_app().openapi()


def _operations(openapi: dict[str, Any]):  # type: ignore[no-untyped-def]
    for path, item in openapi["paths"].items():
        for method, operation in item.items():
            yield f"{method.upper()} {path}", operation


def test_every_error_is_problem_json(openapi: dict[str, Any]) -> None:
    assert "HTTPValidationError" not in openapi.get("components", {}).get("schemas", {})
    for label, operation in _operations(openapi):
        for status, response in operation["responses"].items():
            if status.startswith(("4", "5")) and status != "503":
                assert list(response["content"]) == ["application/problem+json"], (label, status)
                assert response["content"]["application/problem+json"]["schema"]["required"] == ["type", "title", "status"]


def test_routes_declare_what_they_answer(openapi: dict[str, Any]) -> None:
    ops = dict(_operations(openapi))
    assert set(ops["GET /health"]["responses"]) == {"200"}
    assert set(ops["GET /ready"]["responses"]) == {"200", "503"}
    file = ops["GET /api/v1/materials/{material_id}/file"]["responses"]
    assert {"200", "206", "304", "307", "401", "404", "410", "416", "422"} <= set(file)
    assert {"video/*", "audio/*", "image/*"} <= set(file["200"]["content"])
    rollups = ops["GET /api/v1/metrics/rollups"]["responses"]["200"]["content"]
    assert {"application/json", "text/csv", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"} <= set(rollups)
    assert "text/html" in ops["GET /api/v1/reports/monthly/{month}"]["responses"]["200"]["content"]
    # A viewer route cannot be refused for the role; an editor route can.
    assert "403" not in ops["GET /api/v1/materials"]["responses"]
    assert "403" in ops["PATCH /api/v1/materials/{material_id}"]["responses"]
    for label, operation in ops.items():
        # The tus routes (backend/uploads) declare their protocol's answers on their own; asking whether
        # anyone is signed in answers 204 (no) rather than 401.
        if label.startswith(("GET /api", "POST /api", "PATCH /api", "DELETE /api")) and "/uploads" not in label \
                and label != "GET /api/v1/session":
            assert "401" in operation["responses"], label
