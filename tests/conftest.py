"""Shared fixtures: real SQLite and PostgreSQL databases, local and S3 storage, generated media.

Services: PostgreSQL from REELHOUSE_TEST_POSTGRES_URL (default: the local server, database `test`),
Redis from REELHOUSE_TEST_REDIS_URL. Outside CI a missing service skips its tests with a reason;
with CI=true it fails them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from tests.live_server import server  # noqa: F401  (fixture)
from tests.s3server import S3ServerInfo, s3_bucket, s3_server  # noqa: F401  (fixtures)

REPO = Path(__file__).resolve().parents[1]
SHARED_MEDIA = REPO.parent / "shared" / "media"
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
POSTGRES_URL = os.environ.get("REELHOUSE_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("REELHOUSE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def service_missing(what: str) -> None:
    """Skip outside CI, fail in CI: a test that needs a service must not pass silently there."""
    if IN_CI:
        pytest.fail(f"{what} is required in CI but is not available")
    pytest.skip(f"{what} is not available")


def shared_media(name: str) -> Path:
    path = SHARED_MEDIA / name
    if not path.exists():
        if IN_CI:
            pytest.fail(f"{path} is required in CI (../shared/media beside the clone)")
        pytest.skip(f"{path} is absent: the sample recordings live in ../shared/media beside the clone")
    return path


# --- media made on the spot ---------------------------------------------------------------------


def ffmpeg_exe() -> str:
    import imageio_ffmpeg

    return shutil.which("ffmpeg") or imageio_ffmpeg.get_ffmpeg_exe()


def frames_do_not_decode(monkeypatch: pytest.MonkeyPatch) -> Callable[[], None]:
    """From now on the sandboxed inspector probes as usual but writes no poster or contact sheet, as when
    no frame of a damaged recording decodes into a picture. Returns what puts the inspector back."""
    from workers.media.inspect import SandboxedInspector

    inspect = SandboxedInspector.inspect

    def without_previews(self, path, **kwargs):  # type: ignore[no-untyped-def]
        facts = inspect(self, path, **kwargs)
        for name in ("poster", "contact_sheet"):
            if kwargs.get(name) is not None:
                kwargs[name].unlink(missing_ok=True)
        return facts

    monkeypatch.setattr(SandboxedInspector, "inspect", without_previews)
    return lambda: monkeypatch.setattr(SandboxedInspector, "inspect", inspect)


def make_clip(
    path: Path,
    *,
    seconds: float = 2.0,
    size: str = "320x240",
    rate: int = 25,
    audio: bool = True,
    vcodec: str = "libx264",
    extra: list[str] | None = None,
    seed: int = 0,
) -> Path:
    """A small real video made with ffmpeg's generators. `seed` varies the picture so bytes differ."""
    argv = [ffmpeg_exe(), "-nostdin", "-v", "error", "-y", "-f", "lavfi",
            "-i", f"testsrc2=size={size}:rate={rate}:duration={seconds}"]
    if audio:
        argv += ["-f", "lavfi", "-i", f"sine=frequency={440 + seed}:duration={seconds}"]
    argv += ["-vf", f"hue=h={seed % 360}"]
    argv += ["-c:v", vcodec, "-pix_fmt", "yuv420p"]
    if vcodec == "libx264":
        argv += ["-preset", "ultrafast"]
    if audio:
        argv += ["-c:a", "aac", "-shortest"]
    argv += (extra or []) + [str(path)]
    subprocess.run(argv, check=True)
    return path


@pytest.fixture(scope="session")
def clip_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("clips")


@pytest.fixture(scope="session")
def small_clip(clip_dir: Path) -> Path:
    return make_clip(clip_dir / "small.mp4")


# --- people -------------------------------------------------------------------------------------

_PRODUCTION_HASHER: list[Callable[[], object]] = []


