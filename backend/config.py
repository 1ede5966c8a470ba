"""Settings for reelhouse, read from the environment (prefix REELHOUSE_) with embedded defaults.

The defaults run everything from one data directory: a SQLite file, local-disk storage and a
filesystem Celery broker, so a fresh clone needs no server.

The server, the workers and the CLI resolve the same settings wherever they are started from (a
key made by `reelhouse keys create` in another folder used to land in a new, empty database):
environment variables win; then one config file, the first of `$REELHOUSE_CONFIG`, the nearest
`reelhouse.env` (or `.env` that sets a REELHOUSE_ variable) found walking up from the current folder (as git finds `.git`), and the
user's `~/.config/reelhouse/reelhouse.env`; relative paths in a file are read from the file's
folder. With nothing set, the data directory is the user data dir (`~/.local/share/reelhouse` on
Linux, from platformdirs), not the current folder.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Literal

from dotenv import dotenv_values
from platformdirs import user_config_path, user_data_path
from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    # The file is chosen by `config_file()` and passed in by `get_settings()`.
    model_config = SettingsConfigDict(env_prefix="REELHOUSE_", env_file=None, extra="ignore")

    data_dir: Path = Field(default_factory=lambda: user_data_path("reelhouse", appauthor=False),
                           description="Root of every embedded default; default: the user data dir.")
    database_url: str | None = Field(default=None, description="SQLAlchemy URL; default: SQLite in data_dir.")

    storage_backend: Literal["local", "s3"] = "local"
    storage_root: Path | None = Field(
        default=None, description="Local storage root; default data_dir/objects."
    )
    s3_endpoint: str = "127.0.0.1:9000"
    s3_access_key: str = ""
    s3_secret_key: str = ""
    s3_bucket: str = "reelhouse"
    s3_secure: bool = False
    s3_region: str | None = None
    s3_public_endpoint: str | None = Field(
        default=None, description="Host for presigned URLs, if clients reach S3 elsewhere."
    )
    presigned_url_ttl_seconds: int = 3600

    broker_url: str | None = Field(
        default=None, description="Celery broker; default: filesystem queue in data_dir."
    )
    worker_concurrency: int = Field(
        default=2, ge=1, description="Processes of the quick-queue worker (probes, previews, fingerprints, rules)."
    )
    render_concurrency: int | None = Field(
        default=None, ge=1, description="Render jobs at once per machine; default: one per 2 cores (at least 1)."
    )
    render_threads: int | None = Field(
        default=None, ge=0,
        description="Threads of each render's x264 encoders and filter graph; default: cores / render jobs at "
        "once; 0: ffmpeg's own choice (about 1.5 per core each).",
    )

    max_upload_bytes: int = 20 * 1024**3
    max_video_pixels: int = 8192 * 8192
    max_image_pixels: int = 50_000_000
    max_duration_seconds: float = 12 * 3600
    probe_timeout_seconds: float = 60.0

    tus_expire_seconds: int = Field(
        default=7 * 24 * 3600, gt=0, description="Idle time before an unfinished resumable upload expires."
    )
    tus_fsync: bool = Field(
        default=False,
        description="fsync each PATCH before acknowledging it: survives power loss, costs throughput.",
    )
    tus_retain_seconds: int = Field(
        default=30 * 24 * 3600,
        ge=0,
        description="How long finished upload records are kept (410 rather than 404).",
    )

    presets_dir: Path | None = Field(default=None, description="Extra/override platform preset files.")
    ffmpeg_path: str | None = Field(
        default=None, description="ffmpeg binary; default: system ffmpeg or bundled."
    )
    cjk_font_path: Path | None = Field(default=None, description="CJK font for burned-in titles; default: fonts-noto-cjk.")

    render_lease_seconds: float = Field(default=120.0, gt=0, description="A render job's lease; renewed while it runs.")
    render_max_attempts: int = Field(default=3, ge=1)
    autoclip_extra_clips: int = Field(
        default=0, ge=0, le=50,
        description="Clips the re-edit plan asks for per channel and day on top of its quota shortfall.",
    )
    autoclip_smart_reframe: bool = Field(
        default=True,
        description="Drafts for a narrower preset (9:16 from 16:9) follow the suggested smart-reframe path where "
        "the analysis has picture signals; a preset whose fit is `pad` keeps its padded frame.",
    )
    render_timeout_seconds: float = Field(default=3 * 3600.0, gt=0, description="ffmpeg wall-clock limit per render.")
    broker_visibility_timeout: int | None = Field(
        default=None, description="Redis redelivers an unacked message after this; default: above the longest task."
    )
    auto_render_presets: str = Field(
        default="", description="Comma-separated preset ids rendered automatically for each new source video."
    )
    proxy_chunk_threshold_seconds: float = Field(
        default=300.0, gt=0, description="Sources longer than this get their proxy encoded in chunks across workers."
    )
    proxy_chunk_seconds: float = Field(default=90.0, gt=0, description="Length of one chunk of a chunked proxy encode.")
    auto_render_seconds: float = Field(default=60.0, gt=0, description="Auto renders cut the first N seconds.")

    public_url: str = "http://127.0.0.1:8000"

    # The web app's sign-in (backend/auth). A session slides on use up to its absolute lifetime.
    session_idle_hours: float = Field(default=72.0, gt=0, description="A web session ends after this long unused.")
    session_max_days: float = Field(default=30.0, gt=0, description="A web session ends this long after sign-in.")
    cookie_secure: bool | None = Field(
        default=None, description="Mark the session cookie Secure; default: when the request came over https."
    )
    login_window_minutes: float = Field(default=15.0, gt=0, description="The window sign-in failures are counted in.")
    login_max_failures_per_user: int = Field(default=5, ge=1, description="Failures that lock a user name for the window.")
    login_max_failures_per_ip: int = Field(default=30, ge=1, description="Failures that block an address for the window.")
    webhook_url: str | None = Field(default=None, description="Report and at_risk webhooks are POSTed here.")
    webhook_secret: str | None = Field(default=None, description="HMAC-SHA256 key for X-Reelhouse-Signature.")

    @field_validator("data_dir", mode="after")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        return value.expanduser().resolve()

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'reelhouse.db'}"

    @property
    def effective_storage_root(self) -> Path:
        return (self.storage_root or self.data_dir / "objects").expanduser().resolve()

    @property
    def effective_broker_url(self) -> str:
        return self.broker_url or "filesystem://"

    @property
    def uses_filesystem_broker(self) -> bool:
        return self.effective_broker_url.startswith("filesystem://")

    @property
    def broker_dir(self) -> Path:
        return self.data_dir / "broker"

    @property
    def spool_dir(self) -> Path:
        """Where upload bodies are spooled while they are hashed and probed (same disk as local storage)."""
        return self.data_dir / "spool"

    @property
    def render_work_dir(self) -> Path:
        """Where render jobs keep their temporary folders (one each, removed when the job ends; a worker
        removes the ones left by killed workers when it starts)."""
        return self.data_dir / "render-work"


CONFIG_NAMES = ("reelhouse.env", ".env")
_PATH_SETTINGS = ("data_dir", "storage_root", "presets_dir", "cjk_font_path")


def config_file(start: Path | None = None) -> Path | None:
    """The one config file in force: $REELHOUSE_CONFIG, else the nearest reelhouse.env / .env from
    `start` (the current folder) up to the root, else the user's config file, else none."""
    explicit = os.environ.get("REELHOUSE_CONFIG")
    if explicit:
        path = Path(explicit).expanduser().resolve()
        if not path.is_file():
            raise FileNotFoundError(f"REELHOUSE_CONFIG names {path}, which is not a file")
        return path
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        for name in CONFIG_NAMES:
            candidate = folder / name
            # Another project's .env is not ours: only one that sets a REELHOUSE_ variable counts.
            if candidate.is_file() and (name != ".env" or any(
                    k.upper().startswith("REELHOUSE_") for k in dotenv_values(candidate))):
                return candidate
    user = user_config_path("reelhouse", appauthor=False) / "reelhouse.env"
    return user if user.is_file() else None


def load_settings(start: Path | None = None) -> Settings:
    path = config_file(start)
    if path is None:
        return Settings()
    # Relative paths in the file mean "next to the file", not "next to wherever the command runs".
    anchored = {}
    for name, value in dotenv_values(path).items():
        field = name.upper().removeprefix("REELHOUSE_").lower()
        if (name.upper().startswith("REELHOUSE_") and field in _PATH_SETTINGS and value
                and name.upper() not in {k.upper() for k in os.environ} and not Path(value).expanduser().is_absolute()):
            anchored[field] = (path.parent / value).resolve()
    settings = Settings(_env_file=path)
    return settings.model_copy(update=anchored) if anchored else settings


@lru_cache
def get_settings() -> Settings:
    return load_settings()
