"""Render temporary folders: one per job under the work directory, removed when the job ends (also when it
fails), and removed at worker start-up when the process that held one was killed."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.renders.test_render_task import create_job, job_state, sqlite_only

HOLD = textwrap.dedent(
    """
    import sys, time, uuid
    from pathlib import Path
    from backend.renders.pipeline import render_workdir

    with render_workdir(Path(sys.argv[1]), uuid.uuid4()) as folder:
        (folder / "part.mp4").write_bytes(b"x" * 65536)
        print(folder, flush=True)
        time.sleep(600)
    """
)


def _holder(root: Path) -> tuple[subprocess.Popen[str], Path]:
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(root)], cwd=REPO, stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(REPO)})
    assert proc.stdout is not None
    folder = Path(proc.stdout.readline().strip())
    assert folder.is_dir() and folder.parent == root
    return proc, folder


def test_a_killed_jobs_folder_is_removed_and_a_running_ones_is_kept(tmp_path: Path) -> None:
    from backend.renders.pipeline import remove_stale_workdirs

    root = tmp_path / "render-work"
    running, kept = _holder(root)
    killed, stale = _holder(root)
    try:
        killed.send_signal(signal.SIGKILL)
        killed.wait(10)
        assert stale.is_dir()  # SIGKILL runs no cleanup: this is what a killed render left behind
        assert remove_stale_workdirs(root) == [stale]
        assert not stale.exists() and kept.is_dir() and (kept / "part.mp4").exists()
        assert sorted(p.name for p in root.iterdir()) == sorted([kept.name, f"{kept.name}.lock"])
    finally:
        running.kill()
        running.wait(10)
    assert remove_stale_workdirs(root) == [kept]
    assert list(root.iterdir()) == []


def test_a_folder_is_removed_when_the_job_fails(tmp_path: Path) -> None:
    from backend.renders.pipeline import render_workdir

    with pytest.raises(RuntimeError), render_workdir(tmp_path, uuid.uuid4()) as folder:
        (folder / "source.mp4").write_bytes(b"x")
        raise RuntimeError("ffmpeg failed")
    assert list(tmp_path.iterdir()) == []


@sqlite_only
def test_a_failed_render_leaves_nothing_in_the_work_directory(app_env, source_id, sent) -> None:
    from backend.catalogue.models import Material
    from backend.config import get_settings
    from backend.db import session_scope
    from backend.objectstore import get_storage
    from workers.renders import execute_render_job

    with session_scope() as session:
        material = session.get(Material, source_id)
        assert material is not None and material.storage_key
        key = material.storage_key
    get_storage().put(key, io.BytesIO(b"\x00" * 4096), size=4096)
    job_id = create_job(source_id, {"ranges": [{"start": 0, "end": 2}], "presets": ["douyin.feed_9x16"]})
    assert execute_render_job(str(job_id)) == "failed"
    assert job_state(job_id)[0].error_code == "source-unreadable"
    work = get_settings().render_work_dir
    assert work.is_dir() and list(work.iterdir()) == []  # the job's folder was made under it, then removed