@pytest.fixture(autouse=True, scope="session")
def quick_password_hashes() -> Iterator[None]:
    """argon2id at its smallest cost for the people tests create and sign in in this process: at
    argon2-cffi's defaults (64 MiB, 3 passes) each hash or check took 0.3-0.5 s here, for hundreds of
    them. A hash carries its parameters, so a live server checks these quickly too (and, seeing weaker
    parameters than its own, rehashes at sign-in as it would for an old hash). What is stored in
    production is checked with the real hasher (`production_hasher`, tests/auth/test_sessions.py)."""
    from argon2 import PasswordHasher

    from backend.auth import users

    quick = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    _PRODUCTION_HASHER.append(users.hasher)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(users, "hasher", lambda: quick)
        yield
    _PRODUCTION_HASHER.clear()


@pytest.fixture
def production_hasher(monkeypatch: pytest.MonkeyPatch) -> None:
    """The hasher reelhouse runs with (argon2-cffi's defaults), for a test about what is stored."""
    from backend.auth import users

    monkeypatch.setattr(users, "hasher", _PRODUCTION_HASHER[0])


# --- databases ----------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def postgres_server_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session, migrated, dropped at the end."""
    admin = sa.create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except sa.exc.OperationalError:
        admin.dispose()
        yield ""
        return
    name = f"reelhouse_test_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = sa.engine.make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    from backend.migrations import upgrade

    upgrade(url)
    yield url
    if url in _EMPTYING_ENGINES:
        _EMPTYING_ENGINES.pop(url).dispose()
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One migrated SQLite file, copied for each test (migrating per test would be slow)."""
    from backend.migrations import upgrade

    path = tmp_path_factory.mktemp("sqlite") / "template.db"
    upgrade(f"sqlite:///{path}")
    return path


_EMPTYING_ENGINES: dict[str, sa.Engine] = {}


def _truncate_all(url: str) -> None:
    """Put the database back as freshly migrated: every table emptied, every sequence restarted, the
    seeded rows back. DELETE, not TRUNCATE: TRUNCATE gives each of the ~30 tables and their indexes new
    files (210 ms median here, ~0.5 s under load), while a test leaves a few rows in a few tables, which DELETE in
    reverse dependency order removes in milliseconds. Only the tables that have a row are touched."""
    from sqlmodel import SQLModel

    import backend.tables  # noqa: F401
    from backend.catalogue.models import SEEDED_TAG_CATEGORIES, TagCategory
    from backend.sqltypes import utcnow

    engine = _EMPTYING_ENGINES.get(url)
    if engine is None:
        engine = _EMPTYING_ENGINES[url] = sa.create_engine(url, pool_pre_ping=True)
    tables = SQLModel.metadata.sorted_tables
    filled = " UNION ALL ".join(f"SELECT '{t.name}' WHERE EXISTS (SELECT 1 FROM \"{t.name}\")" for t in tables)
    with engine.begin() as conn:
        holding = set(conn.scalars(sa.text(filled)))
        for table in reversed(tables):
            if table.name in holding:
                conn.execute(sa.text(f'DELETE FROM "{table.name}"'))
        # As TRUNCATE ... RESTART IDENTITY did: ids start again where a migrated database starts them
        # (a rolled-back insert moves a sequence too, so all of them, not only those of filled tables).
        conn.execute(sa.text(
            "SELECT setval(s.seqrelid, s.seqstart, false) FROM pg_sequence s"
            " JOIN pg_class c ON c.oid = s.seqrelid JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = current_schema()"
        ))
        # Rows the migrations seed come back, as in a freshly migrated database.
        conn.execute(sa.insert(TagCategory), [
            {"id": i, "label_zh": zh, "label_en": en, "inheritable": inherit, "created_at": utcnow()}
            for i, zh, en, inherit in SEEDED_TAG_CATEGORIES
        ])


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Each test that takes this runs on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        path = tmp_path / "reelhouse.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        yield f"sqlite:///{path}"
        return
    url = request.getfixturevalue("postgres_server_url")
    if not url:
        service_missing(f"PostgreSQL at {POSTGRES_URL}")
    yield url
    _truncate_all(url)


@pytest.fixture
def sqlite_url(tmp_path: Path, sqlite_template: Path) -> str:
    path = tmp_path / "reelhouse.db"
    shutil.copy(sqlite_template, path)
    return f"sqlite:///{path}"


# --- the application, configured by environment as in production ------------------------------


def clear_caches() -> None:
    from backend.config import get_settings
    from backend.db import get_engine
    from backend.objectstore import get_storage
    from backend.queue import producer

    if get_engine.cache_info().currsize:
        get_engine().dispose()
    for cached in (get_settings, get_engine, get_storage, producer):
        cached.cache_clear()


@pytest.fixture
def app_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, database_url: str) -> Iterator[dict[str, str]]:
    """Environment for one reelhouse instance: its own data dir, the parametrized database, local storage."""
    env = {
        "REELHOUSE_DATA_DIR": str(tmp_path / "data"),
        "REELHOUSE_DATABASE_URL": database_url,
        "REELHOUSE_STORAGE_BACKEND": "local",
        "REELHOUSE_MAX_UPLOAD_BYTES": str(64 * 1024 * 1024),
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    clear_caches()
    yield env
    clear_caches()


@pytest.fixture
def queued(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, tuple[str | int, ...]]]:
    """Messages the backend would have sent to the broker (after their commit), as (task name, args)."""
    messages: list[tuple[str, tuple[str | int, ...]]] = []
    monkeypatch.setattr("backend.queue.send", lambda name, *args: messages.append((name, args)))
    return messages


@pytest.fixture
def make_previews(app_env: dict[str, str]) -> Callable[[str], bool]:
    """Run the worker's previews task for one material in this process, as the quick queue would
    after an upload (its poster and contact sheet); True once it has them."""
    from workers.catalogue import make_previews_task

    return lambda material_id: bool(make_previews_task.run(str(material_id)))


@pytest.fixture
def use_s3(monkeypatch: pytest.MonkeyPatch, app_env: dict[str, str], s3_bucket: S3ServerInfo) -> S3ServerInfo:  # noqa: F811
    """Switch the app under test to the S3 backend on the loopback S3 server."""
    for key, value in {
        "REELHOUSE_STORAGE_BACKEND": "s3",
        "REELHOUSE_S3_ENDPOINT": s3_bucket.endpoint,
        "REELHOUSE_S3_ACCESS_KEY": s3_bucket.access_key,
        "REELHOUSE_S3_SECRET_KEY": s3_bucket.secret_key,
        "REELHOUSE_S3_BUCKET": s3_bucket.bucket,
        "REELHOUSE_S3_REGION": s3_bucket.region,
        "REELHOUSE_S3_SECURE": "false",
    }.items():
        monkeypatch.setenv(key, value)
    clear_caches()
    return s3_bucket


class Keys:
    def __init__(self, admin: str, editor: str, viewer: str) -> None:
        self.admin, self.editor, self.viewer = admin, editor, viewer

    @staticmethod
    def auth(token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def keys(app_env: dict[str, str]) -> Keys:
    from backend.auth.models import Role
    from backend.auth.service import create_api_key
    from backend.db import session_scope

    with session_scope() as session:
        tokens = {role: create_api_key(session, name=f"test {role.value}", role=role).token for role in Role}
    return Keys(tokens[Role.admin], tokens[Role.editor], tokens[Role.viewer])


# The API answers errors in Chinese unless asked otherwise; the shared clients ask for English so that a
# test about behaviour can read a detail without depending on its wording. The Chinese default and the
# negotiation are tested in tests/kernel/test_problem_language.py (a request's own header wins).
ENGLISH = {"Accept-Language": "en"}


@pytest.fixture
def client(app_env: dict[str, str], keys: Keys) -> Iterator[TestClient]:
    """An API client authenticated as an editor (use `keys` for other roles), asking for English."""
    from backend.app import create_app

    with TestClient(create_app(), headers={**Keys.auth(keys.editor), **ENGLISH}) as test_client:
        yield test_client


@pytest.fixture
def anon_client(app_env: dict[str, str]) -> Iterator[TestClient]:
    from backend.app import create_app

    with TestClient(create_app(), headers=ENGLISH) as test_client:
        yield test_client
