"""Untrusted media is opened only in a child process (`python -m workers.media.inspect`) with a
timeout and memory cap: it probes one file, optionally writes the poster, contact sheet and
perceptual fingerprint, and prints one JSON line.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import resource
import shutil
import subprocess
import sys
import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import Any

from workers.media.probe import Limits, MediaFacts, ProbeRejection, probe_file
from workers.media.source import MediaSource

logger = logging.getLogger(__name__)

MEMORY_CAP_BYTES = 6 * 1024**3
# Beside the caller's timeout: what a file can make the child spend in all (a legitimate one takes seconds).
CPU_CAP_SECONDS = 300
# What the child inherits from the environment: nothing of reelhouse's (database URL, storage keys).
_CHILD_ENV = ("PATH", "LANG", "LANGUAGE", "TZ", "TMPDIR", "HOME", "LD_LIBRARY_PATH", "PYTHONHOME", "PYTHONDONTWRITEBYTECODE")


class InspectFailed(Exception):
    """The inspector crashed, timed out or printed nonsense: treat the file as unreadable."""


def _limit_self() -> None:  # pragma: no cover - runs in the child, before it reads any request
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CAP_BYTES, MEMORY_CAP_BYTES))
    resource.setrlimit(resource.RLIMIT_CPU, (CPU_CAP_SECONDS, CPU_CAP_SECONDS + 5))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    # Below the API's priority: forty uploads mean forty inspectors, and the event loop that answers
    # every other request (and /health) must still get the CPU first.
    os.nice(10)


def _child_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k in _CHILD_ENV or k.startswith("LC_")}
    env["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(Path(__file__).resolve().parents[2]), os.environ.get("PYTHONPATH")])
    )
    return env


class SandboxedInspector(contextlib.AbstractContextManager["SandboxedInspector"]):
    """One inspector child, started now (it imports its libraries and waits on stdin), given one
    file later with `inspect`; `close` ends it and removes its directory, `workdir`, where the
    caller may have it write its previews.
    """

    def __init__(self) -> None:
        # No preexec_fn (not safe in a threaded parent, and it forces a full fork of the API
        # process): the child sets its own limits before it reads a request. It runs in an empty
        # directory of its own: a name written inside a hostile file would be looked up there and
        # find nothing.
        self.workdir = Path(tempfile.mkdtemp(prefix="reelhouse-inspect-"))
        pipe = subprocess.PIPE
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "workers.media.inspect"], stdin=pipe, stdout=pipe, stderr=pipe, env=_child_env(), cwd=self.workdir
        )

    def inspect(self, path: Path, *, limits: Limits, timeout: float = 60.0, **outputs: Path | None) -> MediaFacts:
        """Probe `path` and write the `poster`, `contact_sheet` and `fingerprint` asked for.
        Raises ProbeRejection or InspectFailed."""
        if self._proc.stdin is None or self._proc.stdin.closed:  # (communicate closes it)
            raise RuntimeError("an inspector child inspects one file")
        # Absolute paths: the child runs in a directory of its own. `outputs`: poster, contact_sheet, fingerprint.
        request = {"path": str(path.absolute()), "limits": asdict(limits)}
        request.update((name, str(out.absolute())) for name, out in outputs.items() if out)
        try:  # (a child that ended early does not read it: its result says why)
            stdout, stderr = self._proc.communicate(json.dumps(request).encode() + b"\n", timeout=timeout)
        except subprocess.TimeoutExpired as exc:
            self.close()
            detail = f"inspecting the file took longer than {timeout:.0f} s"
            raise ProbeRejection("media-unrecognised", detail, text="timeout", seconds=round(timeout)) from exc
        return _facts_from(stdout, stderr, self._proc.returncode)

    def close(self) -> None:
        if self._proc.returncode is None:
            self._proc.kill()
            self._proc.communicate()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def __exit__(self, *exc: object) -> None:
        self.close()


def inspect_untrusted(path: Path, *, limits: Limits, timeout: float = 60.0, **outputs: Path | None) -> MediaFacts:
    """Probe (and render previews of) a file in a sandboxed child. Raises ProbeRejection or InspectFailed."""
    with SandboxedInspector() as inspector:
        return inspector.inspect(path, limits=limits, timeout=timeout, **outputs)


def _facts_from(stdout: bytes, stderr: bytes, returncode: int | None) -> MediaFacts:
    try:
        result = json.loads(stdout.decode("utf-8", "replace").strip().splitlines()[-1])
    except (IndexError, json.JSONDecodeError) as exc:
        raise InspectFailed(f"inspector exited {returncode}: {stderr.decode('utf-8', 'replace')[-500:]}") from exc
    if result.get("ok"):
        if result.get("previews_error"):
            # The file is media all the same: it is kept, and its previews are made again later.
            logger.warning("no previews could be made: %s", result["previews_error"])
        return MediaFacts.from_dict(result["facts"])
    if result.get("reason"):
        raise ProbeRejection(result["reason"], result["detail"], text=result.get("text"), **result.get("params", {}))
    raise InspectFailed(result.get("detail", "inspector failed"))


def main(workdir: Path) -> int:
    """The child: load the libraries, then read one request (JSON: path, limits, poster, ...) and answer it."""
    import av  # noqa: F401 - what the wait is for: loaded before the file is ready

    from workers.media.previews import write_previews

    request: dict[str, Any] = json.loads(sys.stdin.readline() or "{}")
    if not request.get("path"):
        return 0  # closed unused
    out = {
        name: Path(request[name]) if request.get(name) else None for name in ("poster", "contact_sheet", "fingerprint")
    }
    source = MediaSource(_private_view(Path(request["path"]), workdir))
    try:
        facts = probe_file(source, Limits(**request["limits"]))
        previews_error = write_previews(source, facts, out["poster"], out["contact_sheet"])
        if out["fingerprint"] and facts.media_type == "video":
            _write_fingerprint(source.path, facts, out["fingerprint"])
        result = {"ok": True, "facts": facts.to_dict(), "previews_error": previews_error}
    except ProbeRejection as exc:
        result = {"ok": False, "reason": exc.reason, "detail": exc.detail, "text": exc.text, "params": exc.params}
    except Exception as exc:  # noqa: BLE001 - any crash on hostile input is reported, not raised
        result = {"ok": False, "reason": None, "detail": f"{type(exc).__name__}: {exc}"}
    print(json.dumps(result))
    return 0


def _write_fingerprint(path: Path, facts: MediaFacts, out: Path) -> None:
    """A fingerprint is a convenience for identifying copies later: failing to make one never rejects the file."""
    from workers.media.fingerprint import fingerprint_file

    try:
        # A few seconds of decoding (the first minute or so of 1080p) identifies a short video; more
        # would slow every upload and could spend the probe timeout on a 4K source.
        out.write_bytes(fingerprint_file(path, facts.rotation, budget_seconds=8.0).to_bytes())
    except Exception:  # noqa: BLE001
        out.unlink(missing_ok=True)


def _private_view(path: Path, workdir: Path) -> Path:  # pragma: no cover - runs in the child
    """`path` as seen from `workdir` (a link there): FFmpeg resolves names relative to the file it
    opened, so the folder the file really sits in (the spool, with other uploads) is never searched."""
    view = workdir / "media"
    os.symlink(path.resolve(), view)
    return view


if __name__ == "__main__":
    _limit_self()
    raise SystemExit(main(workdir=Path.cwd()))  # an empty directory the parent made (and removes)
