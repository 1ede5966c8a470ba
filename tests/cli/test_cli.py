"""The `reelhouse` command: keys, import with --title, render with ranges and --wait, and one
configuration wherever a command runs from (issue 15: a key made in another folder used to land in
a new database and get 401)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from backend.cli import app
from backend.cli.renders import parse_clock, parse_range
from tests.conftest import Keys, make_clip
from tests.live_server import free_port

runner = CliRunner()
REELHOUSE = str(Path(sys.executable).with_name("reelhouse"))


def test_clock_and_range_parsing() -> None:
    assert parse_clock("12:03") == 723 and parse_clock("1:02:03.5") == 3723.5 and parse_clock("95") == 95
    assert parse_range("12:03-12:41") == {"start": 723.0, "end": 761.0}
    for bad in ("12:03", "a-b", "1:75-2:00"):
        with pytest.raises(Exception, match="not a|seconds"):
            parse_range(bad)


def test_the_database_is_named_with_its_password_masked(monkeypatch: pytest.MonkeyPatch) -> None:
    from backend.cli.common import database_label
    from tests.conftest import clear_caches

    monkeypatch.setenv("REELHOUSE_DATABASE_URL", "postgresql+psycopg://reel:s3cret@db.internal:5432/reelhouse")
    clear_caches()
    try:
        assert database_label() == "postgresql+psycopg://reel:***@db.internal:5432/reelhouse"
    finally:
        monkeypatch.delenv("REELHOUSE_DATABASE_URL")
        clear_caches()


def test_keys_create_prints_only_the_key_and_names_the_database(app_env: dict[str, str]) -> None:
    from backend.app import create_app

    result = runner.invoke(app, ["keys", "create", "--role", "editor"])  # --name defaults to user@host
    assert result.exit_code == 0, result.output
    token = result.stdout.strip()
    assert token.startswith("rh_") and "\n" not in token
    assert "database: " in result.stderr and "config: " in result.stderr
    assert f"database: {app_env['REELHOUSE_DATABASE_URL']}" in result.stderr  # no password in the test URLs
    with TestClient(create_app(), headers=Keys.auth(token)) as client:
        assert client.get("/api/v1/metrics/imports").status_code == 200
    bad = runner.invoke(app, ["keys", "create", "--role", "boss"])
    assert bad.exit_code == 2 and "viewer, editor or admin" in bad.output


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[uuid.UUID]:
    messages: list[uuid.UUID] = []
    monkeypatch.setattr("backend.renders.service.send_render_message", messages.append)
    return messages


def test_import_with_title_then_render_ranges(app_env: dict[str, str], clip_dir: Path, sent: list[uuid.UUID]) -> None:
    from backend.catalogue.models import Material
    from backend.db import session_scope
    from backend.renders.models import JobStatus, RenderJob
    from backend.renders.service import cancel_job

    clip = make_clip(clip_dir / "cli_live.mp4", seconds=4.0, seed=11)
    imported = runner.invoke(app, ["import", str(clip), "--title", "双11直播 切片", "--tag", "campaign:双11"])
    assert imported.exit_code == 0, imported.output
    material_id, state, path = imported.stdout.strip().split("\t")
    assert state == "added" and path == str(clip) and "database: " in imported.stderr
    with session_scope() as s:
        assert s.get(Material, uuid.UUID(material_id)).title == "双11直播 切片"  # type: ignore[union-attr]
    again = runner.invoke(app, ["import", str(clip)])
    assert again.exit_code == 0 and again.stdout.strip().split("\t")[:2] == [material_id, "existing"]
    two = runner.invoke(app, ["import", str(clip), str(clip), "--title", "x"])
    assert two.exit_code == 2

    queued = runner.invoke(app, ["render", material_id, "--range", "0:00.5-0:02", "-r", "2.5-3.5",
                                 "--preset", "douyin.feed_9x16"])
    assert queued.exit_code == 0, queued.output
    job_id = uuid.UUID(queued.stdout.strip())
    assert sent == [job_id]  # queued after the commit, like the API
    with session_scope() as s:
        job = s.get(RenderJob, job_id)
        assert job is not None and job.request["ranges"] == [{"start": 0.5, "end": 2.0}, {"start": 2.5, "end": 3.5}]
        assert job.request["presets"] == ["douyin.feed_9x16"] and job.request["origin"] == "cli"

    refused = runner.invoke(app, ["render", material_id, "-r", "0:01-9:00", "-p", "douyin.feed_9x16"])
    assert refused.exit_code == 1 and "/problems/render-range-invalid" in refused.stderr

    # --wait follows the job row to its end; here someone cancels it meanwhile (no worker needed).
    holder: dict[str, object] = {}

    def cancel_soon() -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and len(sent) < 2:
            time.sleep(0.05)
        with session_scope() as s:
            cancel_job(s, sent[-1])
        holder["done"] = True

    canceller = threading.Thread(target=cancel_soon)
    canceller.start()
    waited_result = runner.invoke(app, ["render", material_id, "-r", "0-3", "-p", "douyin.feed_9x16", "--wait"])
    canceller.join()
    assert holder.get("done")
    assert waited_result.exit_code == 1 and f"{JobStatus.cancelled}" in waited_result.stderr
    assert "douyin.feed_9x16" in waited_result.stdout


def _clean_env(home: Path) -> dict[str, str]:
    """The environment of a person's shell: no REELHOUSE_ variables, its own home and XDG dirs."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("REELHOUSE_")}
    env.update(HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"), XDG_DATA_HOME=str(home / ".local/share"))
    return env


def _serve(cwd: Path, env: dict[str, str], port: int, log: Path) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen([REELHOUSE, "serve", "--port", str(port), "--no-with-worker"], cwd=cwd, env=env,
                            stdout=log.open("wb"), stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(log.read_text()[-2000:])
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise AssertionError("server did not start: " + log.read_text()[-2000:])


def _key(cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([REELHOUSE, "keys", "create", "--role", "viewer"], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done


def test_a_key_made_in_another_folder_works_against_the_server(tmp_path: Path) -> None:
    home = tmp_path / "home"
    project = tmp_path / "project"
    (project / "clips" / "2026-11").mkdir(parents=True)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = _clean_env(home)
    # A project config with a relative data dir: read from the file's folder, not the current one.
    (project / "reelhouse.env").write_text("REELHOUSE_DATA_DIR=state\nREELHOUSE_INSPECTOR_SPARE=false\n")
    port = free_port()
    server = _serve(project, env, port, tmp_path / "server.log")
    try:
        url = f"http://127.0.0.1:{port}/api/v1/metrics/imports"
        below = _key(project / "clips" / "2026-11", env)  # found by walking up
        assert f"config: {project / 'reelhouse.env'}" in below.stderr
        assert f"database: sqlite:///{project / 'state' / 'reelhouse.db'}" in below.stderr
        assert httpx.get(url, headers=Keys.auth(below.stdout.strip())).status_code == 200

        # Elsewhere, with no project config: the same database only if the user config says so ...
        (home / ".config" / "reelhouse").mkdir(parents=True)
        (home / ".config" / "reelhouse" / "reelhouse.env").write_text(f"REELHOUSE_DATA_DIR={project / 'state'}\n")
        outside = _key(elsewhere, env)
        assert "(new" not in outside.stderr
        assert httpx.get(url, headers=Keys.auth(outside.stdout.strip())).status_code == 200
        # ... or REELHOUSE_CONFIG names the file.
        (home / ".config" / "reelhouse" / "reelhouse.env").unlink()
        named = _key(elsewhere, {**env, "REELHOUSE_CONFIG": str(project / "reelhouse.env")})
        assert httpx.get(url, headers=Keys.auth(named.stdout.strip())).status_code == 200
        # With nothing at all: the user data dir, announced as new, never a folder-local database.
        fresh = _key(elsewhere, env)
        assert f"database: sqlite:///{home / '.local/share/reelhouse/reelhouse.db'} (new" in fresh.stderr
        assert not (elsewhere / ".reelhouse-data").exists()
        assert httpx.get(url, headers=Keys.auth(fresh.stdout.strip())).status_code == 401
    finally:
        server.terminate()
        server.wait(30)


def test_the_web_pages_key_hint_is_a_command_that_works(app_env: dict[str, str]) -> None:
    """The sign-in screen tells a new team how to make the first admin: that command exists."""
    import re
    import shlex

    page = (Path(__file__).resolve().parents[2] / "backend" / "web" / "static" / "js" / "screens" / "signin.js").read_text(encoding="utf-8")
    hints = re.findall(r"reelhouse (users create-admin[^\"<]*)", page)
    assert hints
    for hint in hints:
        result = runner.invoke(app, [*shlex.split(hint), "--help"])
        assert result.exit_code == 0, (hint, result.output)


def test_serve_and_worker_run_the_render_queue_in_its_own_pool_sized_from_the_cores(monkeypatch) -> None:
    from backend import queue
    from backend.cli import _pool_argvs
    from backend.config import get_settings

    monkeypatch.setattr(queue, "machine_cores", lambda: 4)
    monkeypatch.delenv("REELHOUSE_RENDER_CONCURRENCY", raising=False)
    get_settings.cache_clear()

    def option(argv: list[str], flag: str) -> str:
        return argv[argv.index(flag) + 1]

    quick, render = _pool_argvs("quick,render", None, True, "info")
    assert (option(quick, "-Q"), option(render, "-Q")) == ("quick", "render")
    assert option(quick, "--concurrency") == str(get_settings().worker_concurrency)
    assert option(render, "--concurrency") == "2"  # 4 cores: 2 jobs, 2 threads per encoder
    assert "--beat" in quick and "--beat" not in render  # one scheduler
    assert "-n" not in quick and option(render, "-n") == "render@%h"  # distinct node names on one host
    (alone,) = _pool_argvs("render", None, False, "info")
    assert option(alone, "--concurrency") == "2" and "-n" not in alone
    (given,) = _pool_argvs("render", 3, False, "info")
    assert option(given, "--concurrency") == "3"


def test_proxies_get_their_own_pool_below_renders_in_cpu_priority(monkeypatch) -> None:
    from backend import queue
    from backend.cli import _pool_argvs
    from backend.config import get_settings

    monkeypatch.setattr(queue, "machine_cores", lambda: 2)
    monkeypatch.delenv("REELHOUSE_RENDER_CONCURRENCY", raising=False)
    get_settings.cache_clear()
    quick, render, proxy = _pool_argvs("quick,render,proxy", None, True, "info")
    assert proxy[:3] == ["nice", "-n", "10"] and proxy[proxy.index("-Q") + 1] == "proxy"
    assert proxy[proxy.index("-n", 3) + 1] == "proxy@%h" and "--beat" not in proxy
    assert render[0] != "nice" and quick[0] != "nice"
    (alone,) = _pool_argvs("proxy", None, False, "info")
    assert alone[0] != "nice"  # a machine given only to proxies runs them at normal priority


def test_pools_stay_in_this_session_so_their_nice_value_counts() -> None:
    """Linux shares the CPU between sessions (sched_autogroup) before it looks at nice values: a pool in a
    session of its own would take an equal share whatever its nice value, and a 2-hour proxy took half the
    machine from the drafts that way. Pools get process groups of their own (stopped as groups), not sessions."""
    from backend.cli import _start_pools, _stop_pools

    sleeper = [sys.executable, "-c", "import time; time.sleep(30)"]
    plain, lowered = _start_pools([sleeper, ["nice", "-n", "10", *sleeper]])
    try:
        for proc in (plain, lowered):
            assert os.getsid(proc.pid) == os.getsid(0) and os.getpgid(proc.pid) == proc.pid
        deadline = time.monotonic() + 10
        while os.getpriority(os.PRIO_PROCESS, lowered.pid) != 10 and time.monotonic() < deadline:
            time.sleep(0.05)  # `nice` sets it just before it starts the pool
        assert os.getpriority(os.PRIO_PROCESS, lowered.pid) == 10
    finally:
        _stop_pools([plain, lowered])
