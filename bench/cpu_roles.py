"""Where a service's CPU goes: every process of a `reelhouse serve` tree sampled from /proc, its CPU given a role.

CPU seconds (utime+stime) hardly change with the machine's load, unlike wall-clock times, so a run on a
busy machine still says what the work costs and what the 2 cores could do at best.

A thread reads /proc every `interval` seconds: each process under the serve process (the API server, the
Celery pools started by `reelhouse serve`, their children, the ffmpeg and inspector processes those start),
its utime+stime, cutime+cstime, nice and argv. Each interval's CPU of each process is stored with what is
needed to give it a role once the run is over and its windows (analysis, render jobs) are known:

- the serve process itself: `API server`; an inspector child of it (`python -m workers.media.inspect`,
  upload-time probe, poster, contact sheet): `preview/poster/inspect`
- a Celery main process (its argv has `-Q quick|render|proxy`, its parent has none): `Celery overhead`
- everything under the proxy pool: `proxy`
- under the quick pool: an inspector child is a fingerprint (`fingerprint_untrusted`, the quick pool's only
  inspector besides a rare previews retry); the pool process' own CPU while it has one too, else
  `quick tasks` (rules, run continuation, webhooks, sweeps)
- under the render pool (analysis, the proposals and storyboards that follow it in the same task, and the
  render jobs): an ffmpeg writing raw frames or PCM to a pipe is the analysis' decoder; any other ffmpeg or
  inspector there belongs to a render job (encoders, cover frame, checks). The pool process' own CPU goes by
  its live ffmpeg child, else by time: in the analysis row's window `analysis`, from the analysis' end to
  the run's render jobs `proposals`, in a render job's window `render`, otherwise `storyboard` (the rest
  of the autoclip task, which keeps the render slot until its storyboards are written)
- anything else: `other`

A child that ends between two samples is no longer in /proc, but its parent's cutime+cstime grows by all
its CPU when it is reaped: what that growth holds beyond the child's last sample (or all of it, for a child
never seen) is given the role of the children that ended, or the parent's role if none was seen.
"""

from __future__ import annotations

import os
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

TICK = os.sysconf("SC_CLK_TCK")
POOLS = ("quick", "render", "proxy")

API = "API server"
INSPECT = "preview/poster/inspect"
OVERHEAD = "Celery overhead"
QUICK = "quick tasks"
ROLES = ["analysis", "proposals", "storyboard", "render", "proxy", "fingerprint", INSPECT, API, OVERHEAD, QUICK, "other"]
# What the drafts wait for: the render slot's work from the analysis to the last render, and the quick
# tasks between (the rule's matching, the run's continuation).
CRITICAL = ("analysis", "proposals", "storyboard", "render", QUICK)
NOT_WAITED = ("proxy", "fingerprint")


@dataclass
class Proc:
    pid: int
    ppid: int
    start: int  # starttime in ticks: a reused pid is another process
    argv: list[str]
    nice: int
    cpu: float  # utime+stime, s
    ccpu: float  # cutime+cstime, s
    kind: str = "other"  # api, pool-main, pool-child, ffmpeg, inspect, other
    pool: str | None = None  # the pool whose tree it is in


@dataclass
class Sample:
    """One interval's CPU of one process, with what its role is decided from."""

    t: float  # wall clock at the end of the interval
    pid: int
    cpu: float
    kind: str
    pool: str | None
    nice: int = 0
    detail: str = ""  # ffmpeg: "decode" (analysis pipe) or "encode"; pool-child: its live children's kinds
    reaped: bool = False  # CPU of children that ended between two samples


