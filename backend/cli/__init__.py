"""The `reelhouse` command: run the service, workers and scheduler; migrate; manage keys; import files."""

from __future__ import annotations

import contextlib
import functools
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, BinaryIO, cast

import typer

from backend.cli.common import announce_database, database_label, migrate_database, prepare_write
from backend.cli.compliance import channels_app, publish_app, report_app
from backend.cli.metrics import metrics_app
from backend.cli.renders import render_cmd
from backend.cli.users import has_users, users_app
from backend.config import config_file, get_settings

app = typer.Typer(help="reelhouse: catalogue, platform renders and channel quotas for short video.", no_args_is_help=True)
keys_app = typer.Typer(help="API keys.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
app.add_typer(users_app, name="users")
app.add_typer(report_app, name="report")
app.add_typer(metrics_app, name="metrics")
app.add_typer(channels_app, name="channels")
app.add_typer(publish_app, name="publish")
app.command("render")(render_cmd)


@app.command()
def migrate() -> None:
    """Bring the database schema up to date (Alembic)."""
    prepare_write()
    typer.echo("database is up to date")


def _worker_argv(queues: str, concurrency: int, beat: bool, loglevel: str, name: str | None = None) -> list[str]:
    argv = [sys.executable, "-m", "celery", "-A", "workers.celery_app:celery_app", "worker",
            "-Q", queues, "--concurrency", str(concurrency), "--loglevel", loglevel, "-O", "fair"]
    if name:
        argv += ["-n", f"{name}@%h"]
    if beat:
        argv += ["--beat", "--schedule", str(get_settings().data_dir / "celerybeat-schedule")]
    return argv


def _pool_argvs(queues: str, concurrency: int | None, beat: bool, loglevel: str) -> list[list[str]]:
    """One Celery worker per kind of queue asked for: renders and proxies get their own pools, sized from
    the cores, so a probe, preview or fingerprint never waits for (or takes) an encoder slot. The proxy
    pool runs at a lower CPU priority (nice 10): a draft someone waits for goes before a proxy."""
    from backend.queue import PROXY_QUEUE, RENDER_QUEUE, render_slots

    settings = get_settings()
    asked = [q.strip() for q in queues.split(",") if q.strip()]
    others = [q for q in asked if q not in (RENDER_QUEUE, PROXY_QUEUE)]
    argvs = []
    if others:
        n = concurrency or settings.worker_concurrency
        argvs.append(_worker_argv(",".join(others), n, beat, loglevel))  # celery@host, as health checks ping it
    for queue in (RENDER_QUEUE, PROXY_QUEUE):
        if queue in asked:
            n = concurrency or render_slots(settings)
            argv = _worker_argv(queue, n, beat and not argvs, loglevel, queue if len(asked) > 1 else None)
            argvs.append(["nice", "-n", "10", *argv] if queue == PROXY_QUEUE and len(asked) > 1 else argv)
    return argvs


def _start_pools(argvs: list[list[str]]) -> list[subprocess.Popen[bytes]]:
    # Each pool in a process group of its own (stopped as a group; a Ctrl-C reaches `serve` alone), but in
    # this session: Linux shares the CPU between sessions (sched_autogroup) before it looks at nice values,
    # so a pool in a session of its own would escape the proxy pool's nice 10.
    return [subprocess.Popen(argv, process_group=0) for argv in argvs]


def _stop_pools(procs: list[subprocess.Popen[bytes]]) -> None:
    # SIGTERM to each Celery main process only: its warm shutdown lets running tasks finish and then
    # stops its pool. Sent to the whole group, the pool children died at once and the main process
    # waited for them until the kill below.
    for proc in procs:
        if proc.poll() is None:
            proc.terminate()
    for proc in procs:
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=30)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # whatever is left of its group


