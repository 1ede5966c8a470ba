"""Enqueue work by task name, after commit: the one place the backend talks to the broker.

The Celery configuration (broker from Settings, queues by cost, routing table, delivery guarantees)
lives here, so the API's producer and `workers/celery_app.py`'s worker app are built from the same
settings. Services never import a task module: they name the task and the job row's transaction
decides whether the message goes out (`enqueue` sends only after the commit).
"""

from __future__ import annotations

import os
from functools import lru_cache

from celery import Celery
from kombu import Exchange, Queue
from sqlmodel import Session

from backend.config import Settings, get_settings
from backend.db import after_commit

QUICK_QUEUE = "quick"  # probes, posters, fingerprints, reports, webhooks: seconds
RENDER_QUEUE = "render"  # ffmpeg renders: minutes
PROXY_QUEUE = "proxy"  # proxies of every new video: minutes to an hour each, never in the way of the others
QUEUES = (QUICK_QUEUE, RENDER_QUEUE, PROXY_QUEUE)
LONGEST_TASK_SECONDS = 4 * 3600

# Task names: the contract between the services that send and workers/ that registers them.
RENDER_JOB = "reelhouse.render.render_job"
AUTO_RENDER_SOURCE = "reelhouse.auto_render_source"
FINGERPRINT_MATERIAL = "reelhouse.fingerprint_material"
MAKE_PREVIEWS = "reelhouse.make_previews"  # quick: a new material's poster and contact sheet
ANALYSE_MATERIAL = "reelhouse.autoclip.analyse_material"
PROPOSAL_STORYBOARDS = "reelhouse.autoclip.proposal_storyboards"  # render queue: it decodes the recording
APPLY_AUTOCLIP_RULES = "reelhouse.apply_autoclip_rules"  # quick: matches a new recording against the rules
CONTINUE_AUTOCLIP_RUN = "reelhouse.continue_autoclip_run"  # quick: a back-filled run's proposals and drafts
MAKE_PROXY = "reelhouse.proxy.make_proxy"
CANCEL_PROXY = "reelhouse.cancel_proxy"  # quick: stops a cancelled proxy's chunked workflow, if it has one

# Analysis decodes a whole recording (minutes for a long stream): it goes with the renders, not the quick
# work (its sweep, `reelhouse.sweep_analyses`, stays on the quick queue).
# Proxies (and, later, their chunks) have a queue of their own: a 2-hour stream's proxy must not hold up
# a render someone waits for (their sweep, `reelhouse.sweep_proxies`, stays on the quick queue).
TASK_ROUTES = {
    "reelhouse.render.*": {"queue": RENDER_QUEUE}, "reelhouse.autoclip.*": {"queue": RENDER_QUEUE},
    "reelhouse.proxy.*": {"queue": PROXY_QUEUE},
}


def machine_cores() -> int:
    """Cores this process may run on (the affinity mask, e.g. a container's cpuset), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def render_slots(settings: Settings, cores: int | None = None) -> int:
    """Render jobs a worker machine runs at once. x264 already keeps a core busy per frame thread, so
    more jobs than half the cores only oversubscribe them (two 1080p jobs on 2 cores ran at ~58 % of
    the throughput of the same renders one after another)."""
    if settings.render_concurrency:
        return settings.render_concurrency
    return max(1, (cores or machine_cores()) // 2)


def render_threads(settings: Settings, cores: int | None = None) -> int | None:
    """Threads each encoder (and the filter graph) of one render job gets: the job's share of the cores
    (None: ffmpeg's own default, set with REELHOUSE_RENDER_THREADS=0)."""
    if settings.render_threads is not None:
        return settings.render_threads or None
    cores = cores or machine_cores()
    return max(1, cores // render_slots(settings, cores))


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
    # A shorter one, set by the deployment, is how soon a dead machine's chunk runs elsewhere; the
    # workers then look for such messages every tenth of it (kombu's default is every 100 s).
    if settings.broker_visibility_timeout:
        timeout = settings.broker_visibility_timeout
        return {"visibility_timeout": timeout, "unacked_restore_interval": max(1, min(10, timeout // 10)),
                "unacked_restore_throttle": 1}
    return {"visibility_timeout": LONGEST_TASK_SECONDS + 3600}


def result_backend(settings: Settings) -> str:
    """Where task results live (only tasks that keep one: a chunked proxy's chord counts its chunks
    there): the Redis that is the broker, else files beside the filesystem broker."""
    broker = settings.effective_broker_url
    if broker.startswith(("redis://", "rediss://")):
        return broker
    folder = settings.data_dir / "results"
    folder.mkdir(parents=True, exist_ok=True)
    return folder.as_uri()


def create_celery(settings: Settings, include: list[str] | None = None) -> Celery:
    """A Celery app configured from settings: the producer here, the worker app in workers/."""
    app = Celery("reelhouse", broker=settings.effective_broker_url, include=include or [])
    app.conf.update(
        result_backend=result_backend(settings),
        result_expires=7 * 24 * 3600,
        broker_transport_options=broker_options(settings),
        broker_connection_retry_on_startup=True,
        task_ignore_result=True,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_default_queue=QUICK_QUEUE,
        task_queues=[Queue(q, Exchange(q, type="direct"), routing_key=q) for q in QUEUES],
        task_default_exchange=QUICK_QUEUE,
        task_default_routing_key=QUICK_QUEUE,
        task_routes=TASK_ROUTES,
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


@lru_cache
def producer() -> Celery:
    """The app the backend sends with (no tasks registered: messages go by name)."""
    return create_celery(get_settings())


def send(task_name: str, *args: str | int) -> None:
    """Send one message now, routed by the task name (`TASK_ROUTES`). Prefer `enqueue` inside a transaction."""
    producer().send_task(task_name, args=list(args))


def enqueue(session: Session, task_name: str, *args: str | int) -> None:
    """Send the message once the session's transaction commits; nothing is sent if it rolls back."""
    # Looked up at send time, so a test may replace `send` and see what would have gone out.
    after_commit(session, lambda: send(task_name, *args))


def check_broker() -> None:
    """Raise unless the broker accepts a connection (readiness)."""
    with producer().connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, timeout=3)
