"""Smart reframe (issue 20): what the camera path costs on top of the analysis, and what a moving crop
costs a render against a fixed one.

    python -m bench.reframe --rounds 3 --render-seconds 20

1. Path cost. (a) A synthetic 2-hour analysis shaped like a live stream at 1080p (a sample every 2 s, a
   host who walks now and then, a second face on 3 % of the samples, a shot change every 75 s, a product
   card every 2 minutes): the path of the whole stream and of one-minute clips, per minute of source.
   (b) The generated host footage at 1920x1080 (tests/workers/media/reframe_footage.py): its analysis
   and its path, side by side.
2. Render cost: the same 1080p footage rendered into douyin.feed_9x16 (1080x1920, x264 veryfast) with a
   fixed crop on the subject's mean position over the clip (the baseline: the same person in view), the fixed
   centre crop (`crop`), the suggested moving path (`smart`), and two mitigations of the moving path (the
   window held still inside a dead zone; x snapped to coarser source pixels); each with x264 and with the
   encoder replaced by `-f null` (the filter graph's own cost); interleaved rounds, medians.
3. `--steady`: the camera styles against a fixed window on the same subject, on the generated walk (10 s,
   the worst case) and on 30-60 s clips of bench/render_throughput.py's live-stream-like recording:
   `follow` (the continuous follower), `steady` (hold, eased pan, hold: the default), and x264 settings
   for the moving picture (`--x264` name=params, tried on the steady path). Each render: wall seconds,
   user+sys CPU seconds of the ffmpeg process, file size, the share of frames whose window moved, and
   SSIM (and VMAF when ffmpeg has libvmaf) of the encode against the same graph's unencoded picture.
   `--probe` first tries every `--x264` setting on the 4 s where the walk's window moves.
"""

from __future__ import annotations

import argparse
import re
import resource
import statistics
import subprocess
import time
from pathlib import Path

import numpy as np

from bench.common import OUT, machine, today


def synthetic_analysis(hours: float, seed: int = 3):  # type: ignore[no-untyped-def]
    from workers.media.analysis.signals import (
        AnalysisResult,
        FaceBoxes,
        FaceSample,
        PictureSignals,
        ProductMention,
        Series,
        TextSignals,
        TextSpan,
    )

    rng = np.random.default_rng(seed)
    duration = hours * 3600
    times = np.arange(0, duration, 2.0)
    cuts = sorted(rng.uniform(0, duration, int(duration / 75)).round(3).tolist())
    x, boxes, faces = 0.5, [], []
    for t in times:
        if rng.random() < 0.05:
            x = float(np.clip(x + rng.normal(0, 0.15), 0.15, 0.85))  # the host steps aside
        here = [(round(x + rng.normal(0, 0.004), 4), 0.45, 0.08, 0.15)]
        if rng.random() < 0.03:
            here.append((round(float(rng.uniform(0.1, 0.9)), 4), 0.4, 0.07, 0.13))  # a passer-by, a false hit
        if rng.random() < 0.1:
            continue  # the finder missed
        boxes.append(FaceBoxes(t=float(t), boxes=here))
        faces.append(FaceSample(t=float(t), x=here[0][0], y=0.45, w=0.08, h=0.15))
    lines, products = [], []
    for start in np.arange(30, duration, 120.0):
        lines.append(
            TextSpan(
                start=float(start), end=float(start + 40), text="保温杯 ¥59.9", box=(0.6, 0.1, 0.72, 0.2), score=0.9
            )
        )
        products.append(
            ProductMention(
                tag_id=1, name="保温杯", start=float(start), end=float(start + 40), text="保温杯 ¥59.9", exact=True
            )
        )
    picture = PictureSignals(
        sampling="keyframes",
        sample_times=times.tolist(),
        shot_changes=cuts,
        motion=Series(step=1.0, values=[]),
        faces=faces,
        face_presence=Series(step=1.0, values=[]),
        frame_size=(1920, 1080),
        face_boxes=boxes,
    )
    text = TextSignals(frames_read=0, lines=lines, products=products, selling=[])
    return AnalysisResult(version=1, duration=duration, picture=picture, text=text)


