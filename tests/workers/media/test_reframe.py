"""Smart reframe: the camera path from an analysis (synthetic detections with a known answer), then on
generated footage with a real face moving, pausing, jumping across a cut and a distractor showing up,
and on the phone clips with rotation in ../shared/media."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from workers.media.analysis.signals import (
    AnalysisResult,
    FaceBoxes,
    FaceSample,
    MotionBox,
    PictureSignals,
    ProductMention,
    Series,
    TextSignals,
    TextSpan,
)
from workers.media.argv import output_size
from workers.media.reframe import (
    CUT_EPSILON,
    Key,
    ReframeOptions,
    base_window,
    camera_path,
    key_at,
    min_scale,
)

FACE = (0.08, 0.15)  # a host's face at 720p, as fractions of the frame


def analysis(
    samples: list[tuple[float, list[tuple[float, float]]]],
    *,
    duration: float,
    cuts: tuple[float, ...] = (),
    size: tuple[int, int] = (1280, 720),
    face: tuple[float, float] = FACE,
    text: TextSignals | None = None,
    motion: list[MotionBox] | None = None,
) -> AnalysisResult:
    """An analysis whose samples saw faces centred at the given (x, y) points."""
    boxes = [FaceBoxes(t=t, boxes=[(x, y, *face) for x, y in pts]) for t, pts in samples if pts]
    picture = PictureSignals(
        sampling="keyframes",
        sample_times=[t for t, _ in samples],
        shot_changes=list(cuts),
        motion=Series(step=1.0, values=[]),
        faces=[FaceSample(t=b.t, x=b.boxes[0][0], y=b.boxes[0][1], w=face[0], h=face[1]) for b in boxes],
        face_presence=Series(step=1.0, values=[]),
        frame_size=size,
        face_boxes=boxes,
        motion_boxes=motion,
    )
    return AnalysisResult(version=1, duration=duration, picture=picture, text=text)


def xs(keys: list[Key], t0: float, t1: float, step: float = 0.1) -> np.ndarray:
    return np.array([key_at(keys, t).x for t in np.arange(t0, t1, step)])


PORTRAIT = (720, 1280)  # a 9:16 output of a 720p source


def test_window_and_zoom_bounds():
    assert base_window((1920, 1080), (1080, 1920)) == pytest.approx((0.3164, 1.0), abs=1e-3)
    assert base_window((2160, 3840), (1080, 1440)) == pytest.approx((1.0, 0.75))
    # the source's resolution class: a 1080p or 720p source has no pixels to spare for a zoom ...
    assert min_scale((1920, 1080), (1080, 1920)) == 1.0
    assert min_scale((1280, 720), PORTRAIT) == 1.0
    # ... a 4K one into 1080x1920 may zoom until its crop is 1920 pixels tall, not closer
    assert min_scale((3840, 2160), (1080, 1920)) == pytest.approx(1920 / 2160)


def test_a_still_host_is_held():
    result = analysis([(float(t), [(0.3, 0.45)]) for t in range(0, 20, 2)], duration=20)
    path = camera_path(result, [(0, 20)], PORTRAIT)
    assert [s.move for s in path.shots] == ["hold"]
    assert len(path.keys) == 2 and [k.x for k in path.keys] == [pytest.approx(0.3, abs=0.02)] * 2


def test_one_false_detection_does_not_move_the_camera():
    samples = [(float(t), [(0.3, 0.45)]) for t in range(0, 20, 2)]
    samples[5] = (10.0, [(0.85, 0.3)])  # the host missed once, something else found instead
    path = camera_path(analysis(samples, duration=20), [(0, 20)], PORTRAIT)
    assert np.ptp(xs(path.keys, 0, 20)) == 0.0
    assert path.keys[0].x == pytest.approx(0.3, abs=0.02)


def test_a_brief_distractor_does_not_pull_the_camera():
    samples = [(float(t), [(0.7, 0.45)]) for t in range(0, 30)]
    for t in (12, 13):  # seen on two samples next to the host (a passer-by, a face on a poster)
        samples[t] = (float(t), [(0.15, 0.45), (0.7, 0.45)])
    path = camera_path(analysis(samples, duration=30), [(0, 30)], PORTRAIT)
    assert path.shots[0].subjects == 1
    assert np.ptp(xs(path.keys, 0, 30)) == 0.0


def test_two_people_share_the_window_or_the_shot_falls_back():
    near = [(float(t), [(0.45, 0.45), (0.58, 0.45)]) for t in range(0, 20, 2)]
    path = camera_path(analysis(near, duration=20), [(0, 20)], PORTRAIT)
    assert path.shots[0].subjects == 2
    k = path.keys[0]
    assert k.x - path.window[0] / 2 <= 0.45 - FACE[0] / 2 and 0.58 + FACE[0] / 2 <= k.x + path.window[0] / 2
    apart = [(float(t), [(0.2, 0.45), (0.8, 0.45)]) for t in range(0, 20, 2)]
    centre = camera_path(analysis(apart, duration=20), [(0, 20)], PORTRAIT)
    assert [s.move for s in centre.shots] == ["centre"] and centre.keys == [Key(0.0, 0.5, 0.5, 1.0, False)]
    padded = camera_path(analysis(apart, duration=20), [(0, 20)], PORTRAIT, ReframeOptions(fallback="pad"))
    assert [s.move for s in padded.shots] == ["pad"] and padded.keys[0].pad


def test_no_subject_falls_back_per_shot():
    samples = [(float(t), [(0.3, 0.45)] if t < 10 else []) for t in range(0, 20, 2)]
    path = camera_path(
        analysis(samples, duration=20, cuts=(10.0,)), [(0, 20)], PORTRAIT, ReframeOptions(fallback="pad")
    )
    assert [s.move for s in path.shots] == ["hold", "pad"]
    assert key_at(path.keys, 5).pad is False and key_at(path.keys, 15).pad is True


def test_a_shot_change_resets_the_camera_at_the_cut():
    samples = [(float(t), [(0.25 if t < 9 else 0.75, 0.45)]) for t in range(0, 20, 2)]
    path = camera_path(analysis(samples, duration=20, cuts=(9.3,)), [(2, 18)], PORTRAIT)
    cut = 9.3 - 2  # on the output timeline
    before, after = key_at(path.keys, cut - 0.01), key_at(path.keys, cut)
    assert before.x == pytest.approx(0.25, abs=0.03) and after.x == pytest.approx(0.75, abs=0.03)
    assert any(abs(k.t - (cut - CUT_EPSILON)) < 1e-6 for k in path.keys)  # a jump, not a glide
    # joined ranges jump at the join as well
    joined = camera_path(analysis(samples, duration=20, cuts=(9.3,)), [(0, 4), (12, 16)], PORTRAIT)
    assert key_at(joined.keys, 3.99).x == pytest.approx(0.25, abs=0.03)
    assert key_at(joined.keys, 4.0).x == pytest.approx(0.75, abs=0.03)


def test_a_moving_host_is_tracked_under_the_speed_and_acceleration_caps():
    options = ReframeOptions()
    # still, then walking across at 0.1 frame widths a second, then still again
    pos = lambda t: 0.2 if t < 6 else min(0.8, 0.2 + 0.1 * (t - 6))  # noqa: E731
    samples = [(float(t), [(pos(t), 0.45)]) for t in range(0, 24)]
    path = camera_path(analysis(samples, duration=24), [(0, 24)], PORTRAIT, options)
    assert path.shots[0].move == "track"
    dt = 1 / 30
    x = xs(path.keys, 0, 24, dt)
    v = np.diff(x) / dt
    assert np.max(np.abs(v)) <= options.max_speed + 1e-3
    half = path.window[0] / 2
    t = np.arange(0, 24, dt)
    subject = np.array([pos(s) for s in t])
    assert np.all(np.abs(subject - x) <= half - FACE[0] / 2 + 1e-3)  # the face stays inside all along
    still = (t > 1) & (t < 4.5) | (t > 14) & (t < 23)
    assert np.max(np.abs(v[still[1:]])) < 0.01  # < 1 % of the frame width a second


def _moves(x: np.ndarray) -> list[tuple[int, int]]:
    """The runs of frames (first, last index of np.diff(x)) over which the window moves."""
    moving = np.abs(np.diff(x)) > 1e-9
    runs, start = [], None
    for i, m in enumerate([*moving, False]):
        if m and start is None:
            start = i
        elif not m and start is not None:
            runs.append((start, i - 1))
            start = None
    return runs


def test_a_walking_host_gets_holds_and_short_eased_pans_not_a_drift():
    options = ReframeOptions()
    pos = lambda t: 0.2 if t < 6 else min(0.8, 0.2 + 0.1 * (t - 6))  # noqa: E731
    samples = [(float(t), [(pos(t), 0.45)]) for t in range(0, 24)]
    result = analysis(samples, duration=24)
    steady = camera_path(result, [(0, 24)], PORTRAIT, options)
    follow = camera_path(result, [(0, 24)], PORTRAIT, ReframeOptions(style="follow"))
    assert steady.shots[0].move == "track" and follow.shots[0].move == "track"
    dt = 1 / 30
    x, xf = xs(steady.keys, 0, 24, dt), xs(follow.keys, 0, 24, dt)
    runs = _moves(x)
    moving = sum(b - a + 1 for a, b in runs) / (len(x) - 1)
    assert len(runs) >= 2 and moving < 0.6 * float(np.mean(np.abs(np.diff(xf)) > 1e-9))
    # each pan starts and stops gently (eased) and peaks at a brisk pace, under the caps
    v = np.diff(x) / dt
    for a, b in runs:
        peak = float(np.max(np.abs(v[a : b + 1])))
        assert abs(v[a]) < 0.5 * peak and abs(v[b]) < 0.5 * peak
        assert peak <= options.max_speed + 1e-3
    # and the windows between them are exactly still for a while: holds, not a crawl
    holds = [runs[k + 1][0] - runs[k][1] for k in range(len(runs) - 1)]
    assert min(holds) * dt >= 0.3


def test_a_slow_drift_is_held_then_reframed_once():
    """A host drifting slowly across a 40 s shot (as in a live stream): the follower pans all shot long;
    the steady camera holds and moves once, on a few frames."""
    samples = [(float(t), [(0.3 + 0.25 * t / 40, 0.45)]) for t in range(0, 41, 2)]
    result = analysis(samples, duration=40)
    steady = camera_path(result, [(0, 40)], PORTRAIT)
    follow = camera_path(result, [(0, 40)], PORTRAIT, ReframeOptions(style="follow"))
    assert steady.shots[0].move == "pan" and follow.shots[0].move == "pan"
    x, xf = xs(steady.keys, 0, 40, 1 / 30), xs(follow.keys, 0, 40, 1 / 30)
    assert np.mean(np.abs(np.diff(x)) > 1e-9) < 0.1 and np.mean(np.abs(np.diff(xf)) > 1e-9) > 0.9
    half = steady.window[0] / 2
    subject = 0.3 + 0.25 * np.arange(0, 40, 1 / 30) / 40
    assert np.all(np.abs(subject - x) <= half - FACE[0] / 2 + 1e-3)


def test_the_zoom_is_constant_per_shot_and_bounded_by_the_source():
    samples = [(float(t), [(0.5, 0.4)]) for t in range(0, 10)]
    result = analysis(samples, duration=10, size=(3840, 2160), face=(0.03, 0.055))
    path = camera_path(result, [(0, 10)], (1080, 1920))
    scales = {k.scale for k in path.keys}
    assert len(scales) == 1
    assert min(scales) == pytest.approx(path.min_scale, abs=1e-3) and path.min_scale < 1
    assert key_at(path.keys, 5).y != 0.5 or path.window[1] * min(scales) == 1  # framed in y once zoomed


def test_a_portrait_source_moves_in_y_for_a_wider_preset():
    samples = [(float(t), [(0.5, 0.2)]) for t in range(0, 10)]
    result = analysis(samples, duration=10, size=(1080, 1920), face=(0.2, 0.11))
    path = camera_path(result, [(0, 10)], (1080, 1440))
    assert path.window == pytest.approx((1.0, 0.75))
    k = path.keys[0]
    top = k.y - 0.75 / 2
    assert top <= 0.2 - 0.11 / 2 and k.y < 0.5  # the window rose to keep the face


def test_the_product_card_joins_the_host_when_both_fit():
    card = TextSpan(start=4, end=12, text="保温杯 ¥59.9", box=(0.55, 0.1, 0.68, 0.2), score=0.9)
    text = TextSignals(
        frames_read=10,
        lines=[card],
        products=[ProductMention(tag_id=1, name="保温杯", start=4, end=12, text="保温杯 ¥59.9", exact=True)],
        selling=[],
    )
    samples = [(float(t), [(0.45, 0.45)]) for t in range(0, 16)]
    path = camera_path(analysis(samples, duration=16, text=text), [(0, 16)], PORTRAIT)
    assert path.shots[0].product
    k = key_at(path.keys, 8)
    lo, hi = k.x - path.window[0] / 2, k.x + path.window[0] / 2
    assert lo <= 0.45 - FACE[0] / 2 and hi + 1e-6 >= 0.68


def test_the_area_of_motion_beside_the_host_joins_them_when_it_lasts():
    samples = [(float(t), [(0.35, 0.4)]) for t in range(0, 20, 2)]
    hands = [MotionBox(t=t, box=(0.42, 0.5, 0.52, 0.8)) for t in (6.0, 8.0, 10.0)]  # showing a product
    elsewhere = [MotionBox(t=t, box=(0.85, 0.3, 0.95, 0.6)) for t in (6.0, 8.0)]  # someone in the back
    once = [MotionBox(t=16.0, box=(0.42, 0.5, 0.52, 0.8))]  # one change beside the host: no demonstration
    result = analysis(samples, duration=20, motion=hands + elsewhere + once)
    path = camera_path(result, [(0, 20)], PORTRAIT)
    half = path.window[0] / 2
    assert path.shots[0].product
    k = key_at(path.keys, 8)
    assert k.x - half <= 0.35 - FACE[0] / 2 and k.x + half + 1e-6 >= 0.52
    assert key_at(path.keys, 8).x + half < 0.85  # the far motion is not framed
    plain = camera_path(analysis(samples, duration=20, motion=elsewhere + once), [(0, 20)], PORTRAIT)
    assert not plain.shots[0].product and np.ptp(xs(plain.keys, 0, 20)) == 0


def test_an_analysis_without_face_boxes_uses_its_followed_faces():
    result = analysis([(float(t), [(0.3, 0.45)]) for t in range(0, 10)], duration=10)
    older = result.model_copy(update={"picture": result.picture.model_copy(update={"face_boxes": None})})
    assert camera_path(older, [(0, 10)], PORTRAIT).keys == camera_path(result, [(0, 10)], PORTRAIT).keys


# --------------------------------------------------------------------------- generated footage


@pytest.fixture(scope="module")
def subject_footage(tmp_path_factory):
    from tests.workers.media.reframe_footage import make_subject_footage
    from workers.media.analysis.pipeline import AnalysisOptions, analyse_recording

    footage = make_subject_footage(Path(tmp_path_factory.mktemp("reframe")) / "host.mp4")
    result = analyse_recording(footage.path, options=AnalysisOptions(ocr=False))
    return footage, result


def _windows(
    footage, path, t0: float, t1: float
) -> tuple[np.ndarray, np.ndarray, list[tuple[float, float, float, float]]]:
    """Per frame from t0 to t1 (source seconds; the path covers the whole recording): the window's
    left edge, its width, and the true face box."""
    times = np.arange(t0, t1, 1 / footage.spec.fps)
    lefts, widths, truth = [], [], []
    for t in times:
        k = key_at(path.keys, t)
        w = path.window[0] * k.scale
        lefts.append(min(max(k.x - w / 2, 0.0), 1 - w))
        widths.append(w)
        truth.append(footage.subject_box(t))
    return np.array(lefts), np.array(widths), truth


def test_footage_the_face_stays_in_the_window(subject_footage):
    footage, result = subject_footage
    duration = footage.spec.duration
    path = camera_path(result, [(0, duration)], output_size(1280, 720, 1080, 1920, False))
    lefts, widths, truth = _windows(footage, path, 0, duration)
    inside = [b[0] >= x - 1e-4 and b[2] <= x + w + 1e-4 for x, w, b in zip(lefts, widths, truth, strict=True)]
    assert np.mean(inside) >= 0.95


def test_footage_a_still_host_keeps_the_window_still(subject_footage):
    footage, result = subject_footage
    path = camera_path(result, [(0, footage.spec.duration)], output_size(1280, 720, 1080, 1920, False))
    fps = footage.spec.fps
    lefts, _, _ = _windows(footage, path, 0, footage.spec.duration)
    speed = np.abs(np.diff(lefts)) * fps  # frame widths per second
    t = np.arange(len(speed)) / fps
    # holds: 0-3 s, 7-11.3 s, 11.3-19 s, 23-26 s; the analysis samples every 2 s, so a stop is known up
    # to a sample later: the window may settle within that (and it may start a little before a move).
    for a, b in ((0.0, 2.5), (9.0, 11.25), (11.35, 18.5), (24.0, 25.9)):
        sel = (t >= a) & (t < b)
        assert np.max(speed[sel]) < 0.01, (a, b)


def test_footage_the_cut_retargets_at_once(subject_footage):
    footage, result = subject_footage
    cut = footage.spec.cut
    assert result.picture is not None and any(abs(c - cut) < 0.1 for c in result.picture.shot_changes)
    path = camera_path(result, [(0, footage.spec.duration)], output_size(1280, 720, 1080, 1920, False))
    lefts, widths, truth = _windows(footage, path, cut, cut + 0.5)
    # every frame from the cut on frames the face at its new place (within 0.5 s is the target)
    assert all(b[0] >= x and b[2] <= x + w for x, w, b in zip(lefts, widths, truth, strict=True))


def test_footage_the_distractor_does_not_pull_the_camera(subject_footage):
    footage, result = subject_footage
    d0, d1 = footage.spec.distractor
    assert result.picture is not None and result.picture.face_boxes is not None
    # the analysis did see the second face (and even followed it on that sample) ...
    seen = [fb for fb in result.picture.face_boxes if d0 <= fb.t <= d1]
    assert seen and any(len(fb.boxes) == 2 for fb in seen)
    path = camera_path(result, [(0, footage.spec.duration)], output_size(1280, 720, 1080, 1920, False))
    # ... but the window holds on the host through it
    x = xs(path.keys, footage.spec.cut + 0.1, 19.0)
    assert np.ptp(x) < 0.005 and x[0] > 0.6


# --------------------------------------------------------------------------- real media with rotation


@pytest.mark.parametrize(
    ("name", "upright"),
    [
        ("phone_android_portrait_4k60_h264_aac_rot90.mp4", (2160, 3840)),
        ("phone_android_landscape_h264_aac_vfr_rot180.mp4", (1280, 720)),
    ],
)
def test_phone_clips_keep_their_orientation_and_get_a_sane_path(name, upright):
    from tests.conftest import shared_media
    from workers.media.analysis.pipeline import AnalysisOptions, analyse_recording

    result = analyse_recording(shared_media(name), options=AnalysisOptions(ocr=False))
    assert result.picture is not None and tuple(result.picture.frame_size) == upright
    for preset in ((1080, 1920), (1080, 1440)):
        out = output_size(*upright, *preset, False)
        path = camera_path(result, [(0, result.duration)], out)
        assert path.keys and path.shots
        for k in path.keys:
            w, h = path.window[0] * k.scale, path.window[1] * k.scale
            assert 0 <= k.t <= result.duration + 1e-3
            assert w / 2 - 1e-6 <= k.x <= 1 - w / 2 + 1e-6 or k.x == 0.5
            assert h / 2 - 1e-6 <= k.y <= 1 - h / 2 + 1e-6 or k.y == 0.5
            assert path.min_scale - 1e-6 <= k.scale <= 1
        # the window has the preset's aspect in source pixels
        assert path.window[0] * upright[0] / (path.window[1] * upright[1]) == pytest.approx(out[0] / out[1], rel=0.01)


def test_a_shot_shorter_than_two_samples_follows_its_one_sample():
    samples = [(float(t), [(0.3 if t < 10 else 0.7 if t < 12 else 0.5, 0.45)]) for t in range(0, 20, 2)]
    path = camera_path(analysis(samples, duration=20, cuts=(9.5, 11.5)), [(0, 20)], PORTRAIT)
    assert [s.move for s in path.shots] == ["hold", "hold", "hold"]
    assert [round(key_at(path.keys, t).x, 2) for t in (5, 10.5, 15)] == [0.3, 0.7, 0.5]
