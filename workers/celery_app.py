"""The Celery application: broker from settings, reliable delivery, queues by cost.

Embedded default: kombu's filesystem transport under the data directory (no server). Production:
Redis (or RabbitMQ) shared by every worker machine. The job rows in the database, not the broker,
are the source of truth; the broker only carries ids.
"""

from __future__ import annotations

from celery import Celery
from celery.signals import worker_process_init
from kombu import Exchange, Queue

from backend.config import Settings, get_settings

QUICK_QUEUE = "quick"  # probes, posters, reports, webhooks: seconds
RENDER_QUEUE = "render"  # ffmpeg renders: minutes
LONGEST_TASK_SECONDS = 4 * 3600
TASK_MODULES = ["workers.catalogue", "workers.uploads", "workers.compliance", "workers.renders"]


def broker_options(settings: Settings) -> dict[str, object]:
    if settings.uses_filesystem_broker:
        folder = settings.broker_dir
        for sub in ("in", "processed", "control"):
            (folder / sub).mkdir(parents=True, exist_ok=True)
        return {
            "control_folder": str(folder / "control"),
            "data_folder_in": str(folder / "in"),
            "data_folder_out": str(folder / "in"),
            "processed_folder": str(folder / "processed"),
            "store_processed": False,
        }
    # Redis re-delivers an unacked message after the visibility timeout: keep it above the longest task.
    return {"visibility_timeout": settings.broker_visibility_timeout or LONGEST_TASK_SECONDS + 3600}


def create_celery(settings: Settings | None = None) -> Celery:
    settings = settings or get_settings()
    app = Celery("reelhouse", broker=settings.effective_broker_url, include=TASK_MODULES)
    app.conf.update(
        broker_transport_options=broker_options(settings),
        broker_connection_retry_on_startup=True,
        task_ignore_result=True,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_default_queue=QUICK_QUEUE,
        task_queues=[Queue(q, Exchange(q, type="direct"), routing_key=q) for q in (QUICK_QUEUE, RENDER_QUEUE)],
        task_default_exchange=QUICK_QUEUE,
        task_default_routing_key=QUICK_QUEUE,
        task_routes={"reelhouse.render.*": {"queue": RENDER_QUEUE}},
        task_time_limit=LONGEST_TASK_SECONDS,
        task_soft_time_limit=LONGEST_TASK_SECONDS - 60,
        task_serializer="json",
        accept_content=["json"],
        timezone="UTC",
        enable_utc=True,
        worker_hijack_root_logger=False,
        beat_schedule={},
    )
    return app


celery_app = create_celery()


@worker_process_init.connect
def _fresh_connections(**_: object) -> None:
    # A forked child must not reuse its parent's pooled database connections.
    from backend.db import dispose_engine

    dispose_engine()