DEAD_ZONE = 0.03  # frame widths the subject may drift before a held window follows it
SNAP_PX = 8


def _x_at(keys, t):  # type: ignore[no-untyped-def]
    from workers.media.reframe import Key, key_at

    k = key_at([Key(c.t, c.x, c.y, c.scale, c.pad) for c in keys], t)
    return k.x, k.y


def mean_position(keys, seconds: float, fps: float = 30.0) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    """Where the window is on average over the clip: a fixed window there shows the same subject."""
    pts = [_x_at(keys, i / fps) for i in range(int(seconds * fps))]
    return float(np.mean([p[0] for p in pts])), float(np.mean([p[1] for p in pts]))


def hold_in_dead_zone(keys, seconds: float, zone: float, fps: float = 30.0):  # type: ignore[no-untyped-def]
    """The path with its small moves removed: the window stays put until the path leaves a dead zone
    around it, then is dragged by the zone's edge (a key on every frame it moves, one where it stops)."""
    from workers.media.argv import CropKey

    out = []
    wx, wy = _x_at(keys, 0.0)
    out.append(CropKey(0.0, round(wx, 4), round(wy, 4)))
    moving = False
    for i in range(1, int(seconds * fps) + 1):
        t = i / fps
        px, py = _x_at(keys, t)
        nx = px - zone if px > wx + zone else px + zone if px < wx - zone else wx
        ny = py - zone if py > wy + zone else py + zone if py < wy - zone else wy
        if (nx, ny) != (wx, wy):
            if not moving and out[-1].t < t - 1 / fps:
                out.append(CropKey(round(t - 1 / fps, 4), round(wx, 4), round(wy, 4)))
            wx, wy, moving = nx, ny, True
            if i % 3 == 0:  # a key every 0.1 s while it moves (straight between them)
                out.append(CropKey(round(t, 4), round(wx, 4), round(wy, 4)))
        elif moving:
            out.append(CropKey(round(t, 4), round(wx, 4), round(wy, 4)))
            moving = False
    return tuple(out)


def snapped_x(arg: str, px: int) -> str:
    """The crop's x rounded down to a multiple of `px` source pixels (crop itself keeps 2 for 4:2:0)."""
    import re

    return re.sub(r":x='(clip\(.*?\))':y=", lambda m: f":x='{px}*floor(({m.group(1)})/{px})':y=", arg)


def path_cost(rounds: int) -> dict[str, list[float]]:
    from workers.media.reframe import camera_path

    result = synthetic_analysis(2.0)
    out: dict[str, list[float]] = {"whole 2 h": [], "30 one-minute clips": [], "json load of the stored analysis": []}
    stored = result.model_dump_json()
    from workers.media.analysis.signals import AnalysisResult

    for _ in range(rounds):
        t0 = time.perf_counter()
        AnalysisResult.model_validate_json(stored)
        out["json load of the stored analysis"].append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        camera_path(result, [(0, result.duration)], (1080, 1920))
        out["whole 2 h"].append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        for start in range(0, 7200, 240):
            camera_path(result, [(start, start + 60)], (1080, 1920))
        out["30 one-minute clips"].append(time.perf_counter() - t0)
    return out


def footage_1080(seconds: float) -> Path:
    from tests.workers.media.reframe_footage import SubjectSpec, make_subject_footage

    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / "reframe_host_1080p_26s.mp4"
    spec = SubjectSpec(width=1920, height=1080)  # 26 s; renders take the first `seconds`
    if not path.exists():
        make_subject_footage(path, spec)
    return path


