"""reelhouse as a small cluster on this machine: the API and two Celery worker processes, each with its
own private data and temporary directories, sharing nothing but PostgreSQL, Redis (broker and results)
and an S3 server (moto). Everything a team does goes through the API or the broker, as it would
between machines:

- an upload through the API, then its fingerprint, its previews, a render job and the monthly report
  all complete on the workers;
- the upload's proxy (a long source for this cluster's settings) is encoded in chunks by both workers
  and joined, with its sprite and waveform;
- one worker is SIGKILLed (with its ffmpeg) in the middle of a chunk: another worker runs that chunk
  again (the broker re-delivers it after the visibility timeout), the proxy is joined once, and no
  piece is left in the bucket.

Short sources and a 2-second chunk length keep it to about a minute of wall time.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from tests.conftest import REDIS_URL, Keys, S3ServerInfo, make_clip, service_missing
from tests.live_server import Server, free_port
from tests.processes import Worker, wait_for

pytestmark = [
    pytest.mark.slow, pytest.mark.redis,
    pytest.mark.parametrize("database_url", ["postgres"], indirect=True),
]

CHUNK_SECONDS = 2.0
VISIBILITY_TIMEOUT = 12  # how soon a dead worker's chunk is delivered again


@pytest.fixture
def cluster_env(use_s3: S3ServerInfo, app_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """What every process shares: the database, Redis, the bucket, and the settings."""
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.flushdb()
    except redis.exceptions.ConnectionError:
        service_missing(f"Redis at {REDIS_URL}")
    shared = {k: v for k, v in os.environ.items() if k.startswith("REELHOUSE_")}
    shared.update({
        "REELHOUSE_BROKER_URL": REDIS_URL,
        "REELHOUSE_BROKER_VISIBILITY_TIMEOUT": str(VISIBILITY_TIMEOUT),
        "REELHOUSE_PROXY_CHUNK_THRESHOLD_SECONDS": "5",
        "REELHOUSE_PROXY_CHUNK_SECONDS": str(CHUNK_SECONDS),
        "REELHOUSE_RENDER_LEASE_SECONDS": "20",
    })
    shared.pop("REELHOUSE_DATA_DIR", None)
    for key, value in shared.items():
        monkeypatch.setenv(key, value)
    from tests.conftest import clear_caches

    clear_caches()
    yield shared
    client.flushdb()
    client.close()


def _private(base: dict[str, str], root: Path) -> dict[str, str]:
    """A process's environment: the shared settings and a data and temp directory of its own."""
    (root / "tmp").mkdir(parents=True)
    return {**os.environ, **base, "REELHOUSE_DATA_DIR": str(root / "data"), "TMPDIR": str(root / "tmp"),
            "PYTHONPATH": str(Path(__file__).resolve().parents[2])}


@pytest.fixture
def api(cluster_env: dict[str, str], keys: Keys, tmp_path: Path) -> Iterator[Server]:
    srv = Server(env=_private(cluster_env, tmp_path / "api"), port=free_port(), log=tmp_path / "api.log")
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture
def workers(cluster_env: dict[str, str], tmp_path: Path) -> Iterator[list[Worker]]:
    started = [Worker(_private(cluster_env, tmp_path / name), tmp_path / f"{name}.log", name) for name in ("w1", "w2")]
    try:
        for w in started:
            w.wait_ready()
        yield started
    finally:
        for w in started:
            w.stop()


def _bucket_keys(s3: S3ServerInfo, prefix: str = "") -> list[str]:
    return sorted(o.object_name for o in s3.client().list_objects(s3.bucket, prefix=prefix, recursive=True))


def _scalar(query: str, **params: object) -> object:
    engine = sa.create_engine(os.environ["REELHOUSE_DATABASE_URL"])
    try:
        with engine.connect() as conn:
            return conn.execute(sa.text(query), params).scalar()
    finally:
        engine.dispose()


def _upload(api: Server, auth: dict[str, str], clip: Path, title: str) -> str:
    up = httpx.post(f"{api.url}/api/v1/materials", params={"title": title}, content=clip.read_bytes(),
                    headers={**auth, "Content-Type": "application/octet-stream"}, timeout=120)
    assert up.status_code == 201, up.text
    return str(up.json()["id"])


def _proxy_state(api: Server, auth: dict[str, str], material_id: str) -> dict | None:  # type: ignore[type-arg]
    state = httpx.get(f"{api.url}/api/v1/materials/{material_id}/proxy", headers=auth).json()
    return state if state["state"] in ("ready", "failed") else None


def _chunk_lines(w: Worker, material_id: str) -> list[str]:
    return re.findall(rf"proxy chunk (\d+) of {material_id} encoded", w.text())


