"""Untrusted media is opened only in a child process with a timeout and memory cap.

`inspect_untrusted(path, ...)` starts `python -m workers.media.inspect`, which probes the file,
optionally writes the poster, contact sheet and perceptual fingerprint, and prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path

from workers.media.probe import Limits, MediaFacts, ProbeRejection, probe_file

MEMORY_CAP_BYTES = 6 * 1024**3


class InspectFailed(Exception):
    """The inspector crashed, timed out or printed nonsense: treat the file as unreadable."""


def _limit_child() -> None:  # pragma: no cover - runs in the child before exec
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CAP_BYTES, MEMORY_CAP_BYTES))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def inspect_untrusted(
    path: Path,
    *,
    limits: Limits,
    poster: Path | None = None,
    contact_sheet: Path | None = None,
    fingerprint: Path | None = None,
    timeout: float = 60.0,
) -> MediaFacts:
    """Probe (and render previews of) a file in a sandboxed child. Raises ProbeRejection or InspectFailed."""
    argv = [sys.executable, "-m", "workers.media.inspect", str(path), "--limits", json.dumps(asdict(limits))]
    if poster:
        argv += ["--poster", str(poster)]
    if contact_sheet:
        argv += ["--contact-sheet", str(contact_sheet)]
    if fingerprint:
        argv += ["--fingerprint", str(fingerprint)]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [_repo_root(), os.environ.get("PYTHONPATH")]))}
    try:
        done = subprocess.run(
            argv, capture_output=True, timeout=timeout, preexec_fn=_limit_child, env=env,
            stdin=subprocess.DEVNULL, check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise ProbeRejection("media-unrecognised", f"inspecting the file took longer than {timeout:.0f} s") from exc
    lines = done.stdout.decode("utf-8", "replace").strip().splitlines()
    try:
        result = json.loads(lines[-1])
    except (IndexError, json.JSONDecodeError) as exc:
        tail = done.stderr.decode("utf-8", "replace")[-500:]
        raise InspectFailed(f"inspector exited {done.returncode}: {tail}") from exc
    if result.get("ok"):
        return MediaFacts.from_dict(result["facts"])
    if result.get("reason"):
        raise ProbeRejection(result["reason"], result["detail"])
    raise InspectFailed(result.get("detail", "inspector failed"))


def _repo_root() -> str:
    return str(Path(__file__).resolve().parents[2])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Probe one media file; print one JSON line.")
    parser.add_argument("path", type=Path)
    parser.add_argument("--limits", default="{}")
    parser.add_argument("--poster", type=Path)
    parser.add_argument("--contact-sheet", type=Path)
    parser.add_argument("--fingerprint", type=Path, help="write the video's perceptual fingerprint here")
    args = parser.parse_args(argv)
    try:
        facts = probe_file(args.path, Limits(**json.loads(args.limits)))
        if args.poster and args.contact_sheet and facts.media_type == "video":
            from workers.media.previews import write_video_previews

            write_video_previews(args.path, facts, args.poster, args.contact_sheet)
        elif args.poster and facts.media_type in {"video", "image"}:
            from workers.media.previews import write_poster

            write_poster(args.path, facts, args.poster)
        elif args.contact_sheet and facts.media_type == "video":
            from workers.media.previews import write_contact_sheet

            write_contact_sheet(args.path, facts, args.contact_sheet)
        if args.fingerprint and facts.media_type == "video":
            _write_fingerprint(args.path, facts, args.fingerprint)
        print(json.dumps({"ok": True, "facts": facts.to_dict()}))
    except ProbeRejection as exc:
        print(json.dumps({"ok": False, "reason": exc.reason, "detail": exc.detail}))
    except Exception as exc:  # noqa: BLE001 - any crash on hostile input is reported, not raised
        print(json.dumps({"ok": False, "reason": None, "detail": f"{type(exc).__name__}: {exc}"}))
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


if __name__ == "__main__":
    raise SystemExit(main())
