"""`reelhouse render`: cut ranges of a source into platform presets (the API's render request), and
with --wait follow the job to its end with a progress bar."""

from __future__ import annotations

import re
import sys
import time
import uuid
from typing import Annotated, Any

import typer

from backend.cli.common import prepare_write

_CLOCK = re.compile(r"^(?:(\d+):)?(?:(\d+):)?(\d+(?:\.\d+)?)$")


def parse_clock(text: str) -> float:
    """'12:03' -> 723.0, '1:02:03.5' -> 3723.5, '95' / '95.5' -> seconds."""
    m = _CLOCK.match(text.strip())
    if not m:
        raise typer.BadParameter(f"{text!r} is not a time (use 12:03, 1:02:03 or seconds)")
    first, second, seconds = m.groups()
    if second is None:  # one colon: minutes:seconds
        hours, minutes = 0, int(first or 0)
    else:
        hours, minutes = int(first), int(second)
    if float(seconds) >= 60 and (first is not None):
        raise typer.BadParameter(f"{text!r}: seconds go up to 59")
    return hours * 3600 + minutes * 60 + float(seconds)


def parse_range(text: str) -> dict[str, float]:
    """'12:03-12:41' -> {'start': 723.0, 'end': 761.0}."""
    start, sep, end = text.partition("-")
    if not sep:
        raise typer.BadParameter(f"{text!r} is not a range (use 12:03-12:41)")
    return {"start": parse_clock(start), "end": parse_clock(end)}


def _outputs(job_id: uuid.UUID) -> tuple[Any, list[Any]]:
    from backend.db import session_scope
    from backend.renders.service import get_job, outputs_of

    with session_scope() as session:
        job = get_job(session, job_id)
        outs = outputs_of(session, [job_id])[job_id]
        session.expunge_all()
        return job, outs


def render_cmd(
    source_id: Annotated[str, typer.Argument(help="The source material's id")],
    range_: Annotated[list[str], typer.Option("--range", "-r", help="12:03-12:41 (repeatable; joined in order)")],
    preset: Annotated[list[str], typer.Option("--preset", "-p", help="Preset id, e.g. douyin.feed_9x16 (repeatable)")],
    fit: Annotated[list[str], typer.Option(help="preset=fit, e.g. douyin.feed_9x16=crop (repeatable)")] = [],  # noqa: B006
    title: Annotated[str | None, typer.Option(help="A title burned in at the top")] = None,
    mode: Annotated[str, typer.Option(help="exact (re-encode every cut) or fast")] = "exact",
    loudnorm: bool = False,
    wait: Annotated[bool, typer.Option(help="Follow the job until it ends (needs a worker running)")] = False,
    timeout: Annotated[float, typer.Option(help="With --wait: give up after this many seconds")] = 6 * 3600,
) -> None:
    """Queue a render of SOURCE_ID into presets; prints the job id (with --wait, each output's material id)."""
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn

    from backend.config import get_settings
    from backend.db import session_scope
    from backend.errors import AppError
    from backend.objectstore import get_storage
    from backend.renders.models import JobStatus
    from backend.renders.service import RenderRequest, create_render_job

    try:
        source = uuid.UUID(source_id)
    except ValueError:
        raise typer.BadParameter(f"{source_id!r} is not a material id") from None
    fits: dict[str, str] = {}
    for item in fit:
        key, sep, value = item.partition("=")
        if not sep:
            raise typer.BadParameter(f"--fit {item!r}: use preset=fit")
        fits[key.strip()] = value.strip()
    body: dict[str, Any] = {"ranges": [parse_range(r) for r in range_], "presets": list(preset), "fit": fits,
                            "mode": mode, "loudnorm": loudnorm}
    if title:
        body["title"] = {"text": title}
    try:
        request = RenderRequest.model_validate(body)
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    prepare_write()
    try:
        with session_scope() as session:
            job = create_render_job(session, get_storage(), get_settings(), source, request, requested_by=None,
                                    origin="cli")
            job_id = job.id
    except AppError as exc:
        typer.echo(f"error: {exc.detail} [{exc.type_uri()}]", err=True)
        raise typer.Exit(1) from None
    typer.echo(str(job_id))
    if not wait:
        return
    deadline = time.monotonic() + timeout
    console = Console(stderr=True)
    with Progress(TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(), TimeElapsedColumn(),
                  console=console, disable=not sys.stderr.isatty(), transient=True) as bars:
        task = bars.add_task(f"render {job_id}", total=1.0)
        while True:
            job, outs = _outputs(job_id)
            bars.update(task, completed=job.progress or 0.0, description=f"render {str(job_id)[:8]} {job.status}")
            if JobStatus(job.status).done or time.monotonic() > deadline:
                break
            time.sleep(1.0)
    for out in outs:
        typer.echo(f"{out.preset_id}\t{out.status}\t{out.material_id or ''}")
    if job.status != JobStatus.succeeded:
        detail = f" ({job.error_detail})" if getattr(job, "error_detail", None) else ""
        typer.echo(f"job {job_id} {job.status}{detail}" if JobStatus(job.status).done
                   else f"job {job_id} still {job.status} after {timeout:g} s", err=True)
        raise typer.Exit(1)
