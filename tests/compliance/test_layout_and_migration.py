"""The compliance package's shape (pure rules, modules a reader can hold) and migration 0009's data step."""

from __future__ import annotations

import ast
import uuid
from pathlib import Path

import sqlalchemy as sa

from backend.migrations import upgrade
from backend.sqltypes import JSONColumn, UTCDateTime, utcnow
from tests.migrations.test_migrations import empty_database  # noqa: F401  (fixture: SQLite and PostgreSQL)

PACKAGE = Path(__file__).resolve().parents[2] / "backend" / "compliance"


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_rules_stay_pure_and_the_service_is_split_into_modules_of_a_screen_or_two():
    assert not (PACKAGE / "service.py").exists()
    assert {p.name for p in PACKAGE.glob("*.py")} >= {
        "accounts.py", "publications.py", "loader.py", "monthly.py", "export.py", "reports.py", "rules.py",
    }
    rules = _imports(PACKAGE / "rules.py")
    assert not {m for m in rules if m.split(".")[0] in {"sqlalchemy", "sqlmodel", "backend", "fastapi"}}
    for module in ("accounts.py", "publications.py", "loader.py", "monthly.py", "engine.py", "checks.py", "fit.py"):
        assert len((PACKAGE / module).read_text(encoding="utf-8").splitlines()) <= 400, module
    assert "fastapi" not in {m.split(".")[0] for p in PACKAGE.glob("*.py") if p.name != "endpoints.py" for m in _imports(p)}


def test_migration_0009_keeps_existing_channels_opening_as_before_and_adds_tmall_bounds(empty_database):  # noqa: F811
    url = empty_database
    upgrade(url, "0006_catalogue_sort_indexes")
    engine = sa.create_engine(url)
    tmall, douyin = uuid.uuid4(), uuid.uuid4()
    account = sa.table(
        "platform_account",
        *(sa.column(n, t) for n, t in (("id", sa.Uuid()), ("platform_id", sa.String()), ("name", sa.String()),
                                       ("timezone", sa.String()), ("created_at", UTCDateTime()), ("updated_at", UTCDateTime()))),
    )
    channel = sa.table(
        "account_channel",
        *(sa.column(n, t) for n, t in (("account_id", sa.Uuid()), ("channel_id", sa.String()), ("position", sa.Integer()),
                                       ("name_zh", sa.String()), ("name_en", sa.String()), ("requires", JSONColumn),
                                       ("overridden", JSONColumn), ("from_platform_rules", sa.Boolean()),
                                       ("updated_at", UTCDateTime()))),
    )
    now = utcnow()
    with engine.begin() as conn:
        for aid, platform in ((tmall, "tmall"), (douyin, "douyin")):
            conn.execute(account.insert().values(id=aid, platform_id=platform, name="店", timezone="Asia/Shanghai", created_at=now, updated_at=now))
        for aid, cid, position in ((tmall, "video", 0), (tmall, "shipai", 1), (douyin, "video", 0)):
            conn.execute(
                channel.insert().values(
                    account_id=aid, channel_id=cid, position=position, name_zh=cid, name_en=cid, requires=[],
                    overridden=[], from_platform_rules=True, updated_at=now,
                )
            )
    engine.dispose()
    upgrade(url)
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                sa.text(
                    "SELECT c.channel_id, a.platform_id, c.opens, c.media_types, c.aspects, c.max_duration_s "
                    "FROM account_channel c JOIN platform_account a ON a.id = c.account_id"
                )
            ).all()
    finally:
        engine.dispose()
    import json

    found = {
        (r[1], r[0]): (r[2], r[3] if isinstance(r[3], list) else json.loads(r[3]), r[4] if r[4] is None or isinstance(r[4], list) else json.loads(r[4]), r[5])
        for r in rows
    }
    assert found == {
        ("tmall", "video"): ("automatically", ["video"], ["3:4", "1:1", "16:9"], 60.0),
        ("tmall", "shipai"): ("automatically", ["video"], ["3:4"], 60.0),
        ("douyin", "video"): ("automatically", ["video"], None, None),
    }
