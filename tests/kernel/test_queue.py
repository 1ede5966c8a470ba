"""backend/queue.py: messages go out by task name, routed by the table, only after the commit."""

from __future__ import annotations

import json
import uuid

import pytest

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def test_enqueue_sends_after_commit_and_never_after_rollback(app_env, queued) -> None:
    from backend import queue
    from backend.db import session_scope

    with session_scope() as session:
        queue.enqueue(session, queue.FINGERPRINT_MATERIAL, "a")
        assert queued == []  # not before the commit
    assert queued == [(queue.FINGERPRINT_MATERIAL, ("a",))]
    with pytest.raises(RuntimeError), session_scope() as session:
        queue.enqueue(session, queue.FINGERPRINT_MATERIAL, "b")
        raise RuntimeError("the request failed")
    assert queued == [(queue.FINGERPRINT_MATERIAL, ("a",))]


def test_ingest_names_its_follow_up_work_without_importing_it(app_env, queued, small_clip, monkeypatch) -> None:
    """A new source video asks for its fingerprint, its proxy, the automatic render rule and the autoclip rules by task name."""
    from backend import queue
    from backend.config import get_settings
    from backend.db import session_scope
    from backend.objectstore import get_storage
    from backend.uploads.service import IngestRequest, ingest_local_file

    monkeypatch.setenv("REELHOUSE_AUTO_RENDER_PRESETS", "douyin.feed_9x16")
    get_settings.cache_clear()
    with session_scope() as session:
        material = ingest_local_file(
            session, get_storage(), get_settings(), small_clip, IngestRequest(title="直播切片")
        ).material
        assert queued == []
    mid = str(material.id)
    assert sorted(queued) == sorted([
        (queue.FINGERPRINT_MATERIAL, (mid,)), (queue.AUTO_RENDER_SOURCE, (mid,)), (queue.APPLY_AUTOCLIP_RULES, (mid,)),
        (queue.MAKE_PROXY, (mid,)), (queue.MAKE_PREVIEWS, (mid,)),
    ])


def test_task_names_are_routed_by_the_table_and_registered_by_the_worker(app_env) -> None:
    from backend import queue
    from workers.celery_app import celery_app

    router = queue.producer().amqp.router
    assert router.route({}, queue.RENDER_JOB)["queue"].name == queue.RENDER_QUEUE
    assert router.route({}, queue.FINGERPRINT_MATERIAL)["queue"].name == queue.QUICK_QUEUE
    assert router.route({}, queue.AUTO_RENDER_SOURCE)["queue"].name == queue.QUICK_QUEUE
    assert router.route({}, queue.APPLY_AUTOCLIP_RULES)["queue"].name == queue.QUICK_QUEUE
    assert router.route({}, queue.CONTINUE_AUTOCLIP_RUN)["queue"].name == queue.QUICK_QUEUE
    assert router.route({}, queue.PROPOSAL_STORYBOARDS)["queue"].name == queue.RENDER_QUEUE  # it decodes frames
    assert router.route({}, queue.MAKE_PROXY)["queue"].name == queue.PROXY_QUEUE  # never behind or before quick work
    assert router.route({}, "reelhouse.sweep_proxies")["queue"].name == queue.QUICK_QUEUE
    celery_app.loader.import_default_modules()
    names = {queue.RENDER_JOB, queue.AUTO_RENDER_SOURCE, queue.FINGERPRINT_MATERIAL, queue.APPLY_AUTOCLIP_RULES,
             queue.MAKE_PROXY, "reelhouse.sweep_proxies", queue.CONTINUE_AUTOCLIP_RUN, queue.PROPOSAL_STORYBOARDS,
             "reelhouse.sweep_storyboards", queue.MAKE_PREVIEWS}
    assert names <= set(celery_app.tasks)
    assert celery_app.tasks[queue.RENDER_JOB].queue == queue.RENDER_QUEUE
    assert celery_app.tasks[queue.MAKE_PROXY].queue == queue.PROXY_QUEUE
    assert {q.name for q in celery_app.conf.task_queues} == {queue.QUICK_QUEUE, queue.RENDER_QUEUE, queue.PROXY_QUEUE}