@app.command()
def worker(
    queues: Annotated[str, typer.Option(help="Comma-separated queues: quick, render, proxy")] = "quick,render,proxy",
    concurrency: Annotated[int | None, typer.Option(help="Worker processes (default: quick from settings, render and proxy from the cores)")] = None,
    beat: Annotated[bool, typer.Option(help="Also run the scheduler (only in one worker per deployment)")] = False,
    loglevel: str = "info",
) -> None:
    """Run Celery workers (add more machines by running this against shared PostgreSQL, Redis and MinIO).

    With all three queues (the default), three workers run: the quick one, and a render and a proxy one
    with pools sized from the machine's cores (REELHOUSE_RENDER_CONCURRENCY overrides)."""
    argvs = _pool_argvs(queues, concurrency, beat, loglevel)
    if len(argvs) == 1:
        os.execv(sys.executable, argvs[0])
    procs = _start_pools(argvs)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        while all(p.poll() is None for p in procs):
            with contextlib.suppress(subprocess.TimeoutExpired):
                procs[0].wait(timeout=1)
    finally:
        _stop_pools(procs)


@app.command()
def beat(loglevel: str = "info") -> None:
    """Run the Celery beat scheduler (one per deployment)."""
    schedule = str(get_settings().data_dir / "celerybeat-schedule")
    os.execv(sys.executable, [sys.executable, "-m", "celery", "-A", "workers.celery_app:celery_app", "beat",
                              "--loglevel", loglevel, "--schedule", schedule])


def _first_admin_key() -> str | None:
    from sqlmodel import select

    from backend.auth.models import ApiKey, Role
    from backend.auth.service import create_api_key
    from backend.db import session_scope

    with session_scope() as session:
        if session.exec(select(ApiKey)).first() is not None:
            return None
        return create_api_key(session, name="first admin", role=Role.admin).token


@app.command()
def serve(
    host: str = "127.0.0.1",
    port: int = 8000,
    with_worker: Annotated[bool, typer.Option(help="Start a worker (with the scheduler) beside the API")] = True,
    reload: bool = False,
) -> None:
    """Run the API (and, by default, a worker with the scheduler) on this machine."""
    import uvicorn


    settings = get_settings()
    migrate_database()
    token = _first_admin_key()
    url = f"http://{host}:{port}"
    typer.echo("")
    typer.echo(f"  reelhouse is starting on {url}  (web page: {url}/, API docs: {url}/docs)")
    typer.echo(f"  data directory: {settings.data_dir}")
    typer.echo(f"  database: {database_label()}   storage: {settings.storage_backend}")
    typer.echo(f"  config: {config_file() or 'none (environment and defaults)'}")
    if token:
        typer.echo("")
        typer.echo("  First start: an admin API key was created. It is shown only this once:")
        typer.echo(f"      {token}")
        typer.echo("  Scripts send it as 'Authorization: Bearer <key>'; people sign in to the web app (below).")
    else:
        typer.echo("  Need a key? reelhouse keys create --role admin|editor|viewer (from any folder: same config)")
    typer.echo("")
    if has_users():
        typer.echo(f"  Sign in to the web app at {url}/ with your user name and password.")
    else:
        typer.echo("  No one can sign in to the web app yet. Create the first admin (asks for a password):")
        typer.echo("      reelhouse users create-admin admin        (or: make admin)")
        typer.echo(f"  then sign in at {url}/ as 'admin'.")
    typer.echo("")
    workers = _start_pools(_pool_argvs("quick,render,proxy", None, True, "warning")) if with_worker else []
    # uvicorn re-raises SIGTERM/SIGINT after its graceful shutdown; with the default handler that
    # would end this process before the `finally` below stops the worker it started.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        uvicorn.run("backend.app:create_app", factory=True, host=host, port=port, reload=reload,
                    log_level="info", timeout_graceful_shutdown=10)
    finally:
        _stop_pools(workers)


def _default_key_name() -> str:
    import getpass
    import socket

    try:
        return f"{getpass.getuser()}@{socket.gethostname()}"
    except (KeyError, OSError):
        return "cli"


