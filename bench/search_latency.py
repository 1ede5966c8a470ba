"""Catalogue search latency with 100,000 materials carrying 20 tags each, on SQLite and PostgreSQL.

Each query goes through the real API (in-process ASGI client, API key, JSON serialisation), with
the filters content teams use: one tag, two tags (all), a category + orientation, free text in
Chinese and English, a duration range, sorting and a second page via the cursor. Each database is
queried from a fresh process, as a server would be (not from the process that just built two
million rows in Python, whose heap and collector state would be measured too).

    .venv/bin/python bench/search_latency.py [--materials 100000] [--repeats 30]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.common import machine, median, percentile, today, write_section  # noqa: E402

POSTGRES_ADMIN = os.environ.get("REELHOUSE_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
CATEGORIES = ["audience", "content_type", "product", "campaign", "style"]
WORDS_ZH = ["洗衣凝珠", "功能演示", "直播回放", "问答", "达人推荐", "开箱", "对比测试", "香味", "宝妈", "双11"]
WORDS_EN = ["demo", "unboxing", "review", "stain", "fresh", "laundry", "family", "promo", "tutorial", "compare"]


def seed(url: str, n_materials: int, tags_each: int = 20, n_tags: int = 500) -> dict[str, object]:
    from backend.migrations import upgrade

    upgrade(url)
    rnd = random.Random(7)
    engine = sa.create_engine(url)
    tags = [{"id": i + 1, "category": CATEGORIES[i % len(CATEGORIES)], "name_en": f"tag {i + 1}",
             "name_zh": f"标签{i + 1}", "created_at": datetime.now(UTC)} for i in range(n_tags)]
    now = datetime.now(UTC)
    materials, links = [], []
    for i in range(n_materials):
        portrait = rnd.random() < 0.6
        w, h = (1080, 1920) if portrait else (1920, 1080)
        mid = uuid.uuid4()
        materials.append({
            "id": mid, "title": f"{rnd.choice(WORDS_ZH)} {rnd.choice(WORDS_EN)} #{i}",
            "description": f"{rnd.choice(WORDS_ZH)}{rnd.choice(WORDS_ZH)} {rnd.choice(WORDS_EN)} clip",
            "media_type": "video", "kind": rnd.choice(["source", "derived", "derived", "derived"]),
            "status": "ready", "size_bytes": rnd.randint(10**6, 10**9), "duration_s": rnd.uniform(5, 3600),
            "display_width": w, "display_height": h, "width": w, "height": h, "rotation": 0,
            "is_vfr": False, "has_audio": True, "orientation": "portrait" if portrait else "landscape",
            "aspect_ratio": w / h, "created_at": now - timedelta(seconds=rnd.randint(0, 365 * 86400)),
            "updated_at": now, "sha256": uuid.uuid4().hex + uuid.uuid4().hex,
        })
        for tag_id in rnd.sample(range(1, n_tags + 1), tags_each):
            links.append((mid, tag_id))
    from backend.catalogue.models import Material, MaterialTag, Tag
    with engine.begin() as conn:
        conn.execute(sa.insert(Tag.__table__), tags)
        for start in range(0, len(materials), 5000):
            conn.execute(sa.insert(Material.__table__), materials[start : start + 5000])
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        if engine.dialect.name == "postgresql":
            buf = io.StringIO("".join(f"{m}\t{t}\n" for m, t in links))
            with cur.copy("COPY material_tag (material_id, tag_id) FROM STDIN") as copy:  # type: ignore[attr-defined]
                copy.write(buf.getvalue())
            raw.commit()
            # What autovacuum does after a bulk insert: statistics, and the visibility map that lets
            # tag lookups be index-only scans instead of visiting thousands of heap pages.
            raw.driver_connection.autocommit = True  # type: ignore[union-attr]
            cur.execute("VACUUM ANALYZE")
        else:
            cur.executemany("INSERT INTO material_tag (material_id, tag_id) VALUES (?, ?)",
                            [(m.hex, t) for m, t in links])
            cur.execute("ANALYZE")
        raw.commit()
    finally:
        raw.close()
    engine.dispose()
    _ = MaterialTag
    return {"links": len(links)}


QUERIES: list[tuple[str, dict[str, object]]] = [
    ("one tag", {"tag": [17]}),
    ("two tags, all", {"tag": [17, 42], "tag_mode": "all"}),
    ("three tags, any + portrait", {"tag": [3, 8, 99], "orientation": "portrait"}),
    ("category + kind", {"category": "campaign", "kind": "derived"}),
    ("duration range, longest first", {"min_duration": 15, "max_duration": 60, "sort": "-duration"}),
    ("aspect 9:16 + tag", {"aspect": "9:16", "tag": [250]}),
    ("free text zh", {"q": "功能演示"}),
    ("free text en", {"q": "unboxing"}),
    ("title sort, second page", {"sort": "title", "page": 2}),
    ("created range", {"created_after": "2026-06-01T00:00:00Z", "created_before": "2026-07-01T00:00:00Z"}),
]


def measure(url: str, data_dir: Path, repeats: int) -> dict[str, list[float]]:
    os.environ.update({"REELHOUSE_DATABASE_URL": url, "REELHOUSE_DATA_DIR": str(data_dir)})
    from fastapi.testclient import TestClient

    from backend.app import create_app
    from backend.auth.models import Role
    from backend.auth.service import create_api_key
    from backend.config import get_settings
    from backend.db import get_engine, session_scope
    from backend.objectstore import get_storage

    for cached in (get_settings, get_engine, get_storage):
        cached.cache_clear()
    with session_scope() as s:
        token = create_api_key(s, name="bench", role=Role.viewer).token
    timings: dict[str, list[float]] = {name: [] for name, _ in QUERIES}
    with TestClient(create_app(), headers={"Authorization": f"Bearer {token}"}) as client:
        for _ in range(3):  # warm caches
            for _, params in QUERIES:
                client.get("/api/v1/materials", params={k: v for k, v in params.items() if k != "page"})
        for _ in range(repeats):
            for name, params in QUERIES:
                params = dict(params)
                cursor = None
                if params.pop("page", None):
                    cursor = client.get("/api/v1/materials", params=params).json()["next_cursor"]
                    params["cursor"] = cursor
                t0 = time.perf_counter()
                res = client.get("/api/v1/materials", params=params)
                timings[name].append((time.perf_counter() - t0) * 1000)
                assert res.status_code == 200, res.text
    get_engine().dispose()
    return timings


def measure_in_fresh_process(url: str, data_dir: Path, repeats: int) -> dict[str, list[float]]:
    done = subprocess.run(
        [sys.executable, __file__, "--measure", url, "--data-dir", str(data_dir), "--repeats", str(repeats)],
        check=True, capture_output=True, text=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--materials", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--measure", metavar="URL", help=argparse.SUPPRESS)  # the child's job
    parser.add_argument("--data-dir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure, args.data_dir, args.repeats)))
        return
    results: dict[str, dict[str, list[float]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        sqlite_url = f"sqlite:///{tmp}/bench.db"
        t0 = time.perf_counter()
        info = seed(sqlite_url, args.materials)
        print(f"sqlite seeded in {time.perf_counter() - t0:.0f} s ({info['links']} tag links)", flush=True)
        results["SQLite"] = measure_in_fresh_process(sqlite_url, Path(tmp) / "data-sqlite", args.repeats)

        admin = sa.create_engine(POSTGRES_ADMIN, isolation_level="AUTOCOMMIT")
        name = f"reelhouse_bench_{uuid.uuid4().hex[:8]}"
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        pg_url = sa.engine.make_url(POSTGRES_ADMIN).set(database=name).render_as_string(hide_password=False)
        try:
            t0 = time.perf_counter()
            seed(pg_url, args.materials)
            print(f"postgres seeded in {time.perf_counter() - t0:.0f} s", flush=True)
            results["PostgreSQL"] = measure_in_fresh_process(pg_url, Path(tmp) / "data-pg", args.repeats)
        finally:
            with admin.connect() as conn:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

    lines = ["| query | SQLite p50 | SQLite p95 | PostgreSQL p50 | PostgreSQL p95 |", "|---|---|---|---|---|"]
    for qname, _ in QUERIES:
        row = [qname]
        for db in ("SQLite", "PostgreSQL"):
            values = results[db][qname]
            row += [f"{median(values):.1f} ms", f"{percentile(values, 95):.1f} ms"]
        lines.append("| " + " | ".join(row) + " |")
    overall = []
    for db in ("SQLite", "PostgreSQL"):
        every = [v for vs in results[db].values() for v in vs]
        overall.append(f"{db}: p50 {median(every):.1f} ms, p95 **{percentile(every, 95):.1f} ms**")
    body = f"""Measured {today()} on {machine()}, `bench/search_latency.py --materials {args.materials} --repeats {args.repeats}`.

{args.materials:,} materials, 20 tags each from 500 tags ({args.materials * 20:,} links), through the
API (in-process ASGI client with an API key, JSON responses of 50 materials with their tags).
Target: filtered search p95 under 50 ms.

{chr(10).join(lines)}

All queries: {'; '.join(overall)}.
"""
    write_section("Catalogue search latency (issue 2)", body)
    print(body)


if __name__ == "__main__":
    main()
