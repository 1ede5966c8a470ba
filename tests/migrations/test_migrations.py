"""Alembic is the only way the schema changes: upgrade from empty, down and up again, on both databases."""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa
from sqlmodel import SQLModel

import backend.tables  # noqa: F401
from backend.migrations import downgrade, upgrade
from tests.conftest import POSTGRES_URL, service_missing


@pytest.fixture(params=["sqlite", "postgres"])
def empty_database(request: pytest.FixtureRequest, tmp_path):  # type: ignore[no-untyped-def]
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.db'}"
        return
    admin = sa.create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    try:
        admin.connect().close()
    except sa.exc.OperationalError:
        service_missing(f"PostgreSQL at {POSTGRES_URL}")
    name = f"reelhouse_mig_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    yield sa.engine.make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _tables(url: str) -> set[str]:
    engine = sa.create_engine(url)
    try:
        return set(sa.inspect(engine).get_table_names()) - {"alembic_version"}
    finally:
        engine.dispose()


def test_upgrade_downgrade_round_trip(empty_database: str) -> None:
    upgrade(empty_database)
    assert _tables(empty_database) == set(SQLModel.metadata.tables)
    downgrade(empty_database, "base")
    assert _tables(empty_database) == set()
    upgrade(empty_database)
    assert _tables(empty_database) == set(SQLModel.metadata.tables)


def test_models_match_migrations(empty_database: str) -> None:
    """No model change without a migration: autogenerate finds nothing to do."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    upgrade(empty_database)
    engine = sa.create_engine(empty_database)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), SQLModel.metadata)
    engine.dispose()
    ignorable = {"ix_material_fts", "ix_material_title_trgm", "ix_material_description_trgm"}
    real = [d for d in diff if not (d[0] == "remove_index" and d[1].name in ignorable)]
    assert real == []
