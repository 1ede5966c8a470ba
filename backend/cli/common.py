"""What every command group of the CLI shares: bringing the schema up to date before it works, and
saying which configuration and database a command writes to."""

from __future__ import annotations

from pathlib import Path

import typer

from backend.config import config_file, get_settings


def migrate_database() -> None:
    from backend.migrations import upgrade  # Alembic: loaded only by the commands that write

    settings = get_settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    upgrade(settings.effective_database_url)


def database_label() -> str:
    """The database in force, password hidden."""
    from sqlalchemy.engine import make_url

    return make_url(get_settings().effective_database_url).render_as_string(hide_password=True)


def announce_database() -> None:
    """On stderr (stdout stays the command's answer, e.g. a key): the database a write goes to, the
    config file that chose it, and a new SQLite file when one is about to be created."""
    settings = get_settings()
    url = settings.effective_database_url
    new = ""
    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).exists():
        new = " (new: no database was there yet)"
    found = config_file()
    typer.echo(f"database: {database_label()}{new}", err=True)
    typer.echo(f"config: {found if found else 'none (environment and defaults)'}", err=True)
    legacy = Path.cwd() / ".reelhouse-data"
    if (legacy / "reelhouse.db").exists() and legacy.resolve() != settings.data_dir:
        typer.echo(f"note: {legacy} (the old per-folder default) is not used; to keep it, put "
                   f"REELHOUSE_DATA_DIR={legacy} in a reelhouse.env", err=True)


def prepare_write() -> None:
    """Before a command writes: say where, then migrate."""
    announce_database()
    migrate_database()