def render_cost(path: Path, rounds: int, seconds: float) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    from presets.loader import load_catalog
    from workers.media.analysis.pipeline import AnalysisOptions, analyse_recording
    from workers.media.argv import CropKey, OutputSpec, RenderRecipe, SourceFacts, TimeRange, build_render_argv
    from workers.media.probe import probe_file
    from workers.media.reframe import ReframeOptions, camera_path
    from workers.media.run import ffmpeg_path, run_ffmpeg

    preset = load_catalog().preset("douyin.feed_9x16")
    facts = SourceFacts(str(path), probe_file(path))
    ffmpeg = ffmpeg_path()
    analysis_cost: dict[str, list[float]] = {"analysis (no OCR)": [], "path": []}
    for _ in range(rounds):
        t0 = time.perf_counter()
        result = analyse_recording(path, options=AnalysisOptions(ocr=False))
        analysis_cost["analysis (no OCR)"].append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        suggested = camera_path(result, [(0, seconds)], (1080, 1920), ReframeOptions(style="follow"))
        analysis_cost["path"].append(time.perf_counter() - t0)
        steady = camera_path(result, [(0, seconds)], (1080, 1920))
        print(
            f"  analysis {analysis_cost['analysis (no OCR)'][-1]:.2f} s, path {analysis_cost['path'][-1]:.4f} s",
            flush=True,
        )
    keys = tuple(CropKey(k.t, k.x, k.y, k.scale, k.pad) for k in suggested.keys)
    mx, my = mean_position(keys, seconds)
    print(f"  suggested path: {len(keys)} keys, mean position x {mx:.3f} y {my:.3f}", flush=True)
    held = hold_in_dead_zone(keys, seconds, DEAD_ZONE)
    print(f"  held within a {DEAD_ZONE:g} dead zone: {len(held)} keys", flush=True)
    modes = {
        "fixed centre crop (fit crop)": ("crop", (), None),
        "fixed crop on the subject's mean position": ("smart", (CropKey(0, mx, my),), None),
        "moving crop (continuous follower)": ("smart", keys, None),
        "moving crop (suggested path: hold, eased pan, hold)": (
            "smart",
            tuple(CropKey(k.t, k.x, k.y, k.scale, k.pad) for k in steady.keys),
            None,
        ),
        f"moving, held still within a {DEAD_ZONE:g} dead zone": ("smart", held, None),
        f"moving, x snapped to {SNAP_PX} source px": ("smart", keys, SNAP_PX),
    }
    times: dict[str, list[float]] = {f"{m} [{kind}]": [] for m in modes for kind in ("x264", "graph only")}
    sizes: dict[str, int] = {}
    OUT.mkdir(parents=True, exist_ok=True)
    target = OUT / "reframe_out.mp4"
    for _ in range(rounds):
        for name, (fit, path_keys, snap) in modes.items():
            recipe = RenderRecipe(ranges=(TimeRange(0, seconds),), crop_path=path_keys)
            argv = build_render_argv(facts, recipe, [OutputSpec(preset, str(target), fit=fit)], ffmpeg=ffmpeg)  # type: ignore[arg-type]
            if snap:
                argv = [snapped_x(a, snap) for a in argv]
            # the same decode and filter graph without the encoder: what the engine itself costs
            graph_only = [*argv[: argv.index("-map")], "-map", "[v0out]", "-map", "[a0out]", "-f", "null", "-"]
            for kind, cmd in (("x264", argv), ("graph only", graph_only)):
                t0 = time.perf_counter()
                run_ffmpeg(cmd, total_seconds=seconds, timeout=1200)
                key = f"{name} [{kind}]"
                times[key].append(time.perf_counter() - t0)
                print(f"  {key}: {times[key][-1]:.2f} s", flush=True)
            # (the x264 run wrote the file before the graph-only run)
            sizes[name] = target.stat().st_size
    for name, size in sizes.items():
        print(f"  {name}: {size / 1e6:.2f} MB", flush=True)
    return analysis_cost, times


