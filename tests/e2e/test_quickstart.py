"""The quickstart as a new user runs it: `reelhouse serve` on the embedded defaults (SQLite, local
storage, filesystem broker, a worker and the scheduler started beside the API), the first admin
key printed once, an upload, a render done by the embedded worker, and the fingerprint task."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.conftest import REPO, make_clip


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_serve_runs_api_and_worker_on_the_embedded_defaults(tmp_path: Path) -> None:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("REELHOUSE_")}
    env["REELHOUSE_DATA_DIR"] = str(tmp_path / "data")
    env["REELHOUSE_WORKER_CONCURRENCY"] = "1"
    log = (tmp_path / "serve.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "backend.cli", "serve", "--port", str(port)],
        cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                if httpx.get(f"{base}/ready", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        else:
            raise AssertionError("serve did not become ready:\n" + (tmp_path / "serve.log").read_text())
        printed = (tmp_path / "serve.log").read_text()
        assert f"reelhouse is starting on {base}" in printed
        token = re.search(r"rh_[0-9a-f]+_[A-Za-z0-9_-]+", printed)
        assert token, printed
        auth = {"Authorization": f"Bearer {token.group(0)}"}
        assert httpx.get(f"{base}/ready").json()["checks"] == {"database": "ok", "storage": "ok", "broker": "ok"}

        clip = make_clip(tmp_path / "live.mp4", seconds=4, size="640x360")
        up = httpx.post(f"{base}/api/v1/materials", params={"title": "直播切片", "tag": "campaign:双11"},
                        content=clip.read_bytes(), headers={**auth, "Content-Type": "application/octet-stream"})
        assert up.status_code == 201, up.text
        source = up.json()["id"]

        job = httpx.post(f"{base}/api/v1/materials/{source}/renders", headers=auth,
                         json={"ranges": [{"start": 0, "end": 4}], "presets": ["weibo.landscape_720p"]})
        assert job.status_code == 202, job.text
        job_url = base + job.headers["location"]
        for _ in range(300):
            state = httpx.get(job_url, headers=auth).json()
            if state["status"] in {"succeeded", "failed", "cancelled"}:
                break
            time.sleep(0.5)
        assert state["status"] == "succeeded", state
        derived = state["renditions"][0]["material_id"]
        lineage = httpx.get(f"{base}/api/v1/materials/{derived}/lineage", headers=auth).json()
        assert [a["id"] for a in lineage["ancestors"]] == [source]

        # The embedded worker also ran the quick queue: the upload's fingerprint was computed.
        import sqlalchemy as sa

        from backend.catalogue.models import MaterialFingerprint

        engine = sa.create_engine(f"sqlite:///{tmp_path / 'data' / 'reelhouse.db'}")
        for _ in range(120):
            with engine.connect() as conn:
                done = conn.execute(sa.select(sa.func.count()).select_from(MaterialFingerprint.__table__)).scalar()
            if done >= 1:
                break
            time.sleep(0.5)
        engine.dispose()
        assert done >= 1
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=40)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()
    # Stopping serve stops the worker it started, by Celery's own warm shutdown (its pool children
    # are not killed from outside, which left the main process waiting for them until a SIGKILL).
    assert "exited with 'signal 15" not in (tmp_path / "serve.log").read_text()
    leftover = subprocess.run(["pgrep", "-f", str(tmp_path / "data" / "celerybeat-schedule")],
                              capture_output=True, text=True).stdout.split()
    for pid in leftover:
        os.kill(int(pid), signal.SIGKILL)
    assert leftover == []
