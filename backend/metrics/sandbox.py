"""Parsing a metrics export in a child process with an address-space cap and a time limit, so a
hostile or broken file ends as a refusal naming the limit, never as an out-of-memory kill of the API.

The child is a fresh interpreter (`python -m backend.metrics.sandbox`): nothing of the parent's
threads, sockets or database connections is inherited, and unlike multiprocessing's spawn it never
re-imports the caller's __main__, so it works the same under uvicorn, Celery, the CLI and scripts.
It sets RLIMIT_AS and RLIMIT_CPU on itself before it reads a byte; the job and the answer travel as
pickles over its stdin and stdout. Callers run this off the event loop (the API calls the import
service in its threadpool); at most `MAX_CHILDREN` parse at once.
"""

from __future__ import annotations

import csv
import os
import pickle
import resource
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from backend.metrics.limits import (
    DEFAULT_LIMITS,
    ExportUnreadable,
    ImportLimitExceeded,
    ImportLimits,
    check_xlsx_archive,
)
from backend.metrics.mappings import MetricMapping
from backend.metrics.parsing import ExportEncodingInvalid, ParsedExport, is_xlsx, parse_export

MAX_CHILDREN = 2  # concurrent parses; each may use up to ImportLimits.memory_bytes
_slots = threading.BoundedSemaphore(MAX_CHILDREN)


@dataclass(frozen=True)
class SandboxedParse:
    parsed: ParsedExport
    peak_rss_bytes: int  # the child's peak resident set (getrusage ru_maxrss)


def _peak_rss() -> int:
    """This process's peak resident memory. VmHWM, not getrusage's ru_maxrss: Linux carries the
    parent's resident size at fork over into the child's ru_maxrss across exec."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux, the fallback


def _out_of_memory(limits: ImportLimits) -> ImportLimitExceeded:
    return ImportLimitExceeded("memory", limits.memory_bytes, key="metrics.parse-memory",
                               params={"mib": limits.memory_bytes // 2**20})


def _out_of_time(limits: ImportLimits) -> ImportLimitExceeded:
    return ImportLimitExceeded("time", limits.seconds, key="metrics.parse-time", params={"seconds": limits.seconds})


def _limit_answer(exc: ImportLimitExceeded) -> tuple[Any, ...]:
    return ("limit", exc.limit, exc.maximum, str(exc), exc.key, exc.params, _peak_rss())


def _child_answer(data: bytes, filename: str, mapping: MetricMapping, as_of: datetime | None,
                  limits: ImportLimits) -> tuple[Any, ...]:
    try:
        parsed = parse_export(data, filename, mapping, as_of=as_of, limits=limits)
        return ("ok", parsed, _peak_rss())
    except ImportLimitExceeded as exc:
        return _limit_answer(exc)
    except ExportEncodingInvalid as exc:
        return ("encoding", str(exc), exc.byte_offset, exc.line, exc.encoding, exc.key, exc.params, _peak_rss())
    except ExportUnreadable as exc:
        return ("unreadable", str(exc), exc.key, exc.params, _peak_rss())
    except MemoryError:
        return _limit_answer(_out_of_memory(limits))


def child_main() -> None:
    """The child: read the job from stdin, cap itself, parse, write the answer to stdout."""
    job = pickle.load(sys.stdin.buffer)
    limits: ImportLimits = job["limits"]
    resource.setrlimit(resource.RLIMIT_AS, (limits.memory_bytes, limits.memory_bytes))
    cpu = int(limits.seconds) + 1
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 5))
    csv.field_size_limit(limits.cell_chars)
    answer = _child_answer(job.pop("data"), job["filename"], job["mapping"], job["as_of"], limits)
    try:
        blob = pickle.dumps(answer, protocol=pickle.HIGHEST_PROTOCOL)
    except MemoryError:  # the parsed rows fitted but their pickle did not
        del answer
        blob = pickle.dumps(_limit_answer(_out_of_memory(limits)))
    sys.stdout.buffer.write(blob)
    sys.stdout.buffer.flush()


def _child_env() -> dict[str, str]:
    """The caller's environment, with the folder holding `backend` first on the path: the child
    must import this same code even when the caller runs from elsewhere without an install."""
    root = str(Path(__file__).resolve().parents[2])
    path = os.environ.get("PYTHONPATH")
    return {**os.environ, "PYTHONPATH": root + (os.pathsep + path if path else "")}


def parse_export_sandboxed(
    data: bytes, filename: str, mapping: MetricMapping, *, as_of: datetime | None = None,
    limits: ImportLimits = DEFAULT_LIMITS,
) -> SandboxedParse:
    """`parsing.parse_export` in a capped child. Raises what it raises (ImportLimitExceeded,
    ExportEncodingInvalid, ExportUnreadable); a child that runs out of memory or time, or dies,
    becomes ImportLimitExceeded('memory' / 'time')."""
    if is_xlsx(data, filename):
        check_xlsx_archive(data, limits)  # refused here without starting a child at all
    job = pickle.dumps({"data": data, "filename": filename, "mapping": mapping, "as_of": as_of, "limits": limits},
                       protocol=pickle.HIGHEST_PROTOCOL)
    with _slots:
        child = subprocess.Popen([sys.executable, "-m", "backend.metrics.sandbox"], stdin=subprocess.PIPE,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=_child_env())
        try:
            out, err = child.communicate(job, timeout=limits.seconds)
        except subprocess.TimeoutExpired:
            child.kill()
            child.communicate()
            raise _out_of_time(limits) from None
        finally:
            if child.poll() is None:
                child.kill()
                child.wait()
    del job
    if child.returncode == -signal.SIGXCPU:  # RLIMIT_CPU: CPU time past the limit
        raise _out_of_time(limits)
    if child.returncode < 0 or (child.returncode != 0 and b"MemoryError" in err):
        # Killed (an allocation that aborted instead of raising, or the kernel) or out of memory late.
        raise _out_of_memory(limits)
    if child.returncode != 0 or not out:  # a bug or a broken install: a 500 with the child's traceback logged
        raise RuntimeError(f"the metrics parsing child failed ({child.returncode}): "
                           f"{err.decode(errors='replace')[-2000:]}")
    message = pickle.loads(out)  # noqa: S301 - our own child's answer, over a pipe only it writes
    kind, peak = message[0], message[-1]
    if kind == "ok":
        return SandboxedParse(parsed=message[1], peak_rss_bytes=peak)
    refusal: ExportUnreadable | ImportLimitExceeded
    if kind == "limit":
        refusal = ImportLimitExceeded(message[1], message[2], message[3], key=message[4], params=message[5])
    elif kind == "encoding":
        refusal = ExportEncodingInvalid(message[1], byte_offset=message[2], line=message[3], encoding=message[4],
                                        key=message[5], params=message[6])
    else:
        refusal = ExportUnreadable(message[1], key=message[2], params=message[3])
    refusal.peak_rss_bytes = peak  # what the refused file cost (tests, bench)
    raise refusal


if __name__ == "__main__":
    child_main()