def _stat(pid: str) -> tuple[int, int, float, float, int] | None:
    """ppid, starttime (ticks), utime+stime (s), cutime+cstime (s), nice."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_bytes().decode()
    except OSError:
        return None
    fields = raw[raw.rindex(")") + 2 :].split()
    # fields[0] is state (field 3); ppid 4, utime 14, stime 15, cutime 16, cstime 17, nice 19, starttime 22
    ppid = int(fields[1])
    cpu = (int(fields[11]) + int(fields[12])) / TICK
    ccpu = (int(fields[13]) + int(fields[14])) / TICK
    return ppid, int(fields[19]), cpu, ccpu, int(fields[16])


def _argv(pid: int) -> list[str]:
    try:
        return [a.decode(errors="replace") for a in Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0") if a]
    except OSError:
        return []


def _queue_of(argv: list[str]) -> str | None:
    if "celery" in " ".join(argv[:4]) and "-Q" in argv:
        i = argv.index("-Q")
        if i + 1 < len(argv):
            return argv[i + 1]
    return None


def _ffmpeg_detail(argv: list[str]) -> str:
    # The analysis' decoders write raw frames or PCM to a pipe (workers/media/analysis/decode.py); a
    # render's encoders, a cover frame (image2pipe) and a proxy write files or images.
    fmt = {argv[i + 1] for i, a in enumerate(argv[:-1]) if a == "-f"}
    return "decode" if argv and argv[-1] == "pipe:1" and fmt & {"rawvideo", "s16le"} else "encode"


class TreeSampler(threading.Thread):
    """Samples the process tree under `root` until `stop()`; `samples` holds every interval's CPU."""

    def __init__(self, root: int, interval: float = 0.5) -> None:
        super().__init__(name="cpu-sampler", daemon=True)
        self.root, self.interval = root, interval
        self.procs: dict[int, Proc] = {}
        self.samples: list[Sample] = []
        self.started = self.ended = 0.0
        self.sample_count = 0
        self.machine_busy = 0.0  # CPU seconds the whole machine was busy (all processes), /proc/stat
        self.own_cpu = 0.0  # this thread's CPU (not in the tree)
        self._halt = threading.Event()
        self._first = True

    def stop(self) -> None:
        self._halt.set()
        self.join(timeout=10)

    def run(self) -> None:
        t_cpu = time.thread_time()
        busy0 = _machine_busy()
        self.started = time.time()
        while True:
            self._sample()
            if self._halt.wait(self.interval):
                self._sample()
                break
        self.ended = time.time()
        self.machine_busy = _machine_busy() - busy0
        self.own_cpu = time.thread_time() - t_cpu

    def _sample(self) -> None:
        now = time.time()
        table: dict[int, tuple[int, int, float, float, int]] = {}
        for name in os.listdir("/proc"):
            if name.isdigit() and (st := _stat(name)) is not None:
                table[int(name)] = st
        children: dict[int, list[int]] = defaultdict(list)
        for pid, st in table.items():
            children[st[0]].append(pid)
        tree, todo = [], [self.root] if self.root in table else []
        while todo:
            pid = todo.pop()
            tree.append(pid)
            todo.extend(children.get(pid, ()))
        seen: dict[int, Proc] = {}
        for pid in tree:
            ppid, start, cpu, ccpu, nice = table[pid]
            old = self.procs.get(pid)
            if old is not None and old.start != start:
                old = None
            argv = _argv(pid)
            seen[pid] = Proc(pid, ppid, start, argv or (old.argv if old else []), nice, cpu, ccpu)
        for pid in tree:  # parents before children: the tree was walked from the root
            p = seen[pid]
            parent = seen.get(p.ppid)
            queue = _queue_of(p.argv)
            if pid == self.root:
                p.kind = "api"
            elif queue and (parent is None or _queue_of(parent.argv) is None):
                p.kind, p.pool = "pool-main", queue
            elif queue and parent is not None and parent.kind == "pool-main":
                p.kind, p.pool = "pool-child", parent.pool
            else:
                p.pool = parent.pool if parent else None
                exe = os.path.basename(p.argv[0]) if p.argv else ""
                if exe.startswith("ffmpeg"):
                    p.kind = "ffmpeg"
                elif "workers.media.inspect" in p.argv:
                    p.kind = "inspect"
        live_children: dict[int, set[str]] = defaultdict(set)
        for p in seen.values():
            if p.kind in ("ffmpeg", "inspect"):
                live_children[p.ppid].add(p.kind if p.kind == "inspect" else f"ffmpeg-{_ffmpeg_detail(p.argv)}")
        if not self._first:
            for pid, p in seen.items():
                old = self.procs.get(pid)
                d = p.cpu - old.cpu if old is not None and old.start == p.start else p.cpu  # else: started since
                detail = _ffmpeg_detail(p.argv) if p.kind == "ffmpeg" else ",".join(sorted(live_children.get(pid, ())))
                if d > 0:
                    self.samples.append(Sample(now, pid, d, p.kind, p.pool, p.nice, detail))
                # children reaped since the last sample: their CPU beyond what was seen of them
                if old is not None and old.start == p.start and p.ccpu > old.ccpu:
                    gone = [c for c in self.procs.values() if c.ppid == pid and (c.pid not in seen or seen[c.pid].start != c.start)]
                    extra = p.ccpu - old.ccpu - sum(c.cpu + c.ccpu for c in gone)
                    if extra > 0:
                        last = gone[0] if gone else None
                        kind = last.kind if last else p.kind
                        d_detail = _ffmpeg_detail(last.argv) if last and last.kind == "ffmpeg" else detail
                        if last is None and p.kind == "pool-child":
                            d_detail = "unseen"
                        self.samples.append(Sample(now, pid, extra, kind, last.pool if last else p.pool, (last or p).nice,
                                                   d_detail, reaped=True))
        self.procs = seen
        self._first = False
        self.sample_count += 1


