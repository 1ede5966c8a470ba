"""Tags: categories with English and Chinese names, unique per category; tagging in bulk."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence

from sqlalchemy import delete, func, or_
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from backend.catalogue.models import Material, MaterialTag, Tag, TagCategory
from backend.errors import BadRequest, Conflict, NotFound
from backend.text import INT32_MAX


def _clean(name: str | None) -> str | None:
    name = (name or "").strip()
    return name or None


def create_tag(session: Session, *, category: TagCategory, name_en: str | None, name_zh: str | None) -> Tag:
    name_en, name_zh = _clean(name_en), _clean(name_zh)
    if not name_en and not name_zh:
        raise BadRequest("a tag needs an English or a Chinese name")
    existing = _find_by_name(session, category, name_en, name_zh)
    if existing is not None:
        raise Conflict(f"tag already exists in {category.value}", tag_id=existing.id)
    tag = Tag(category=category, name_en=name_en, name_zh=name_zh)
    session.add(tag)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError as exc:
        raise Conflict(f"tag already exists in {category.value}") from exc
    return tag


def update_tag(session: Session, tag_id: int, *, name_en: str | None, name_zh: str | None) -> Tag:
    tag = get_tag(session, tag_id)
    if name_en is not None:
        tag.name_en = _clean(name_en)
    if name_zh is not None:
        tag.name_zh = _clean(name_zh)
    if not tag.name_en and not tag.name_zh:
        raise BadRequest("a tag needs an English or a Chinese name")
    session.add(tag)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError as exc:
        raise Conflict("another tag in this category has that name") from exc
    return tag


def get_tag(session: Session, tag_id: int) -> Tag:
    tag = session.get(Tag, tag_id)
    if tag is None:
        raise NotFound(f"tag {tag_id} not found")
    return tag


def delete_tag(session: Session, tag_id: int) -> None:
    session.delete(get_tag(session, tag_id))
    session.flush()


def _find_by_name(session: Session, category: TagCategory, name_en: str | None, name_zh: str | None) -> Tag | None:
    conds = []
    if name_en:
        conds.append(func.lower(Tag.name_en) == name_en.lower())
    if name_zh:
        conds.append(col(Tag.name_zh) == name_zh)
    if not conds:
        return None
    return session.exec(select(Tag).where(Tag.category == category, or_(*conds))).first()


def list_tags(session: Session, *, category: TagCategory | None = None, q: str | None = None) -> list[Tag]:
    stmt = select(Tag)
    if category:
        stmt = stmt.where(Tag.category == category)
    if q:
        like = f"%{q.strip()}%"
        stmt = stmt.where(or_(Tag.name_en.ilike(like), Tag.name_zh.like(like)))  # type: ignore[union-attr]
    return list(session.exec(stmt.order_by(col(Tag.category), col(Tag.id))))


def resolve_tag_refs(session: Session, refs: Iterable[str], *, create: bool) -> list[Tag]:
    """Turn `"42"` or `"category:name"` (English or Chinese name) into tags, creating missing ones if asked."""
    tags: list[Tag] = []
    for raw in refs:
        ref = raw.strip()
        if not ref:
            continue
        if ref.isascii() and ref.isdigit():  # str.isdigit alone takes '²', which int() refuses
            if int(ref) > INT32_MAX:
                raise NotFound(f"tag {ref} not found")
            tags.append(get_tag(session, int(ref)))
            continue
        category_text, sep, name = ref.partition(":")
        if not sep or not name.strip():
            raise BadRequest(f"tag reference {ref!r} must be a tag id or 'category:name'")
        try:
            category = TagCategory(category_text.strip())
        except ValueError as exc:
            raise BadRequest(
                f"unknown tag category {category_text!r}; one of {', '.join(c.value for c in TagCategory)}"
            ) from exc
        name = name.strip()
        is_zh = any(ord(ch) > 0x2E7F for ch in name)
        found = _find_by_name(session, category, None if is_zh else name, name if is_zh else None)
        if found is None:
            if not create:
                raise NotFound(f"tag {ref!r} not found")
            found = create_tag(session, category=category, name_en=None if is_zh else name, name_zh=name if is_zh else None)
        tags.append(found)
    return list({t.id: t for t in tags}.values())


def tags_of(session: Session, material_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, list[Tag]]:
    """Each material's tags. Links are read as plain pairs and each distinct tag is loaded once: a
    page of 50 materials with 20 tags each shares far fewer than 1,000 tags."""
    out: dict[uuid.UUID, list[Tag]] = {mid: [] for mid in material_ids}
    if not material_ids:
        return out
    pairs = list(session.exec(
        select(MaterialTag.material_id, MaterialTag.tag_id).where(
            MaterialTag.material_id.in_(material_ids)  # type: ignore[attr-defined]
        )
    ))
    wanted = {tag_id for _, tag_id in pairs}
    tags = {t.id: t for t in session.exec(select(Tag).where(Tag.id.in_(wanted)))} if wanted else {}  # type: ignore[union-attr]
    for material_id, tag_id in pairs:
        out[material_id].append(tags[tag_id])
    for listed in out.values():
        listed.sort(key=lambda t: (t.category, t.id))
    return out


def tag_materials(session: Session, material_ids: Sequence[uuid.UUID], tag_ids: Sequence[int]) -> int:
    """Attach every tag to every material; returns the number of new links. Idempotent."""
    _require_materials(session, material_ids)
    for tid in tag_ids:
        get_tag(session, tid)
    existing = set(
        session.exec(
            select(MaterialTag.material_id, MaterialTag.tag_id).where(
                MaterialTag.material_id.in_(material_ids), MaterialTag.tag_id.in_(tag_ids)  # type: ignore[attr-defined]
            )
        )
    )
    added = 0
    for mid in dict.fromkeys(material_ids):
        for tid in dict.fromkeys(tag_ids):
            if (mid, tid) not in existing:
                session.add(MaterialTag(material_id=mid, tag_id=tid))
                added += 1
    session.flush()
    return added


def untag_materials(session: Session, material_ids: Sequence[uuid.UUID], tag_ids: Sequence[int]) -> int:
    _require_materials(session, material_ids)
    result = session.exec(
        delete(MaterialTag).where(
            MaterialTag.material_id.in_(material_ids), MaterialTag.tag_id.in_(tag_ids)  # type: ignore[attr-defined]
        )
    )
    session.flush()
    return int(result.rowcount or 0)


def _require_materials(session: Session, material_ids: Sequence[uuid.UUID]) -> None:
    ids = set(material_ids)
    if not ids:
        raise BadRequest("no material ids given")
    found = set(session.exec(select(Material.id).where(Material.id.in_(ids))))  # type: ignore[attr-defined]
    missing = ids - found
    if missing:
        raise NotFound(f"{len(missing)} material(s) not found", missing=sorted(str(m) for m in missing))
