"""The web app at scale (issue 19's performance proof): the library's first page and the quota
dashboard with 100,000 materials and 200,000 publications.

Seeds a fresh PostgreSQL database (dropped at the end) with a realistic catalogue: live-stream sources
and the clips derived from them (lineage, recipe), tags in several categories (a clip inherits most of
its source's), Chinese titles, durations, orientations and statuses; 20 platform accounts (Douyin,
Xiaohongshu, T-mall, Kuaishou, JD ...; their channels from the platform rules) with 200,000
publications spread over 12 months. Rows go in with COPY (psycopg) in one pass each; no API.

Then runs the API server (uvicorn, as tests/live_server.py) on it and measures, as medians of 5:

  (a) the API calls the library screen makes for its first page: GET /api/v1/materials with the
      screen's default parameters (sort=-created_at, limit=40), /api/v1/tags and /api/v1/tag-categories;
  (b) the compliance status document the dashboard screen shows (GET /api/v1/compliance/status);
  (c) in Debian's Chromium (Playwright, signed in as a web user), new tabs taking turns: the library
      from navigation to the grid's first page of cards visible, and the quota dashboard from navigation
      to its channel cards visible and then to every chart drawn (the screen's render finished), with
      the page's own clock at the next painted frame and the machine's load average after each round.

    .venv/bin/python bench/web_scale.py [--materials 100000] [--publications 200000] [--repeats 5]
          [--baseline /work/main] [--keep] [--out bench/out/web_scale.json]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from bench.common import machine, median, today  # noqa: E402
from tests import live_server  # noqa: E402
from tests.live_server import Server, free_port  # noqa: E402

POSTGRES_ADMIN = os.environ.get("REELHOUSE_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
PASSWORD = "直播剪辑-2026!"
USER = "bench_admin"

PRODUCTS = ["洗衣凝珠", "柔顺剂", "洗衣液", "除菌喷雾", "护手霜", "沐浴露", "洗发水", "香氛蜡烛"]
ANGLES = ["功能演示", "达人推荐", "开箱", "对比测试", "直播切片", "问答", "宝妈实测", "成分讲解", "限时福利", "场景种草"]
HOSTS = ["小美", "阿杰", "琳琳", "大雄", "主播萌萌", "品牌官方"]
TAGS: dict[str, list[tuple[str, str]]] = {
    "audience": [("宝妈", "moms"), ("学生", "students"), ("白领", "office workers"), ("银发", "seniors"), ("男士", "men")],
    "content_type": [("直播回放", "live replay"), ("切片", "clip"), ("测评", "review"), ("教程", "tutorial"),
                     ("开箱", "unboxing"), ("剧情", "skit"), ("口播", "talking head")],
    "product": [(p, f"product {i}") for i, p in enumerate(PRODUCTS)],
    "campaign": [("双11", "11.11"), ("618", "618"), ("年货节", "new year"), ("38女王节", "queen's day"),
                 ("99大促", "9.9"), ("新品首发", "launch"), ("会员日", "members' day"), ("春季上新", "spring")],
    "style": [("温馨", "warm"), ("搞笑", "funny"), ("专业", "expert"), ("快节奏", "fast"), ("治愈", "soothing"),
              ("高级感", "premium")],
    "platform": [("抖音", "Douyin"), ("小红书", "Xiaohongshu"), ("天猫", "T-mall"), ("快手", "Kuaishou")],
}
# (platform_id, accounts): 20 accounts in all.
ACCOUNTS = [("douyin", 6), ("xiaohongshu", 5), ("tmall", 4), ("kuaishou", 3), ("jd", 2)]


# --- the database -------------------------------------------------------------------------------


def create_database() -> tuple[str, str]:
    name = f"reelhouse_bench_web_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(POSTGRES_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    url = sa.engine.make_url(POSTGRES_ADMIN).set(database=name).render_as_string(hide_password=False)
    return name, url


def drop_database(name: str) -> None:
    admin = sa.create_engine(POSTGRES_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _copy(raw: Any, table: str, columns: list[str], rows: list[tuple[Any, ...]]) -> None:
    cur = raw.cursor()
    with cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def seed(url: str, n_materials: int, n_publications: int) -> dict[str, Any]:
    """The catalogue and the publications, in COPY batches; returns what the run needs (counts, a user)."""
    from backend.migrations import upgrade

    t0 = time.perf_counter()
    upgrade(url)
    rnd = random.Random(19)
    now = datetime.now(UTC).replace(microsecond=0)
    engine = sa.create_engine(url)

    # Tags: the seeded categories, a few dozen tags each (plus a long tail in `other`).
    with engine.begin() as conn:
        tag_ids: dict[str, list[int]] = {}
        for category, names in {**TAGS, "other": [(f"杂项{i}", f"misc {i}") for i in range(60)]}.items():
            ids = conn.execute(sa.text(
                "INSERT INTO tag (category, name_zh, name_en, created_at) "
                "SELECT :c, x.zh, x.en, now() FROM unnest(CAST(:zh AS text[]), CAST(:en AS text[])) AS x(zh, en) RETURNING id"),
                {"c": category, "zh": [n[0] for n in names], "en": [n[1] for n in names]}).scalars().all()
            tag_ids[category] = list(ids)

    # Materials: ~8 % live-stream sources (long, landscape mostly), the rest clips derived from them
    # (portrait mostly, 5 s - 3 min, the source's inheritable tags plus their own); a few images and
    # audio; statuses mostly ready, some processing / failed / deleted.
    material_cols = ["id", "title", "description", "media_type", "kind", "status", "sha256", "size_bytes",
                     "storage_key", "original_filename", "content_type", "container", "duration_s", "video_codec",
                     "width", "height", "display_width", "display_height", "rotation", "fps", "is_vfr", "has_audio",
                     "orientation", "aspect_ratio", "poster_key", "previews_failed", "parent_id", "recipe",
                     "preset_id", "review_state", "created_at", "updated_at", "deleted_at"]
    materials: list[tuple[Any, ...]] = []
    links: list[tuple[uuid.UUID, int]] = []
    sources: list[tuple[uuid.UUID, datetime, list[int]]] = []
    video_ids: list[tuple[uuid.UUID, datetime]] = []
    start = now - timedelta(days=365)
    for i in range(n_materials):
        mid = uuid.uuid4()
        product = rnd.randrange(len(PRODUCTS))
        is_source = i < 50 or rnd.random() < 0.08
        created = start + timedelta(seconds=rnd.randrange(365 * 86400))
        media_type = "video" if rnd.random() < 0.96 else rnd.choice(["image", "audio"])
        status = rnd.choices(["ready", "processing", "failed", "deleted"], [0.93, 0.03, 0.02, 0.02])[0]
        parent: tuple[uuid.UUID, datetime, list[int]] | None = None
        if not is_source and sources:
            parent = rnd.choice(sources[-400:])  # recent streams are the ones cut
            created = max(created, parent[1] + timedelta(hours=rnd.randrange(1, 72)))
            created = min(created, now)
        if media_type == "video":
            orientation = rnd.choices(["landscape", "portrait", "square"], [0.8, 0.15, 0.05] if is_source else [0.1, 0.85, 0.05])[0]
            duration = rnd.uniform(1800, 4 * 3600) if is_source else rnd.choice([rnd.uniform(5, 15), rnd.uniform(15, 60), rnd.uniform(60, 180)])
        elif media_type == "image":
            orientation, duration = rnd.choice(["portrait", "square"]), None
        else:
            orientation, duration = None, rnd.uniform(10, 300)
        w, h = {"portrait": (1080, 1920), "landscape": (1920, 1080), "square": (1080, 1080), None: (None, None)}[orientation]
        if is_source:
            title = f"{rnd.choice(HOSTS)}直播回放 {created:%m月%d日} {PRODUCTS[product]}专场"
        else:
            title = f"{PRODUCTS[product]}｜{rnd.choice(ANGLES)} {rnd.choice(HOSTS)} #{i}"
        own = [rnd.choice(tag_ids["content_type"]), rnd.choice(tag_ids["style"])]
        if rnd.random() < 0.3:
            own.append(rnd.choice(tag_ids["other"]))
        if parent is None:
            tags = [tag_ids["product"][product], rnd.choice(tag_ids["audience"]), rnd.choice(tag_ids["campaign"]), *own]
        else:
            tags = [*parent[2], *own]
            if rnd.random() < 0.5:
                tags.append(rnd.choice(tag_ids["platform"]))
        tags = list(dict.fromkeys(tags))
        deleted_at = created + timedelta(days=1) if status == "deleted" else None
        materials.append((
            mid, title, f"{PRODUCTS[product]} {rnd.choice(ANGLES)}", media_type, "source" if parent is None else "derived",
            status, os.urandom(32).hex(), rnd.randrange(10**6, 4 * 10**9 if is_source else 2 * 10**8),
            f"materials/{mid}/original", f"{mid.hex[:8]}.mp4", "video/mp4", "mov,mp4,m4a,3gp,3g2,mj2", duration,
            "h264" if media_type == "video" else None, w, h, w, h, 0, 30.0 if media_type == "video" else None,
            False, media_type != "image", orientation, (w / h) if w and h else None,
            f"posters/{mid}.jpg" if status == "ready" else None, False,
            parent[0] if parent else None,
            json.dumps({"op": "clip", "start_s": round(rnd.uniform(0, 3600), 2)}) if parent else None,
            rnd.choice(["douyin_9x16", "xhs_3x4", "tmall_main"]) if parent else None,
            "none", created, created, deleted_at,
        ))
        links.extend((mid, t) for t in tags)
        if parent is None:
            sources.append((mid, created, tags[:3]))
        if media_type == "video" and status == "ready" and parent is not None:
            video_ids.append((mid, created))
    # Sources first (a derived row's parent must exist); then the clips.
    materials.sort(key=lambda r: r[26] is not None)

    raw = engine.raw_connection()
    try:
        _copy(raw, "material", material_cols, materials)
        _copy(raw, "material_tag", ["material_id", "tag_id"], links)
        raw.commit()
    finally:
        raw.close()

    # Accounts with their channels from the platform rules (the service, as `reelhouse accounts add`).
    os.environ["REELHOUSE_DATABASE_URL"] = url
    from backend.auth.models import Role
    from backend.auth.users import create_user
    from backend.compliance.accounts import channels_of, create_account, record_opening
    from backend.db import get_engine, session_scope

    with session_scope() as session:
        create_user(session, username=USER, password=PASSWORD, role=Role.admin, display_name="基准")
        channels: list[tuple[uuid.UUID, str]] = []
        for platform_id, count in ACCOUNTS:
            for k in range(count):
                account = create_account(session, platform_id=platform_id, name=f"{platform_id} 旗舰店 {k + 1}")
                if platform_id == "tmall":
                    # T-mall's 视频 opens on application: recorded open before the year of publications,
                    # so 实拍 opens with its fifth approval and owes its monthly minimum (charts to draw).
                    record_opening(session, account.id, "video", opened_on=(start - timedelta(days=30)).date(),
                                   opened_by=USER, note="平台已开通")
                channels.extend((account.id, c.channel_id) for c in channels_of(session, [account.id])[account.id])
    get_engine().dispose()

    # Publications: 12 months, mostly approved, some pending / rejected / withdrawn; each of a ready
    # clip published after it was made.
    pub_cols = ["id", "material_id", "account_id", "channel_id", "submitted_at", "platform_post_id", "post_url",
                "status", "rejection_reason", "approved_at", "rejected_at", "withdrawn_at", "created_at", "updated_at"]
    pubs: list[tuple[Any, ...]] = []
    for n in range(n_publications):
        mid, made = rnd.choice(video_ids)
        account_id, channel_id = rnd.choice(channels)
        submitted = min(made + timedelta(hours=rnd.uniform(1, 24 * 20)), now - timedelta(minutes=5))
        status = rnd.choices(["approved", "pending", "rejected", "withdrawn"], [0.78, 0.08, 0.11, 0.03])[0]
        decided = min(submitted + timedelta(hours=rnd.uniform(0.5, 48)), now)
        pubs.append((
            uuid.uuid4(), mid, account_id, channel_id, submitted, f"post{n}", f"https://example.com/p/{n}", status,
            "画面含站外引流" if status == "rejected" else None,
            decided if status in ("approved", "withdrawn") else None,
            decided if status == "rejected" else None,
            decided + timedelta(days=3) if status == "withdrawn" else None,
            submitted, decided,
        ))
    raw = engine.raw_connection()
    try:
        _copy(raw, "publication", pub_cols, pubs)
        raw.commit()
        # What autovacuum would do after a bulk load: statistics and the visibility map.
        raw.driver_connection.autocommit = True  # type: ignore[union-attr]
        raw.cursor().execute("VACUUM ANALYZE")
    finally:
        raw.close()
    engine.dispose()
    return {"materials": len(materials), "links": len(links), "publications": len(pubs),
            "accounts": sum(c for _, c in ACCOUNTS), "channels": len(channels),
            "seconds": time.perf_counter() - t0}


# --- measuring ----------------------------------------------------------------------------------

LIBRARY_CALLS: list[tuple[str, str, dict[str, Any]]] = [
    ("materials (first page)", "/api/v1/materials", {"sort": "-created_at", "limit": 40}),
    ("tags", "/api/v1/tags", {}),
    ("tag categories", "/api/v1/tag-categories", {}),
]
STATUS_CALL: tuple[str, str, dict[str, Any]] = ("compliance status", "/api/v1/compliance/status", {})


def sign_in(client: httpx.Client) -> None:
    res = client.post("/api/v1/session", json={"username": USER, "password": PASSWORD})
    res.raise_for_status()


def measure_api(servers: dict[str, Server], repeats: int) -> dict[str, dict[str, Any]]:
    """Each call on each server, the servers taking turns call by call (side by side on a noisy machine)."""
    out: dict[str, dict[str, Any]] = {label: {} for label in servers}
    clients = {label: httpx.Client(base_url=srv.url, timeout=120) for label, srv in servers.items()}
    try:
        for client in clients.values():
            sign_in(client)
        for name, path, params in [*LIBRARY_CALLS, STATUS_CALL]:
            runs: dict[str, list[float]] = {label: [] for label in servers}
            for client in clients.values():
                client.get(path, params=params).raise_for_status()  # warm
            for _ in range(repeats):
                for label, client in clients.items():
                    times, size = timed_once(client, path, params)
                    runs[label].append(times)
                    out[label].setdefault(name, {})["bytes"] = size
            for label in servers:
                out[label][name].update(median_s=median(runs[label]), all_s=runs[label])
    finally:
        for client in clients.values():
            client.close()
    return out


def timed_once(client: httpx.Client, path: str, params: dict[str, Any]) -> tuple[float, int]:
    t0 = time.perf_counter()
    res = client.get(path, params=params)
    elapsed = time.perf_counter() - t0
    res.raise_for_status()
    return elapsed, len(res.content)


# The screens timed in the browser: the address, what shows the screen has drawn (a selector that must
# be visible), and for the dashboard the later moment its charts are drawn too.
BROWSER_SCREENS: list[tuple[str, str, str, str | None]] = [
    ("library", "/#/library", "#grid .card", None),
    # quota.js sets data-charts once every chart is made; the router drops aria-busy when render returns.
    ("quota", "/#/quota", ".quota-card", '#screen[data-screen="quota"][data-charts]:not([aria-busy])'),
]
# Marks by the page's own clock (ms from navigation start): an init script (run before the app's own,
# outside its Content-Security-Policy) watches the document and, the first time a selector matches, waits
# two animation frames, so the mark falls after the frame that shows it was painted. Playwright's own
# polling is timed too, but on a loaded machine its driver process adds its share of the wait.
MARKS_SCRIPT = """(() => {
  const wanted = %s;
  window.__marks = {};
  const check = () => {
    for (const [name, selector] of Object.entries(wanted)) {
      if (name in window.__marks || !document.querySelector(selector)) continue;
      window.__marks[name] = null;
      requestAnimationFrame(() => requestAnimationFrame(() => { window.__marks[name] = Math.round(performance.now()); }));
    }
  };
  new MutationObserver(check).observe(document, { childList: true, subtree: true, attributes: true });
})();"""
# Where the time went: the document, each script/JSON/API request's start and end.
TIMELINE = """() => {
  const nav = performance.getEntriesByType("navigation")[0];
  const res = performance.getEntriesByType("resource").map((r) => [r.name.replace(location.origin, ""), Math.round(r.startTime), Math.round(r.responseEnd)]);
  return { marks: window.__marks, dom_content_loaded: Math.round(nav.domContentLoadedEventEnd), resources: res,
           charts_made: document.querySelector("#screen").dataset.charts || null };
}"""


def load_once(context: Any, url: str, seen: str, drawn: str | None) -> dict[str, Any]:
    """One load in a new tab: seconds from `page.goto` until Playwright sees `seen` (and `drawn`), and the
    page's own marks for the same moments."""
    page = context.new_page()
    page.set_default_timeout(120_000)
    page.add_init_script(MARKS_SCRIPT % json.dumps({"seen": seen, **({"drawn": drawn} if drawn else {})}))
    try:
        t0 = time.perf_counter()
        page.goto(url)
        page.wait_for_selector(seen, state="visible")
        first = time.perf_counter() - t0
        if drawn:
            page.wait_for_selector(drawn, state="attached")
        done = time.perf_counter() - t0
        # (Polled: wait_for_function builds its predicate with eval, which the app's CSP forbids.)
        while not page.evaluate("Object.values(window.__marks).every((v) => v !== null)"):
            page.wait_for_timeout(20)
        clock = page.evaluate(TIMELINE)
        items = page.locator(seen).count()
    finally:
        page.close()
    marks = clock.pop("marks")
    return {"first_s": first, "drawn_s": done, "items": items, "seen_ms": marks["seen"],
            "drawn_ms": marks.get("drawn", marks["seen"]), **clock}


