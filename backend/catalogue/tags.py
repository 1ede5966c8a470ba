"""Tags: categories (rows an admin can add to) and tags with English and Chinese names, unique per
category; tags found or created idempotently, also under concurrency; tagging in bulk."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Sequence

from sqlalchemy import delete, func, or_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from backend.catalogue.models import Material, MaterialTag, Tag, TagCategory
from backend.errors import BadRequest, Conflict, NotFound, TagCategoryExists, TagCategoryUnknown
from backend.sqltypes import utcnow
from backend.text import INT32_MAX

_CATEGORY_ID = re.compile(r"^[a-z][a-z0-9_]{0,31}$")


# --------------------------------------------------------------------------- categories


def list_categories(session: Session) -> list[TagCategory]:
    return list(session.exec(select(TagCategory).order_by(col(TagCategory.created_at), col(TagCategory.id))))


def _categories_text(categories: Sequence[TagCategory]) -> dict[str, str]:
    return {
        "zh-CN": "、".join(f"{c.id}（{c.label_zh}）" for c in categories),
        "en": ", ".join(f"{c.id} ({c.label_en})" for c in categories),
    }


def get_category(session: Session, text: str) -> TagCategory:
    """The category a person typed: its id (`campaign`) or its Chinese or English label (`活动`,
    `Campaign`). The refusal lists every category in both languages and shows how to write a tag."""
    wanted = text.strip()
    categories = list_categories(session)
    for c in categories:
        if wanted.lower() in (c.id, c.label_en.lower()) or wanted == c.label_zh:
            return c
    raise TagCategoryUnknown(
        key="tag-category-unknown", params={"category": wanted, "categories": _categories_text(categories)},
        category=wanted,
        categories=[{"id": c.id, "label_zh": c.label_zh, "label_en": c.label_en} for c in categories],
    )


def create_category(session: Session, *, id: str, label_zh: str, label_en: str, inheritable: bool) -> TagCategory:
    category_id, label_zh, label_en = id.strip().lower(), label_zh.strip(), label_en.strip()
    if not _CATEGORY_ID.match(category_id):
        raise BadRequest(key="tag-category-id-malformed")
    if not label_zh or not label_en:
        raise BadRequest(key="tag-category-needs-labels")
    for c in list_categories(session):
        if category_id == c.id or label_zh == c.label_zh or label_en.lower() == c.label_en.lower():
            raise TagCategoryExists(key="tag-category-exists", params={"category": c.id}, category=c.id)
    category = TagCategory(id=category_id, label_zh=label_zh, label_en=label_en, inheritable=inheritable)
    session.add(category)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError as exc:
        raise TagCategoryExists(key="tag-category-exists", params={"category": category_id}) from exc
    return category


def inheritable_categories(session: Session) -> set[str]:
    return set(session.exec(select(TagCategory.id).where(col(TagCategory.inheritable).is_(True))))


# --------------------------------------------------------------------------- tags


def _clean(name: str | None) -> str | None:
    name = (name or "").strip()
    return name or None


def create_tag(session: Session, *, category: str, name_en: str | None, name_zh: str | None) -> Tag:
    """A new tag (409 when the category already has one of these names)."""
    category = get_category(session, category).id
    name_en, name_zh = _clean(name_en), _clean(name_zh)
    if not name_en and not name_zh:
        raise BadRequest(key="tag-needs-name")
    existing = _find_by_name(session, category, name_en, name_zh)
    if existing is not None:
        raise Conflict(key="tag-exists", params={"category": category}, tag_id=existing.id)
    tag = Tag(category=category, name_en=name_en, name_zh=name_zh)
    session.add(tag)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError as exc:
        raise Conflict(key="tag-exists", params={"category": category}) from exc
    return tag


def ensure_tag(session: Session, *, category: str, name_en: str | None, name_zh: str | None) -> Tag:
    """The tag with these names in the category, created if missing. Idempotent under concurrency: the
    insert does nothing when another transaction stored the same names first (it waits for that one to
    commit or roll back), and the tag is then read back."""
    name_en, name_zh = _clean(name_en), _clean(name_zh)
    if not name_en and not name_zh:
        raise BadRequest(key="tag-needs-name")
    found = _find_by_name(session, category, name_en, name_zh)
    if found is not None:
        return found
    values = {"category": category, "name_en": name_en, "name_zh": name_zh, "created_at": utcnow()}
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    # No conflict target: either unique key (category + English name, category + Chinese name) may clash.
    session.execute(insert(Tag).values(**values).on_conflict_do_nothing())
    found = _find_by_name(session, category, name_en, name_zh)
    if found is None:  # a clash on one name while the other differs: report it like create_tag does
        raise Conflict(key="tag-names-taken", params={"category": category})
    return found


def update_tag(session: Session, tag_id: int, *, name_en: str | None, name_zh: str | None) -> Tag:
    tag = get_tag(session, tag_id)
    if name_en is not None:
        tag.name_en = _clean(name_en)
    if name_zh is not None:
        tag.name_zh = _clean(name_zh)
    if not tag.name_en and not tag.name_zh:
        raise BadRequest(key="tag-needs-name")
    session.add(tag)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError as exc:
        raise Conflict(key="tag-name-taken") from exc
    return tag


def get_tag(session: Session, tag_id: int) -> Tag:
    tag = session.get(Tag, tag_id)
    if tag is None:
        raise NotFound(key="tag-not-found", params={"ref": str(tag_id)})
    return tag


def delete_tag(session: Session, tag_id: int) -> None:
    session.delete(get_tag(session, tag_id))
    session.flush()


def _find_by_name(session: Session, category: str, name_en: str | None, name_zh: str | None) -> Tag | None:
    conds = []
    if name_en:
        conds.append(func.lower(Tag.name_en) == name_en.lower())
    if name_zh:
        conds.append(col(Tag.name_zh) == name_zh)
    if not conds:
        return None
    return session.exec(select(Tag).where(Tag.category == category, or_(*conds))).first()


def list_tags(session: Session, *, category: str | None = None, q: str | None = None) -> list[Tag]:
    stmt = select(Tag)
    if category:
        stmt = stmt.where(Tag.category == get_category(session, category).id)
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
                raise NotFound(key="tag-not-found", params={"ref": str(ref)})
            tags.append(get_tag(session, int(ref)))
            continue
        category_text, sep, name = ref.replace("：", ":").partition(":")  # a full-width colon too
        if not sep or not name.strip():
            raise BadRequest(key="tag-ref-malformed", params={"ref": ref})
        category = get_category(session, category_text).id
        name = name.strip()
        is_zh = any(ord(ch) > 0x2E7F for ch in name)
        name_en, name_zh = (None, name) if is_zh else (name, None)
        found = _find_by_name(session, category, name_en, name_zh)
        if found is None:
            if not create:
                raise NotFound(key="tag-not-found", params={"ref": repr(ref)})
            found = ensure_tag(session, category=category, name_en=name_en, name_zh=name_zh)
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
        raise BadRequest(key="materials-none-given")
    found = set(session.exec(select(Material.id).where(Material.id.in_(ids))))  # type: ignore[attr-defined]
    missing = ids - found
    if missing:
        raise NotFound(key="materials-not-found", params={"count": len(missing)}, missing=sorted(str(m) for m in missing))
