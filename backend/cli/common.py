"""What every command group of the CLI shares: bringing the schema up to date before it works."""

from __future__ import annotations

from backend.config import get_settings


def migrate_database() -> None:
    from backend.migrations import upgrade  # Alembic: loaded only by the commands that write

    settings = get_settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    upgrade(settings.effective_database_url)
