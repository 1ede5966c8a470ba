"""Benchmark: the monthly quota report for 50 accounts x 4 channels x 12 months over 200,000 publications.

Measures, on SQLite and on PostgreSQL, the median of several runs of:
  * engine   - the pure rule engine alone on in-memory publications (12 months of every account);
  * report   - `monthly_report` for one month: load accounts, channels and every publication up to as_of,
               evaluate, list the month's approved materials with their source footage, find gap fillers;
  * formats  - rendering that report as JSON, CSV, XLSX and HTML.

Usage:  .venv/bin/python bench/compliance_report.py [--runs 5] [--postgres URL] [--no-postgres] [--write]
--write appends a section to bench/RESULTS.md. The PostgreSQL database is created and dropped by the script.
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402

ACCOUNTS = 50
PUBLICATIONS = 200_000
SOURCES = 2_000
DERIVED = 40_000
MONTH = "2025-12"
SH = ZoneInfo("Asia/Shanghai")
AS_OF = datetime(2026, 1, 2, 12, tzinfo=SH)
DEFAULT_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def median_of(runs: int, fn: Callable[[], object]) -> tuple[float, object]:
    times, result = [], None
    for _ in range(runs):
        began = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - began)
    return statistics.median(times), result


def synthetic_rows(rng: random.Random) -> list[tuple]:
    """(account index, channel index, submitted, status, approved, rejected, withdrawn) over 2025."""
    start = datetime(2025, 1, 1, tzinfo=SH).timestamp()
    span = 365 * 86400
    rows = []
    for n in range(PUBLICATIONS):
        submitted = datetime.fromtimestamp(start + rng.random() * span, UTC)
        roll = rng.random()
        approved = rejected = withdrawn = None
        if roll < 0.75:
            status, approved = "approved", submitted + timedelta(hours=rng.randint(1, 96))
        elif roll < 0.85:
            status, rejected = "rejected", submitted + timedelta(hours=rng.randint(1, 96))
        elif roll < 0.9:
            status, approved = "withdrawn", submitted + timedelta(hours=1)
            withdrawn = submitted + timedelta(days=rng.randint(1, 60))
        else:
            status = "pending"
        rows.append((n % ACCOUNTS, (n // ACCOUNTS) % 4, submitted, status, approved, rejected, withdrawn))
    return rows


EXTRA_CHANNELS = (
    {
        "channel_id": "live",
        "name_zh": "直播切片",
        "name_en": "Live clips",
        "requires": ["shipai"],
        "opening_threshold": 3,
    },
    {
        "channel_id": "guangguang",
        "name_zh": "逛逛",
        "name_en": "Browse",
        "monthly_minimum": 4,
        "count_by": "submission_date",
    },
)


def bench_engine(rows: list[tuple], runs: int) -> float:
    from backend.compliance.rules import (
        Account,
        ChannelRule,
        ManualOverride,
        OverrideKind,
        Publication,
        YearMonth,
        ledgers_by_account,
    )

    channels = (
        ChannelRule("video", "视频", "Video"),
        ChannelRule(
            "shipai",
            "实拍",
            "Real shot",
            requires=("video",),
            opening_threshold=5,
            monthly_minimum=6,
            threshold_source="prerequisites",
        ),
        ChannelRule("live", "直播切片", "Live clips", requires=("shipai",), opening_threshold=3),
        ChannelRule("guangguang", "逛逛", "Browse", monthly_minimum=4, count_by="submission_date"),
    )
    opened = ManualOverride("video", OverrideKind.OPEN, "opened by the platform", date(2025, 1, 1))
    accounts = [Account(i, channels, (opened,)) for i in range(ACCOUNTS)]
    pubs = [
        Publication(n, a, channels[c].id, s, st, ap, rj, wd)
        for n, (a, c, s, st, ap, rj, wd) in enumerate(rows)
    ]
    months = [YearMonth(2025, m) for m in range(1, 13)]

    def run() -> int:
        ledgers = ledgers_by_account(accounts, pubs, AS_OF)
        return sum(len(ledger.months(months)) for ledger in ledgers.values())

    seconds, count = median_of(runs, run)
    assert count == ACCOUNTS * 12
    return seconds


def populate(url: str, rows: list[tuple], rng: random.Random) -> None:
    from sqlmodel import Session

    from backend.catalogue.models import Material
    from backend.compliance import accounts as compliance
    from backend.compliance.models import Publication, PublicationEvent
    from backend.db import make_engine
    from backend.migrations import upgrade
    upgrade(url)
    engine = make_engine(url)
    with Session(engine) as session:
        accounts = [
            compliance.create_account(session, platform_id="tmall", name=f"店铺 {i:02d}")
            for i in range(ACCOUNTS)
        ]
        for account in accounts:
            for extra in EXTRA_CHANNELS:
                compliance.add_channel(
                    session,
                    account.id,
                    extra["channel_id"],
                    {k: v for k, v in extra.items() if k != "channel_id"},
                )
            compliance.update_channel(
                session,
                account.id,
                "video",
                {"manual_state": "open", "manual_effective_on": date(2025, 1, 1), "manual_reason": "opened"},
            )
        session.commit()
        account_ids = [a.id for a in accounts]
    now = datetime.now(UTC)
    m = Material.__table__
    sources = [uuid.uuid4() for _ in range(SOURCES)]
    derived = [uuid.uuid4() for _ in range(DERIVED)]
    base = {
        "description": "",
        "media_type": "video",
        "size_bytes": 0,
        "rotation": 0,
        "is_vfr": False,
        "has_audio": True,
        "created_at": now,
        "updated_at": now,
    }
    material_rows = [
        {
            **base,
            "id": s,
            "title": f"直播回放 {i}",
            "kind": "source",
            "status": "ready",
            "parent_id": None,
            "preset_id": None,
        }
        for i, s in enumerate(sources)
    ]
    material_rows += [
        {
            **base,
            "id": d,
            "title": f"切片 {i}",
            "kind": "derived",
            "status": "ready",
            "parent_id": sources[i % SOURCES],
            "preset_id": "tmall.shipai_3x4",
        }
        for i, d in enumerate(derived)
    ]
    channel_ids = ("video", "shipai", "live", "guangguang")
    p = Publication.__table__
    pub_rows = []
    for n, (a, c, s, st, ap, rj, wd) in enumerate(rows):
        pub_rows.append(
            {
                "id": uuid.uuid4(),
                "material_id": derived[rng.randrange(DERIVED // 2)],
                "account_id": account_ids[a],
                "channel_id": channel_ids[c],
                "submitted_at": s,
                "platform_post_id": f"P{n}",
                "post_url": None,
                "status": st,
                "rejection_reason": None,
                "approved_at": ap,
                "rejected_at": rj,
                "withdrawn_at": wd,
                "resubmission_of": None,
                "created_by": None,
                "created_at": now,
                "updated_at": now,
            }
        )
    with engine.begin() as conn:
        for i in range(0, len(material_rows), 5000):
            conn.execute(m.insert(), material_rows[i : i + 5000])
        for i in range(0, len(pub_rows), 10000):
            conn.execute(p.insert(), pub_rows[i : i + 10000])
        conn.execute(
            PublicationEvent.__table__.insert(),
            [
                {"publication_id": r["id"], "to_status": r["status"], "recorded_at": now, "note": ""}
                for r in pub_rows[:1000]
            ],
        )
        if url.startswith("postgresql"):
            conn.execute(sa.text("ANALYZE"))
    engine.dispose()


def bench_database(url: str, runs: int) -> dict[str, float]:
    from sqlmodel import Session

    from backend.compliance import monthly
    from backend.compliance.export import FORMATS, render
    from backend.db import make_engine

    began = time.perf_counter()
    populate(url, synthetic_rows(random.Random(5)), random.Random(7))
    setup = time.perf_counter() - began
    # The synthetic rows are gone now: a live heap of 200,000 of them would make every garbage collection
    # during the timed runs walk them, which says nothing about the report.
    gc.collect()
    engine = make_engine(url)

    def report() -> monthly.MonthlyReport:
        with Session(engine) as session:
            return monthly.monthly_report(session, MONTH, AS_OF)

    report()  # warm the connection pool and the presets cache
    seconds, result = median_of(runs, report)
    assert isinstance(result, monthly.MonthlyReport) and len(result.accounts) == ACCOUNTS
    approved = sum(len(a.approved) for a in result.accounts)
    out = {"setup": setup, "report": seconds, "approved_listed": approved}
    for fmt in FORMATS:
        out[fmt], _ = median_of(runs, lambda fmt=fmt: render(result, fmt))
    engine.dispose()
    return out


def machine() -> str:
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} CPUs (nproc), {model}; Python {platform.python_version()}, {platform.system()}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--postgres", default=os.environ.get("REELHOUSE_TEST_POSTGRES_URL", DEFAULT_POSTGRES))
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--write", action="store_true", help="append the results to bench/RESULTS.md")
    args = parser.parse_args()
    runs = max(5, args.runs)

    load_before = os.getloadavg()[0]
    results: dict[str, dict[str, float]] = {}
    engine_s = bench_engine(synthetic_rows(random.Random(5)), runs)
    print(f"engine only, 12 months x {ACCOUNTS} accounts: {engine_s:.3f} s", flush=True)

    with tempfile.TemporaryDirectory() as tmp:
        results["SQLite"] = bench_database(f"sqlite:///{tmp}/bench.db", runs)
        print("SQLite", {k: round(v, 3) for k, v in results["SQLite"].items()}, flush=True)

    if not args.no_postgres:
        admin = sa.create_engine(args.postgres, isolation_level="AUTOCOMMIT")
        name = f"reelhouse_bench_{uuid.uuid4().hex[:8]}"
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        try:
            url = sa.engine.make_url(args.postgres).set(database=name).render_as_string(hide_password=False)
            results["PostgreSQL"] = bench_database(url, runs)
            print("PostgreSQL", {k: round(v, 3) for k, v in results["PostgreSQL"].items()}, flush=True)
            with admin.connect() as conn:
                version = conn.execute(sa.text("SHOW server_version")).scalar()
        finally:
            with admin.connect() as conn:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()

    if args.write:
        import sqlite3

        lines = [
            "",
            f"## Monthly quota report ({date.today().isoformat()})",
            "",
            f"`bench/compliance_report.py`: {ACCOUNTS} Tmall accounts x 4 channels, {PUBLICATIONS:,} "
            "publications over 12 months of 2025 (75% approved, 10% rejected, 5% withdrawn later, 10% "
            "pending), "
            f"{SOURCES:,} source and {DERIVED:,} derived materials. Report for {MONTH} as of "
            f"{AS_OF.isoformat()}; median of {runs} runs.",
            "",
            f"Machine: {machine()}. SQLite {sqlite3.sqlite_version}"
            + (f", PostgreSQL {version} (local)." if "PostgreSQL" in results else ".")
            + f" Load average (1 min) {load_before:.1f} before and {os.getloadavg()[0]:.1f} after the run:"
            " the machine was shared with other work, so these are upper bounds.",
            "",
            "| step | SQLite (s) | PostgreSQL (s) |",
            "|---|---|---|",
            f"| engine alone: 12 months x 50 accounts, in memory | {engine_s:.3f} | {engine_s:.3f} |",
        ]
        labels = {
            "report": "**monthly_report** (load + evaluate + lineage + fillers)",
            "json": "render JSON",
            "csv": "render CSV",
            "xlsx": "render XLSX",
            "html": "render HTML (inline SVG)",
        }
        for key, label in labels.items():
            pg = results.get("PostgreSQL", {}).get(key)
            lines.append(f"| {label} | {results['SQLite'][key]:.3f} | {'-' if pg is None else f'{pg:.3f}'} |")
        lines += ["", "Target: under 2 s for the monthly report."]
        with (ROOT / "bench" / "RESULTS.md").open("a", encoding="utf-8") as fh:
            fh.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