@keys_app.command("create")
def keys_create(
    name: Annotated[str | None, typer.Option(help="Who or what uses the key; default user@host")] = None,
    role: Annotated[str, typer.Option(help="viewer | editor | admin")] = "editor",
) -> None:
    """Create an API key and print it (shown once). The database used is named on stderr."""
    from backend.auth.models import Role
    from backend.auth.service import create_api_key
    from backend.db import session_scope

    try:
        chosen = Role(role)
    except ValueError:
        raise typer.BadParameter("--role is viewer, editor or admin") from None
    prepare_write()
    with session_scope() as session:
        issued = create_api_key(session, name=name or _default_key_name(), role=chosen)
    typer.echo(issued.token)


@keys_app.command("list")
def keys_list() -> None:
    """List API keys (without their secrets)."""
    from backend.auth.service import list_api_keys
    from backend.db import session_scope

    announce_database()  # a key that gets 401 is often a key of another database
    with session_scope() as session:
        for key in list_api_keys(session):
            state = "revoked" if key.revoked_at else "active"
            typer.echo(f"{key.id}  rh_{key.prefix}_…  {key.role:<7} {state:<8} {key.name}")


@keys_app.command("revoke")
def keys_revoke(key_id: str) -> None:
    """Revoke a key by id."""
    import uuid

    from backend.auth.service import revoke_api_key
    from backend.db import session_scope

    announce_database()
    with session_scope() as session:
        revoke_api_key(session, uuid.UUID(key_id))
    typer.echo("revoked")


class _CountingReader:
    """A binary file that advances a progress bar as it is read (the copy into the spool)."""

    def __init__(self, raw: BinaryIO, advance: Callable[[int], None]) -> None:
        self.raw, self.advance = raw, advance

    def read(self, size: int = -1) -> bytes:
        chunk = self.raw.read(size)
        self.advance(len(chunk))
        return chunk


@app.command("import")
def import_files(
    paths: Annotated[list[Path], typer.Argument(help="Files to add to the catalogue", exists=True, dir_okay=False)],
    title: Annotated[str | None, typer.Option(help="Title of the material (one file only); default: file name")] = None,
    tag: Annotated[list[str], typer.Option(help="'category:name', repeatable")] = [],  # noqa: B006
    kind: str = "source",
    progress: Annotated[bool, typer.Option(help="Show progress bars (default: when stderr is a terminal)")] = sys.stderr.isatty(),
) -> None:
    """Add local files to the catalogue (copied, never moved). Prints '<material id>\t<state>\t<path>'."""
    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn

    from backend.catalogue.models import MaterialKind
    from backend.db import session_scope
    from backend.errors import AppError
    from backend.objectstore import get_storage
    from backend.uploads.service import IngestRequest, ingest_spooled
    from backend.uploads.spool import spool_file

    if title is not None and len(paths) != 1:
        raise typer.BadParameter("--title names one material: give one file")
    prepare_write()
    settings = get_settings()
    failed = 0
    bars = Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
                    TimeRemainingColumn(), console=Console(stderr=True), disable=not progress, transient=True)
    with bars:
        for path in paths:
            task = bars.add_task(f"copying {path.name}", total=path.stat().st_size)
            try:
                with path.open("rb") as fh:
                    counting = cast(BinaryIO, _CountingReader(fh, functools.partial(bars.advance, task)))
                    spooled = spool_file(counting, settings.spool_dir, settings.max_upload_bytes)
                # Probing, hashing and storing: no byte count to show, so the bar pulses.
                bars.update(task, description=f"checking {path.name}", total=None)
                request = IngestRequest(kind=MaterialKind(kind), tag_refs=tag, title=title, original_filename=path.name)
                with session_scope() as session:
                    result = ingest_spooled(session, get_storage(), settings, spooled, request)
                    material_id, created = result.material.id, result.created
                bars.console.print(f"{'added' if created else 'already catalogued'}: {path}", highlight=False)
                typer.echo(f"{material_id}\t{'added' if created else 'existing'}\t{path}")
            except AppError as exc:
                failed += 1
                typer.echo(f"rejected: {path}: {exc.title}: {exc.detail} [{exc.type_uri()}]", err=True)
            finally:
                bars.remove_task(task)
    raise typer.Exit(code=1 if failed else 0)