def _machine_busy() -> float:
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    values = [int(x) for x in fields]
    idle = values[3] + (values[4] if len(values) > 4 else 0)
    return (sum(values[:8]) - idle) / TICK


@dataclass
class Windows:
    """The run's windows (wall-clock epoch seconds) that the render slot's work is told apart by."""

    analysis: tuple[float, float]
    jobs_queued: float
    renders: list[tuple[float, float]] = field(default_factory=list)


def role(s: Sample, w: Windows) -> str:
    if s.kind == "api":
        return API
    if s.kind == "inspect" and s.pool is None:
        return INSPECT
    if s.kind == "pool-main":
        return OVERHEAD
    if s.pool == "proxy":
        return "proxy"
    if s.pool == "quick":
        if s.kind == "inspect" or "inspect" in s.detail or (s.reaped and s.detail == "unseen"):
            return "fingerprint"
        return QUICK if s.kind == "pool-child" else "other"
    if s.pool == "render":
        if s.kind == "ffmpeg":
            return "analysis" if s.detail == "decode" else "render"
        if s.kind == "inspect":
            return "render"
        if s.kind == "pool-child":
            if "ffmpeg-decode" in s.detail:
                return "analysis"
            if "ffmpeg-encode" in s.detail or "inspect" in s.detail:
                return "render"
            t = s.t
            if w.analysis[0] <= t <= w.analysis[1] + 0.5:
                return "analysis"
            if any(a <= t <= b + 0.5 for a, b in w.renders):
                return "render"
            if w.analysis[1] < t <= w.jobs_queued + 0.5:
                return "proposals"
            if t > w.analysis[1]:
                return "storyboard"
            return "other"
    return "other"


def by_role(samples: list[Sample], w: Windows, start: float, end: float) -> dict[str, float]:
    out: dict[str, float] = defaultdict(float)
    for s in samples:
        if start < s.t <= end + 0.25:
            out[role(s, w)] += s.cpu
    return dict(out)


def cpu_table(sampler: TreeSampler, w: Windows, stages: dict[str, tuple[float, float]], cores: int) -> str:
    """A markdown table: CPU seconds by role per stage window and the share of the cores it used."""
    columns = {name: (by_role(sampler.samples, w, a, b), b - a) for name, (a, b) in stages.items()}
    header = "| role | " + " | ".join(f"{name} ({span:.0f} s wall): CPU s, share of {cores} cores" for name, (_, span) in columns.items()) + " |"
    rows = [header, "|---|" + "---|" * len(columns)]
    used = [r for r in ROLES if any(cols.get(r, 0) >= 0.05 for cols, _ in columns.values())]
    for r in used:
        cells = [f"{cols.get(r, 0.0):.1f} s, {cols.get(r, 0.0) / (span * cores):.0%}" for cols, span in columns.values()]
        rows.append(f"| {r} | " + " | ".join(cells) + " |")
    totals = [f"**{sum(cols.values()):.1f} s, {sum(cols.values()) / (span * cores):.0%}**" for cols, span in columns.values()]
    rows.append("| **service tree** | " + " | ".join(totals) + " |")
    return "\n".join(rows)
