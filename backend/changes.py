"""Applying an edit (a PATCH body's `model_dump(exclude_unset=True)`) to a row, one way for every domain."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from backend.errors import BadRequest
from backend.sqltypes import utcnow


def apply_changes(
    row: Any, changes: Mapping[str, Any], allowed: Collection[str], *, hint: Mapping[str, str] | None = None
) -> None:
    """Set the named fields on `row` and stamp its `updated_at`. A field outside `allowed` is refused
    (400) before anything is changed; `hint` says where such a change is made instead, in each language
    ({"zh-CN": ..., "en": ...})."""
    refused = [key for key in changes if key not in allowed]
    if refused and hint:
        raise BadRequest(key="field-not-changeable-here", params={"field": refused[0], "hint": hint})
    if refused:
        raise BadRequest(key="field-not-changeable", params={"field": refused[0]})
    for key, value in changes.items():
        setattr(row, key, value)
    row.updated_at = utcnow()