def test_api_and_two_workers_share_only_postgres_redis_and_s3(
    api: Server, workers: list[Worker], keys: Keys, use_s3: S3ServerInfo, tmp_path: Path
) -> None:
    w1, w2 = workers
    auth = Keys.auth(keys.editor)
    # A source with a keyframe every second, so its proxy has a chunk every two.
    clip = make_clip(tmp_path / "live.mp4", seconds=12, size="640x360", rate=25, extra=["-g", "25"])
    source = _upload(api, auth, clip, "直播回放 集群")  # 12 s: its proxy is chunked

    # The quick work of a new upload, done by whichever worker took it.
    wait_for(lambda: _scalar("SELECT count(*) FROM material_fingerprint WHERE material_id = :id",
                             id=uuid.UUID(source)), 120, "the fingerprint")
    wait_for(lambda: _scalar("SELECT poster_key FROM material WHERE id = :id", id=uuid.UUID(source)), 120,
             "the poster")
    material = httpx.get(f"{api.url}/api/v1/materials/{source}", headers=auth).json()
    assert material["previews_failed"] is False
    poster = httpx.get(f"{api.url}/api/v1/materials/{source}/poster", headers=auth, follow_redirects=True)
    assert poster.status_code == 200 and poster.headers["content-type"].startswith("image/")
    assert "x-reelhouse-placeholder" not in poster.headers

    # A render job and the monthly report.
    job = httpx.post(f"{api.url}/api/v1/materials/{source}/renders", headers=auth,
                     json={"ranges": [{"start": 0, "end": 4}], "presets": ["weibo.landscape_720p"]})
    assert job.status_code == 202, job.text
    from workers.celery_app import create_celery

    create_celery().send_task("reelhouse.compliance.monthly_report", args=[])
    state = wait_for(lambda: (s := httpx.get(api.url + job.headers["location"], headers=auth).json())["status"]
                     in {"succeeded", "failed", "cancelled"} and s, 240, "the render job")
    assert state["status"] == "succeeded", state
    reports = wait_for(lambda: httpx.get(f"{api.url}/api/v1/reports", params={"kind": "monthly"},
                                         headers=Keys.auth(keys.viewer)).json(), 120, "the monthly report")
    assert len(reports) == 1 and reports[0]["files"]

    # The proxy, made by the proxy task on its own after the upload: over 5 s, so six chunks and the
    # audio spread over both workers, joined once, with its sprite and waveform.
    proxy = wait_for(lambda: _proxy_state(api, auth, source), 240, "the proxy")
    assert proxy["state"] == "ready", proxy
    assert proxy["details"]["chunked"] is True and proxy["details"]["chunks"] == 6
    assert {w.split("@")[0] for w in proxy["details"]["workers"]} == {"w1", "w2"}, proxy
    assert _chunk_lines(w1, source) and _chunk_lines(w2, source)
    assert set(proxy["links"]) == {"video", "sprite_vtt", "waveform"}
    video = httpx.get(api.url + proxy["links"]["video"], headers=auth, follow_redirects=True)
    assert video.status_code == 200 and video.content[4:8] == b"ftyp"
    assert _bucket_keys(use_s3, "proxy-chunks/") == []
    # Each worker encoded in its own private folder and left nothing there.
    for name in ("w1", "w2"):
        folder = tmp_path / name / "data" / "proxy-chunks"
        assert folder.is_dir() and list(folder.iterdir()) == []


def test_a_worker_killed_mid_chunk_costs_only_its_chunk(
    api: Server, workers: list[Worker], keys: Keys, use_s3: S3ServerInfo, tmp_path: Path
) -> None:
    w1, w2 = workers
    auth = Keys.auth(keys.editor)
    clip = make_clip(tmp_path / "long.mp4", seconds=16, size="1280x720", rate=25, extra=["-g", "25"])
    source = _upload(api, auth, clip, "直播回放 断电")  # its proxy is chunked by the proxy task
    received = rf"encode_chunk\[proxy-{source}-[0-9a-f]+\.[0-9a-f]+:chunk:(\d+)\] received"
    # Wait until w1 is encoding a chunk, then take the machine away.
    wait_for(lambda: w1.ffmpeg_running() and re.search(received, w1.text()), 120, "w1 to encode a chunk", every=0.1)
    running = re.findall(received, w1.text())
    done_before = set(_chunk_lines(w1, source))
    w1.kill()
    lost = [c for c in running if c not in done_before]
    assert lost, "w1 was killed between chunks"

    proxy = wait_for(lambda: _proxy_state(api, auth, source), VISIBILITY_TIMEOUT * 10 + 120, "the proxy")
    assert proxy["state"] == "ready", proxy
    assert proxy["details"]["chunks"] == 8 and proxy["attempts"] == 1
    # The chunk w1 was encoding was run again by w2; the join ran once, on w2.
    assert set(lost) <= set(_chunk_lines(w2, source))
    def joins() -> int:
        return w1.text().count(f"proxy of {source} joined") + w2.text().count(f"proxy of {source} joined")

    wait_for(joins, 30, "the join's log line")  # written just after the proxy is recorded
    assert joins() == 1
    assert _bucket_keys(use_s3, "proxy-chunks/") == []
    assert f"materials/{source}/proxy/proxy.mp4" in _bucket_keys(use_s3)
    uploads = list(use_s3.client()._list_multipart_uploads(use_s3.bucket).uploads)
    assert uploads == []
