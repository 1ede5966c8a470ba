"""The worker's Celery application: the configuration of backend/queue.py plus the task modules.

Embedded default: kombu's filesystem transport under the data directory (no server). Production:
Redis (or RabbitMQ) shared by every worker machine. The job rows in the database, not the broker,
are the source of truth; the broker only carries ids.
"""

from __future__ import annotations

from celery import Celery
from celery.signals import worker_process_init

from backend.config import Settings, get_settings
from backend.db import dispose_engine
from backend.queue import LONGEST_TASK_SECONDS, PROXY_QUEUE, QUICK_QUEUE, RENDER_QUEUE
from backend.queue import create_celery as _configured

__all__ = ["LONGEST_TASK_SECONDS", "PROXY_QUEUE", "QUICK_QUEUE", "RENDER_QUEUE", "celery_app", "create_celery"]

TASK_MODULES = [
    "workers.catalogue", "workers.uploads", "workers.compliance", "workers.renders", "workers.autoclip", "workers.proxies",
    "workers.proxy_chunks", "workers.auth",
]


def create_celery(settings: Settings | None = None) -> Celery:
    return _configured(settings or get_settings(), include=TASK_MODULES)


celery_app = create_celery()


@worker_process_init.connect
def _fresh_connections(**_: object) -> None:
    # A forked child must not reuse its parent's pooled database connections.
    dispose_engine()