def measure_browser(server: Server, repeats: int) -> dict[str, Any]:
    """Each screen `repeats` times in new tabs of one signed-in Chromium, the screens taking turns
    (a noisy machine slows both alike); one unmeasured load of each first warms the module cache."""
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name, *_ in BROWSER_SCREENS}
    load: list[tuple[float, float, float]] = [os.getloadavg()]
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        try:
            context = browser.new_context(locale="zh-CN", timezone_id="Asia/Shanghai", viewport={"width": 1280, "height": 860})
            # Sign in through the app's API in this context, so the session cookie is the browser's.
            res = context.request.post(server.url + "/api/v1/session", data={"username": USER, "password": PASSWORD})
            assert res.ok, res.text()
            for i in range(repeats + 1):
                for name, path, seen, drawn in BROWSER_SCREENS:
                    one = load_once(context, server.url + path, seen, drawn)
                    if i:
                        runs[name].append(one)
                load.append(os.getloadavg())
            context.close()
        finally:
            browser.close()
    out: dict[str, Any] = {"load_average": load}
    for name, loads in runs.items():
        out[name] = {
            "median_s": median([r["drawn_s"] for r in loads]), "all_s": [r["drawn_s"] for r in loads],
            "first_median_s": median([r["first_s"] for r in loads]),
            "page_seen_median_ms": median([r["seen_ms"] for r in loads]),
            "page_drawn_median_ms": median([r["drawn_ms"] for r in loads]),
            "items": loads[-1]["items"], "charts_made": loads[-1]["charts_made"], "loads": loads,
        }
    return out


