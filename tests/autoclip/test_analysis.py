"""The analysis library on generated footage whose answer is known: pauses, cuts, on-screen products and
prices, and the host's face; plus the pure parts on hand-made data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.autoclip.footage import Card, Footage, FootageSpec, make_footage
from workers.media.analysis import AnalysisResult, ProductName, analyse_recording
from workers.media.analysis.audio import pauses_between, speech_segments
from workers.media.analysis.decode import FrameSampling, audio_argv, frames_argv
from workers.media.analysis.session import find_peaks
from workers.media.analysis.signals import Series
from workers.media.analysis.text import match_products, normalise, selling_cues

PRODUCTS = [
    ProductName(1, ("保温杯", "Thermos Cup", "真空保温杯")),
    ProductName(2, ("洗衣凝珠", "Laundry Pods")),
    ProductName(3, ("电动牙刷", "Electric Toothbrush")),
]


@pytest.fixture(scope="module")
def result(footage: Footage) -> AnalysisResult:
    return analyse_recording(footage.path, products=PRODUCTS)


def test_pauses_match_the_true_silences(footage: Footage, result: AnalysisResult) -> None:
    assert result.audio is not None
    pauses = [(p.start, p.end) for p in result.audio.pauses]
    for a, b in footage.silences:
        if b - a < 0.5:
            continue
        near = [p for p in pauses if abs(p[0] - a) <= 0.5 and abs(p[1] - b) <= 0.5]
        assert near, f"silence {a:.2f}-{b:.2f} not found in {pauses}"
    # and no pause inside an utterance: every detected pause lies in a true silence (0.5 s slack)
    for pa, pb in pauses:
        assert any(a - 0.5 <= pa and pb <= b + 0.5 for a, b in footage.silences), (pa, pb)
    assert len(result.audio.loudness.values) == pytest.approx(footage.spec.duration / 0.48, rel=0.1)
    loud = np.asarray(result.audio.loudness.values)
    assert loud.max() > -30 and loud[:1].max() < -45  # the first 0.5 s is room tone only


def test_shot_changes_within_half_a_second(footage: Footage, result: AnalysisResult) -> None:
    assert result.picture is not None
    assert result.picture.sampling == "keyframes"  # keyframes every 2 s: cheap sampling
    found = result.picture.shot_changes
    assert len(found) == len(footage.spec.cuts), found
    for truth, got in zip(footage.spec.cuts, found, strict=True):
        assert abs(truth - got) <= 0.5, (truth, got)


def _overlapping(start: float, end: float, card: Card) -> bool:
    return start < card.end and end > card.start


def test_ocr_reads_the_cards_and_matches_products_and_prices(footage: Footage, result: AnalysisResult) -> None:
    assert result.text is not None
    gap = 2.0  # the keyframe interval: a card is seen at the first sample on which it shows
    card_a, card_b = footage.spec.cards
    cup = [m for m in result.text.products if m.tag_id == 1]
    pods = [m for m in result.text.products if m.tag_id == 2]
    assert cup and pods and not [m for m in result.text.products if m.tag_id == 3]
    assert abs(cup[0].start - card_a.start) <= gap and abs(cup[0].end - card_a.end) <= gap
    assert abs(pods[0].start - card_b.start) <= gap and abs(pods[0].end - card_b.end) <= gap
    cues = {(c.kind, c.value): c for c in result.text.selling}
    assert _overlapping(cues["price", "59.9"].start, cues["price", "59.9"].end, card_a)
    assert _overlapping(cues["price", "39.9"].start, cues["price", "39.9"].end, card_b)
    assert ("link", "3") in cues and ("keyword", "秒杀") in cues and ("keyword", "限时") in cues
    # nothing is read outside the cards' times
    for line in result.text.lines:
        assert any(_overlapping(line.start, line.end, c) for c in footage.spec.cards), line
    # OCR ran only when the text areas changed, not on every sample
    assert result.text.frames_read < len(result.picture.sample_times) / 2  # type: ignore[union-attr]


def test_face_follows_the_known_path(footage: Footage, result: AnalysisResult) -> None:
    assert result.picture is not None
    faces = result.picture.faces
    assert len(faces) >= 0.8 * len(result.picture.sample_times)
    for f in faces:
        x, y = footage.face_centre(f.t)
        assert abs(f.x - x) <= 0.06 and abs(f.y - y) <= 0.1, (f, x, y)
    assert faces[-1].x - faces[0].x > 0.25  # it moved left to right
    assert set(result.picture.face_presence.values) <= {0.0, 1.0}


def test_sparse_keyframes_fall_back_to_a_fixed_rate(tmp_path: Path) -> None:
    spec = FootageSpec(
        duration=12.0, width=640, height=360, keyint=300, cuts=(5.3, 8.0),  # 8.0: on a 2 fps tick cards=(Card(2.0, 9.0, ("保温杯 ¥59.9",)),),
        sentences=("欢迎来到直播间",), silences=(1.0,), preset="ultrafast",
    )
    clip = make_footage(tmp_path / "sparse.mp4", spec)
    r = analyse_recording(clip.path, products=PRODUCTS)
    assert r.picture is not None and r.picture.sampling == "rate:2"
    assert len(r.picture.shot_changes) == 2, r.picture.shot_changes
    assert abs(r.picture.shot_changes[0] - 5.3) <= 0.5 and abs(r.picture.shot_changes[1] - 8.0) <= 0.5
    assert r.text is not None and [m.tag_id for m in r.text.products] == [1]


# --- pure parts ---------------------------------------------------------------------------------


def test_audio_is_decoded_alone_and_frames_keyframes_only() -> None:
    argv = audio_argv("ffmpeg", "in.mp4")
    assert argv.index("-vn") < argv.index("-i") and "0:a:0" in argv and argv[-2:] == ["s16le", "pipe:1"]
    frames = frames_argv("ffmpeg", "in.mp4", FrameSampling(keyframes=True, width=640))
    assert frames.index("-skip_frame") < frames.index("-i") and "fps=" not in " ".join(frames)
    thinned = frames_argv("ffmpeg", "in.mp4", FrameSampling(keyframes=False, fps=2, width=320))
    assert "-skip_frame" not in thinned and "fps=" not in " ".join(thinned)
    assert "select='isnan(prev_selected_t)+gte(t-prev_selected_t,0.4750)',scale=320:-2" in " ".join(thinned)
    refs = frames_argv("ffmpeg", "in.mp4", FrameSampling(keyframes=False, fps=None, nonref_skipped=True, width=64), start=8.0)
    assert refs[refs.index("-skip_frame") + 1] == "noref" and "fps=" not in " ".join(refs)
    assert refs.index("-ss") < refs.index("-i")  # input-side seek: decoding starts at the keyframe


def test_speech_segments_bridge_short_gaps_and_drop_clicks() -> None:
    frame = 0.03
    flags = np.zeros(200, dtype=bool)
    flags[10:40] = True  # 0.30-1.20
    flags[45:80] = True  # a 0.15 s gap: the same utterance
    flags[120:122] = True  # a 60 ms click: not speech
    flags[150:190] = True
    speech = speech_segments(flags, frame, min_speech_s=0.25, bridge_s=0.3)
    assert [(s.start, s.end) for s in speech] == [(0.3, 2.4), (4.5, 5.7)]
    pauses = pauses_between(speech, 6.0, min_pause_s=0.5)
    assert [(p.start, p.end) for p in pauses] == [(2.4, 4.5)]


def test_normalise_and_selling_cues() -> None:
    assert normalise("保温杯 ＃１ Thermos，Cup") == "保温杯#1thermoscup"
    assert normalise("￥59.9") == "¥59.9"
    cues = selling_cues("到手价￥５９．９ 3号链接 限时秒杀")
    assert ("price", "59.9") in cues and ("link", "3") in cues
    assert ("keyword", "秒杀") in cues and ("keyword", "限时") in cues
    assert ("price", "39.9") in selling_cues("洗衣凝珠 39.9元")
    assert ("link", "12") in selling_cues("链接12")
    assert ("price", "59.9") in selling_cues("保温杯?59.9")  # OCR's reading of "保温杯 ¥59.9" at 1080p
    assert selling_cues("真的吗?5个") == []  # a question mark before a count is no price
    assert selling_cues("欢迎来到直播间") == []


def test_product_matching_exact_alias_and_one_ocr_slip() -> None:
    assert [(p.tag_id, name, exact) for p, name, exact in match_products("真空保温杯 ¥59.9", PRODUCTS)] == [
        (1, "保温杯", True)
    ]
    assert [p.tag_id for p, _, _ in match_products("THERMOS CUP 特价", PRODUCTS)] == [1]
    slip = match_products("洗衣凝朱39.9元", PRODUCTS)  # OCR read 珠 as 朱
    assert [(p.tag_id, exact) for p, _, exact in slip] == [(2, False)]
    assert match_products("今天福利多多", PRODUCTS) == []


def test_session_peaks_stand_out_of_the_series() -> None:
    values = [10, 12, 11, 9, 60, 14, 12, 10, 11, 45, 44, 12]
    peaks = find_peaks(Series(start=30.0, step=60.0, values=[float(v) for v in values]), "comments")
    assert [(p.t, p.value) for p in peaks] == [(270.0, 60.0), (570.0, 45.0)]
    assert find_peaks(Series(step=60.0, values=[5.0] * 10), "orders") == []


def test_transcript_lines_name_products_prices_and_questions() -> None:
    from workers.media.analysis.transcript import transcript_signals

    spoken = transcript_signals(
        [(1.0, 3.0, "欢迎来到直播间"), (4.0, 7.5, "这款保温杯今天只要¥59.9"), (9.0, 11.0, "洗衣凝珠怎么用？"), (12.0, 13.0, "好的")],
        PRODUCTS,
    )
    assert spoken.segments == 4
    assert [(m.tag_id, m.start) for m in spoken.products] == [(1, 4.0), (2, 9.0)]
    assert [(c.kind, c.value) for c in spoken.selling] == [("price", "59.9")]
    assert [q.text for q in spoken.questions] == ["洗衣凝珠怎么用？"]


def _pattern(shift: float, level: int) -> np.ndarray:
    x = np.arange(320)[None, :] + shift
    y = np.arange(180)[:, None]
    return np.clip(level + 60 * np.sin(x / 9.0) * np.cos(y / 13.0), 0, 255).astype(np.uint8)


def test_refine_places_a_hard_cut_and_a_short_fade_but_not_a_pan() -> None:
    from workers.media.analysis.picture import refine_cut

    fps = 15
    hard = [(i / fps, _pattern(0, 60 if i < 17 else 190), None) for i in range(30)]
    assert refine_cut(hard, coarse=0.6) == pytest.approx(17 / fps)
    # a 0.3 s dissolve from dark to bright, centred near 1.0 s
    fade = []
    for i in range(30):
        f = min(max((i - 13) / 4, 0.0), 1.0)
        fade.append((i / fps, ((1 - f) * _pattern(0, 60) + f * _pattern(0, 190)).astype(np.uint8), None))
    t = refine_cut(fade, coarse=0.6)
    assert t is not None and 13 / fps < t <= 17 / fps
    # a steady pan: the picture changes as much between the samples, spread over the whole stretch
    pan = [(i / fps, _pattern(i * 6.0, 100), None) for i in range(30)]
    assert refine_cut(pan, coarse=0.35) is None
    # ... and a change outside the two samples' stretch belongs to another candidate
    assert refine_cut(hard, coarse=0.6, within=(0.0, 0.9)) is None


def test_a_cut_between_equally_bright_scenes_of_different_colour_shows_in_chroma() -> None:
    from workers.media.analysis.picture import change_score, thumbnail

    luma = _pattern(0, 80)
    green = np.stack([np.full((90, 160), 109, np.uint8), np.full((90, 160), 108, np.uint8)])  # U, V
    red = np.stack([np.full((90, 160), 119, np.uint8), np.full((90, 160), 173, np.uint8)])
    assert change_score(thumbnail(luma), thumbnail(luma)) == 0.0
    assert change_score(thumbnail(luma, green), thumbnail(luma, red)) >= 0.5
    assert change_score(thumbnail(luma, green), thumbnail(luma, green)) == 0.0


@pytest.mark.shared_media
def test_real_phone_recordings_a_handheld_pan_is_no_cut_and_a_rotated_one_decodes_upright() -> None:
    from tests.conftest import shared_media
    from workers.media.analysis import AnalysisOptions

    options = AnalysisOptions(ocr=False)
    pan = analyse_recording(shared_media("phone_android_landscape_h264_aac_vfr_rot180.mp4"), options=options)
    assert pan.picture is not None and pan.picture.shot_changes == []
    portrait = analyse_recording(shared_media("phone_android_portrait_4k60_h264_aac_rot90.mp4"), options=options)
    assert portrait.picture is not None and portrait.picture.sample_times
    w, h = portrait.picture.frame_size
    assert h > w  # shown upright, as the phone recorded it
    # MediaRecorder's WebM does not say how long it is: the analysis says what it decoded
    webm = analyse_recording(shared_media("chrome_mediarecorder_h264_in_webm_vfr.webm"), options=options)
    assert webm.duration > 1.0 and webm.picture is not None and webm.picture.motion.values


def test_a_cut_a_frame_after_its_rate_sample_is_still_placed() -> None:
    """At 2 fps the sample labelled 1.0 s may be the frame at 1.033 s: the refined stretch's cut frame
    then sits just past the label, and must still count for this pair of samples."""
    from workers.media.analysis.picture import PictureAnalyser

    before, after = _pattern(0, 60), _pattern(0, 190)
    pictures = PictureAnalyser(faces=None)
    for t, frame in ((0.0, before), (0.5, before), (1.0, after)):
        pictures.feed(t, frame)

    def refine(a: float, b: float) -> list[tuple[float, np.ndarray, np.ndarray | None]]:
        frames = [(round(k / 30, 4), before if k < 31 else after, None) for k in range(0, 46)]
        return [f for f in frames if a - 0.5 <= f[0] <= b + 0.5]

    assert pictures.shot_changes(refine) == [pytest.approx(31 / 30, abs=1e-3)]