def motion_cost(path: Path, rounds: int, seconds: float) -> dict[str, list[float]]:
    """Camera motion alone: from 12 s on, where the host holds still at x 0.8 then walks to 0.7, the same
    subject stays in view whether the window holds at 0.75 or pans back and forth around it."""
    from presets.loader import load_catalog
    from workers.media.argv import CropKey, OutputSpec, RenderRecipe, SourceFacts, TimeRange, build_render_argv
    from workers.media.probe import probe_file
    from workers.media.run import ffmpeg_path, run_ffmpeg

    preset = load_catalog().preset("douyin.feed_9x16")
    facts = SourceFacts(str(path), probe_file(path))
    held = (CropKey(0, 0.75),)
    pan = tuple(CropKey(t, 0.75 + 0.04 * np.sin(t * 1.2)) for t in np.arange(0, seconds + 0.5, 0.5))
    modes = {"window held at x 0.75": held, "window panning around it (±0.04 frame widths, 0.05 fw/s)": pan}
    times: dict[str, list[float]] = {m: [] for m in modes}
    for _ in range(rounds):
        for name, keys in modes.items():
            recipe = RenderRecipe(ranges=(TimeRange(12, 12 + seconds),), crop_path=keys)
            argv = build_render_argv(
                facts, recipe, [OutputSpec(preset, str(OUT / "reframe_out.mp4"), fit="smart")], ffmpeg=ffmpeg_path()
            )
            t0 = time.perf_counter()
            run_ffmpeg(argv, total_seconds=seconds, timeout=1200)
            times[name].append(time.perf_counter() - t0)
            print(
                f"  {name}: {times[name][-1]:.2f} s, {(OUT / 'reframe_out.mp4').stat().st_size / 1e6:.2f} MB",
                flush=True,
            )
    return times


# --------------------------------------------------------------------------- camera styles (issue 20, third pass)

# x264 settings tried on the moving picture: name -> (preset or None for the preset's own, -x264-params)
X264_SETTINGS: dict[str, tuple[str | None, str]] = {
    "shipped (veryfast)": (None, ""),
    "me=dia": (None, "me=dia"),
    "me=dia:subme=1": (None, "me=dia:subme=1"),
    "partitions=none": (None, "partitions=none"),
    "mbtree=0": (None, "mbtree=0"),
    "superfast": ("superfast", ""),
}


def cpu_run(argv: list[str], seconds: float) -> tuple[float, float]:
    """Wall seconds and user+sys CPU seconds of one ffmpeg run (the bench runs one child at a time)."""
    from workers.media.run import run_ffmpeg

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    run_ffmpeg(argv, total_seconds=seconds, timeout=3600)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def with_x264(argv: list[str], setting: tuple[str | None, str]) -> list[str]:
    preset, params = setting
    out = list(argv)
    if preset is not None:
        out[out.index("-preset") + 1] = preset
    if params:
        if "-x264-params" in out:  # the preset's own motion search (presets' x264_params) gives way
            out[out.index("-x264-params") + 1] = params
        else:
            out[-1:-1] = ["-x264-params", params]
    return out


def live_piece() -> Path:
    """bench/render_throughput.py's recording, one 75 s piece of it (host drifting slowly across, a cut at
    37.3 s, product cards, sensor noise filling a 6 Mb/s cap)."""
    from bench.render_throughput import PIECE_SECONDS, recording

    piece = OUT / f"live_1080p30_{int(PIECE_SECONDS)}s_piece.mp4"
    return piece if piece.exists() else recording(pieces=1)


def stored_analysis(path: Path):  # type: ignore[no-untyped-def]
    """The analysis of a bench source, kept next to it (analysing the 75 s 1080p piece takes a minute)."""
    from workers.media.analysis.pipeline import AnalysisOptions, analyse_recording
    from workers.media.analysis.signals import AnalysisResult

    cache = path.with_suffix(".analysis.json")
    if cache.exists():
        return AnalysisResult.model_validate_json(cache.read_text())
    result = analyse_recording(path, options=AnalysisOptions(ocr=False))
    cache.write_text(result.model_dump_json())
    return result