def explain(url: str, sql: str, params: dict[str, Any] | None = None) -> str:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(sa.text("EXPLAIN (ANALYZE, BUFFERS) " + sql), params or {}).scalars().all()
    engine.dispose()
    return "\n".join(rows)


def run(args: argparse.Namespace) -> dict[str, Any]:
    name, url = create_database()
    data_dir = Path(tempfile.mkdtemp(prefix="reelhouse-bench-web-"))
    try:
        seeded = seed(url, args.materials, args.publications)
        print(f"seeded {seeded}", flush=True)
        env = {**os.environ, "REELHOUSE_DATABASE_URL": url, "REELHOUSE_DATA_DIR": str(data_dir / "data"),
               "REELHOUSE_STORAGE_BACKEND": "local", "PYTHONPATH": str(REPO)}
        servers = {"this": Server(env=env, port=free_port(), log=data_dir / "server.log")}
        if args.baseline:
            # The same database served by another checkout's code (e.g. main before a fix).
            servers = {"baseline": Server(env={**env, "PYTHONPATH": str(args.baseline)}, port=free_port(),
                                          log=data_dir / "baseline.log"), **servers}
        try:
            for label, srv in servers.items():
                live_server.REPO = args.baseline if label == "baseline" else REPO  # the server's cwd
                srv.start()
            live_server.REPO = REPO
            api = measure_api(servers, args.repeats)
            for label, figures in api.items():
                print(label, json.dumps({k: round(v["median_s"], 3) for k, v in figures.items()}), flush=True)
            browser = measure_browser(servers["this"], args.repeats)
            for screen, _, _, _ in BROWSER_SCREENS:
                b = browser[screen]
                print(f"browser {screen}: {b['median_s']:.3f} s (first shown {b['first_median_s']:.3f} s); by the page's "
                      f"clock shown {b['page_seen_median_ms']} ms, drawn {b['page_drawn_median_ms']} ms "
                      f"{[round(x, 3) for x in b['all_s']]}", flush=True)
            print(f"load average during the browser loads {browser['load_average']}", flush=True)
        finally:
            for srv in servers.values():
                srv.stop()
        if args.keep:
            print(f"kept database {url}")
        return {"seeded": seeded, "api": api, "browser": browser}
    finally:
        if not args.keep:
            drop_database(name)
        shutil.rmtree(data_dir, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--materials", type=int, default=100_000)
    parser.add_argument("--publications", type=int, default=200_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--keep", action="store_true", help="keep the database (for EXPLAIN ANALYZE by hand)")
    parser.add_argument("--baseline", type=Path, default=None,
                        help="another checkout (e.g. /work/main) whose server is measured side by side on the same data")
    parser.add_argument("--out", type=Path, default=None, help="write the figures as JSON here")
    args = parser.parse_args()
    result = run(args)
    result["load_average"] = os.getloadavg()
    result["machine"] = machine()
    result["date"] = today()
    if args.out:
        args.out.write_text(json.dumps(result, default=str, indent=1))
    print(json.dumps({"api": {label: {k: round(v["median_s"], 3) for k, v in figures.items()}
                              for label, figures in result["api"].items()},
                      "browser": {screen: round(result["browser"][screen]["median_s"], 3) for screen, *_ in BROWSER_SCREENS},
                      "load": result["load_average"]}))


if __name__ == "__main__":
    main()