def test_send_puts_a_message_on_the_configured_broker(app_env) -> None:
    """The embedded filesystem broker: the message lands in the data dir, named by task, on its queue."""
    from backend import queue
    from backend.config import get_settings

    job_id = str(uuid.uuid4())
    queue.send(queue.RENDER_JOB, job_id)
    found = []
    for path in (get_settings().broker_dir / "in").iterdir():
        message = json.loads(path.read_text())
        found.append((message["headers"]["task"], message["properties"]["delivery_info"]["routing_key"],
                      message["headers"]["argsrepr"]))
    assert found == [(queue.RENDER_JOB, queue.RENDER_QUEUE, repr([job_id]))]


def test_results_live_in_the_brokers_redis_or_beside_the_filesystem_broker(app_env, tmp_path) -> None:
    from backend.config import Settings
    from backend.queue import broker_options, create_celery, result_backend

    redis = Settings(data_dir=tmp_path, broker_url="redis://r.internal:6379/2")
    assert result_backend(redis) == "redis://r.internal:6379/2"
    assert create_celery(redis).conf.result_backend == "redis://r.internal:6379/2"
    embedded = Settings(data_dir=tmp_path)
    assert result_backend(embedded) == (tmp_path / "results").as_uri() and (tmp_path / "results").is_dir()
    # An explicit visibility timeout (how soon a dead machine's task runs elsewhere) also sets how
    # often workers look for such messages.
    short = Settings(data_dir=tmp_path, broker_url="redis://r:6379/0", broker_visibility_timeout=900)
    assert broker_options(short) == {"visibility_timeout": 900, "unacked_restore_interval": 10,
                                     "unacked_restore_throttle": 1}
    assert broker_options(redis)["visibility_timeout"] > 4 * 3600


@pytest.mark.parametrize(
    ("cores", "env", "slots", "threads"),
    [
        (2, {}, 1, 2),  # the 2-core machine: one job, each encoder with both cores
        (8, {}, 4, 2),
        (1, {}, 1, 1),
        (2, {"REELHOUSE_RENDER_CONCURRENCY": "2"}, 2, 1),
        (2, {"REELHOUSE_RENDER_CONCURRENCY": "2", "REELHOUSE_RENDER_THREADS": "0"}, 2, None),  # ffmpeg's own
        (16, {"REELHOUSE_RENDER_THREADS": "3"}, 8, 3),
    ],
)
def test_render_slots_and_threads_follow_the_cores(app_env, monkeypatch, cores, env, slots, threads) -> None:
    from backend.config import Settings
    from backend.queue import render_slots, render_threads

    for key, value in env.items():
        monkeypatch.setenv(key, value)
    settings = Settings()
    assert render_slots(settings, cores) == slots
    assert render_threads(settings, cores) == threads


def test_fingerprints_and_previews_never_take_a_render_slot(app_env) -> None:
    """Everything the catalogue does after an ingest goes to the quick queue, which `reelhouse serve`
    and `reelhouse worker` run in a pool of its own."""
    from backend import queue
    from workers.celery_app import celery_app

    celery_app.loader.import_default_modules()
    router = queue.producer().amqp.router
    for name in (queue.FINGERPRINT_MATERIAL, queue.MAKE_PREVIEWS, queue.APPLY_AUTOCLIP_RULES):
        if name in celery_app.tasks:
            assert router.route({}, name)["queue"].name == queue.QUICK_QUEUE, name
    assert router.route({}, queue.FINGERPRINT_MATERIAL)["queue"].name == queue.QUICK_QUEUE


def test_savepoints_send_nothing_early_and_drop_only_their_own_messages(app_env, queued) -> None:
    """SQLAlchemy fires after_commit when a savepoint is released: enqueueing must still wait for the
    transaction's commit, and a savepoint rolled back drops only what was sent inside it."""
    from backend import queue
    from backend.db import session_scope

    with session_scope() as session:
        queue.enqueue(session, queue.FINGERPRINT_MATERIAL, "outer")
        with session.begin_nested():
            queue.enqueue(session, queue.FINGERPRINT_MATERIAL, "kept")
        assert queued == []  # a released savepoint is not durable
        with pytest.raises(ValueError), session.begin_nested():
            queue.enqueue(session, queue.FINGERPRINT_MATERIAL, "undone")
            raise ValueError("this part failed")
    assert [args for _, args in queued] == [("outer",), ("kept",)]
