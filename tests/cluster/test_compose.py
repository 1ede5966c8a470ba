"""docker-compose.yml scales its workers with `docker compose up --scale worker=4` and nothing else:
a worker has no fixed container name, host name, port or volume, takes every queue (proxy chunks
included) and reaches the shared servers by their service names."""

from __future__ import annotations

import pytest

from tests.conftest import REPO

yaml = pytest.importorskip("yaml")


def test_the_worker_service_scales_without_other_changes() -> None:
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text(encoding="utf-8"))
    worker = compose["services"]["worker"]
    assert not {"container_name", "hostname", "ports", "volumes"} & set(worker)
    command = worker["command"]
    assert set(command[command.index("--queues") + 1].split(",")) == {"quick", "render", "proxy"}
    env = worker["environment"]
    assert env["REELHOUSE_STORAGE_BACKEND"] == "s3"  # nothing on a worker's own disk outlives its container
    assert "@postgres:" in env["REELHOUSE_DATABASE_URL"] and env["REELHOUSE_BROKER_URL"].startswith("redis://redis:")
    assert env["REELHOUSE_S3_ENDPOINT"] == "minio:9000"