def crop_positions(keys, seconds: float, src: tuple[int, int], out: tuple[int, int], fps: float = 30.0) -> np.ndarray:  # type: ignore[no-untyped-def]
    """The crop's top-left corner per output frame in source pixels, as the engine's crop filter places it
    (rounded down to even pixels for 4:2:0)."""
    from workers.media.reframe import Key, key_at

    s = max(out[0] / src[0], out[1] / src[1])
    cw, ch = min(src[0], max(2, round(out[0] / s / 2) * 2)), min(src[1], max(2, round(out[1] / s / 2) * 2))
    path = [Key(k.t, k.x, k.y, k.scale, k.pad) for k in keys]
    pts = []
    for i in range(int(round(seconds * fps))):
        k = key_at(path, i / fps)
        x = min(max(k.x * src[0] - cw / 2, 0), src[0] - cw)
        y = min(max(k.y * src[1] - ch / 2, 0), src[1] - ch)
        pts.append((int(x) // 2 * 2, int(y) // 2 * 2))
    return np.array(pts)


def moving_share(keys, seconds: float, src: tuple[int, int], out: tuple[int, int]) -> float:  # type: ignore[no-untyped-def]
    pos = crop_positions(keys, seconds, src, out)
    return float(np.mean(np.any(np.diff(pos, axis=0) != 0, axis=1))) if len(pos) > 1 else 0.0


def picture_quality(argv: list[str], encoded: Path, vmaf: bool) -> dict[str, float]:
    """SSIM (and VMAF) of an encoded render against the same decode and filter graph, unencoded: the
    render's argv up to its outputs, the encoded file as one more input, compared frame by frame."""
    prefix = argv[: argv.index("-map")]
    inputs = sum(1 for a in prefix if a == "-i")
    graph_at = prefix.index("-filter_complex") + 1
    prefix = [a if a != "error" else "info" for a in prefix]
    graph = prefix[graph_at] + f";[a0out]anullsink;[{inputs}:v]setpts=PTS-STARTPTS[enc];[v0out]setpts=PTS-STARTPTS"
    if vmaf:
        graph += "[ref];[ref]split[r1][r2];[enc]split[e1][e2];[e1][r1]ssim;[e2][r2]libvmaf=n_threads=2:n_subsample=5"
    else:
        graph += "[ref];[enc][ref]ssim"
    prefix[graph_at] = graph
    cmd = [
        *prefix[: graph_at - 1],
        "-i",
        f"file:{encoded}",
        "-filter_complex",
        graph,
        *prefix[graph_at + 1 :],
        "-f",
        "null",
        "-",
    ]
    err = subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=3600).stderr
    out: dict[str, float] = {}
    m = re.search(r"SSIM Y:([\d.]+).*All:([\d.]+) \(([\d.inf]+)\)", err)
    if m:
        out["ssim_y"], out["ssim"], out["ssim_db"] = float(m.group(1)), float(m.group(2)), float(m.group(3))
    m = re.search(r"VMAF score: ([\d.]+)", err)
    if m:
        out["vmaf"] = float(m.group(1))
    return out


def steady_cases(clips: list[tuple[str, Path, float, float]]) -> list[dict]:  # type: ignore[type-arg]
    """Per clip: the follow and steady paths of its range and the fixed window on the same subject."""
    from presets.loader import load_catalog
    from workers.media.argv import CropKey, SourceFacts, output_size
    from workers.media.probe import probe_file
    from workers.media.reframe import ReframeOptions, camera_path

    preset = load_catalog().preset("douyin.feed_9x16")
    cases = []
    for label, path, a, b in clips:
        result = stored_analysis(path)
        facts = SourceFacts(str(path), probe_file(path))
        out = output_size(*facts.size, preset.width.value, preset.height.value, False)
        seconds = b - a
        paths = {}
        for style in ("follow", "steady"):
            p = camera_path(result, [(a, b)], out, ReframeOptions(style=style))  # type: ignore[arg-type]
            paths[style] = (tuple(CropKey(k.t, k.x, k.y, k.scale, k.pad) for k in p.keys), [s.move for s in p.shots])
        mx, my = mean_position(paths["follow"][0], seconds)
        paths["fixed"] = ((CropKey(0, mx, my),), ["fixed"])
        shares = {name: moving_share(keys, seconds, facts.size, out) for name, (keys, _) in paths.items()}
        for name, (keys, moves) in paths.items():
            print(
                f"  {label}: {name}: {len(keys)} keys, moves {moves}, window moves on {shares[name]:.0%} of frames",
                flush=True,
            )
        cases.append(
            {"label": label, "facts": facts, "range": (a, b), "paths": paths, "shares": shares, "preset": preset}
        )
    return cases


def steady_cost(cases: list[dict], rounds: int, settings: list[str], quality: bool) -> list[dict]:  # type: ignore[type-arg]
    """Interleaved rounds over every clip's renders: fixed, follow, steady, and steady with each extra x264
    setting (plus the fixed window with it, so the setting's own saving on a still picture shows)."""
    from workers.media.argv import OutputSpec, RenderRecipe, TimeRange, build_render_argv
    from workers.media.run import ffmpeg_filters, ffmpeg_path

    ffmpeg = ffmpeg_path()
    vmaf = quality and "libvmaf" in ffmpeg_filters(ffmpeg)
    OUT.mkdir(parents=True, exist_ok=True)
    runs = []
    for case in cases:
        a, b = case["range"]
        for setting in ["shipped (veryfast)", *settings]:
            for path_name in ("fixed", "follow", "steady"):
                if path_name == "follow" and setting != "shipped (veryfast)":
                    continue
                recipe = RenderRecipe(ranges=(TimeRange(a, b),), crop_path=case["paths"][path_name][0])
                target = OUT / f"steady-{case['label']}-{path_name}-{len(runs)}.mp4"
                argv = build_render_argv(
                    case["facts"], recipe, [OutputSpec(case["preset"], str(target), fit="smart")], ffmpeg=ffmpeg
                )
                runs.append(
                    {
                        "case": case["label"],
                        "path": path_name,
                        "setting": setting,
                        "argv": with_x264(argv, X264_SETTINGS[setting]),
                        "target": target,
                        "seconds": b - a,
                        "share": case["shares"][path_name],
                        "wall": [],
                        "cpu": [],
                    }
                )
    for r in range(rounds):
        order = runs if r % 2 == 0 else runs[::-1]  # alternate the order so no render always runs first
        for run in order:
            wall, cpu = cpu_run(run["argv"], run["seconds"])
            run["wall"].append(wall)
            run["cpu"].append(cpu)
            run["size"] = run["target"].stat().st_size
            print(
                f"  [{r + 1}] {run['case']} {run['path']} {run['setting']}: {wall:.2f} s wall, {cpu:.2f} s CPU, {run['size'] / 1e6:.2f} MB",
                flush=True,
            )
    if quality:
        for run in runs:
            run["quality"] = picture_quality(run["argv"], run["target"], vmaf)
            print(f"  {run['case']} {run['path']} {run['setting']}: {run['quality']}", flush=True)
    for run in runs:
        run["target"].unlink(missing_ok=True)
    return runs


def encoder_probe(rounds: int, settings: list[str]) -> None:
    """Every x264 setting on the stretch of the walk where the window moves (3-7 s), fixed and steady."""
    path = footage_1080(10)
    cases = steady_cases([("walk 3-7 s", path, 3.0, 7.0)])
    runs = steady_cost(cases, rounds, [s for s in settings if s != "shipped (veryfast)"], quality=True)
    report_steady(runs)


def report_steady(runs: list[dict]) -> None:  # type: ignore[type-arg]
    med = statistics.median
    print(
        "| clip | window | x264 | moving frames | wall (runs) | CPU user+sys (runs) | CPU vs fixed | file | SSIM (dB) | VMAF |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for run in runs:
        base = next(
            r for r in runs if r["case"] == run["case"] and r["path"] == "fixed" and r["setting"] == run["setting"]
        )
        shipped = next(
            r
            for r in runs
            if r["case"] == run["case"] and r["path"] == "fixed" and r["setting"] == "shipped (veryfast)"
        )
        q = run.get("quality", {})
        vs = med(run["cpu"]) / med(base["cpu"])
        vs_shipped = med(run["cpu"]) / med(shipped["cpu"])
        print(
            f"| {run['case']} | {run['path']} | {run['setting']} | {run['share']:.0%} "
            f"| {med(run['wall']):.2f} s ({', '.join(f'{v:.2f}' for v in run['wall'])}) "
            f"| {med(run['cpu']):.2f} s ({', '.join(f'{v:.2f}' for v in run['cpu'])}) "
            f"| {vs:.3f}x (vs shipped fixed {vs_shipped:.3f}x) | {run['size'] / 1e6:.2f} MB "
            f"| {q.get('ssim', float('nan')):.4f} ({q.get('ssim_db', float('nan')):.2f}) | {q.get('vmaf', float('nan')):.2f} |",
            flush=True,
        )


def parse_clip(text: str) -> tuple[float, float]:
    a, b = text.split("-")
    return float(a), float(b)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--render-seconds", type=float, default=20.0)
    parser.add_argument("--motion-only", action="store_true", help="only the held-vs-panning window comparison")
    parser.add_argument("--renders-only", action="store_true", help="skip the path cost")
    parser.add_argument(
        "--steady", action="store_true", help="camera styles and x264 settings on the walk and live clips"
    )
    parser.add_argument("--probe", action="store_true", help="every x264 setting on the walk's moving stretch")
    parser.add_argument("--x264", action="append", default=[], choices=list(X264_SETTINGS), help="x264 setting to try")
    parser.add_argument(
        "--live", action="append", default=[], type=parse_clip, help="a live clip, e.g. 30-70 (seconds)"
    )
    parser.add_argument("--no-walk", action="store_true", help="--steady without the generated walk")
    parser.add_argument("--no-live", action="store_true", help="--steady without the live clips")
    parser.add_argument("--no-quality", action="store_true", help="skip SSIM / VMAF")
    args = parser.parse_args()
    med = statistics.median
    if args.probe:
        print(f"# {today()} — {machine()}", flush=True)
        encoder_probe(args.rounds, args.x264 or list(X264_SETTINGS))
        return
    if args.steady:
        import os

        print(f"# {today()} — {machine()}; load average {os.getloadavg()}", flush=True)
        clips = [] if args.no_walk else [("walk 0-10 s", footage_1080(args.render_seconds), 0.0, args.render_seconds)]
        if not args.no_live:
            clips += [(f"live {a:g}-{b:g} s", live_piece(), a, b) for a, b in (args.live or [(0.0, 45.0)])]
        runs = steady_cost(steady_cases(clips), args.rounds, args.x264, quality=not args.no_quality)
        report_steady(runs)
        print(f"load average at the end {os.getloadavg()}")
        return
    if args.motion_only:
        held = motion_cost(footage_1080(args.render_seconds), args.rounds, args.render_seconds)
        base = med(next(iter(held.values())))
        for name, vals in held.items():
            print(f"| {name} | {med(vals):.2f} s ({', '.join(f'{v:.2f}' for v in vals)}) | {med(vals) / base:.3f}x |")
        return
    print(f"# {today()} — {machine()}", flush=True)
    cost = {} if args.renders_only else path_cost(args.rounds)
    print("\n## path cost, synthetic 2-hour analysis (120 min)")
    for name, vals in cost.items():
        per_min = med(vals) / 120 if name != "30 one-minute clips" else med(vals) / 30
        print(
            f"| {name} | {med(vals):.3f} s ({', '.join(f'{v:.3f}' for v in vals)}) | {per_min * 1000:.1f} ms per minute of source |",
            flush=True,
        )
    path = footage_1080(args.render_seconds)
    analysis, renders = render_cost(path, args.rounds, args.render_seconds)
    print(f"\n## generated 1080p footage, {args.render_seconds:g} s")
    for name, vals in analysis.items():
        print(f"| {name} | {med(vals):.3f} s ({', '.join(f'{v:.3f}' for v in vals)}) |")
    for name, vals in renders.items():
        kind = name.rsplit("[", 1)[1].rstrip("]")
        base = med(renders[f"fixed crop on the subject's mean position [{kind}]"])
        print(f"| {name} | {med(vals):.2f} s ({', '.join(f'{v:.2f}' for v in vals)}) | {med(vals) / base:.3f}x |")


if __name__ == "__main__":
    main()
