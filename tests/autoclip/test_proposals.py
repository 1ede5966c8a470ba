"""Proposals from an analysis: on hand-built analyses (fast, exact) and on the generated footage whose
pauses, cuts and product cards are known."""

from __future__ import annotations

import pytest

from tests.autoclip.footage import Footage
from workers.media.analysis import AnalysisResult, analyse_recording
from workers.media.analysis.proposals import boundaries, inside_speech, product_segments, propose, snap_to_speech
from workers.media.analysis.signals import (
    AudioSignals,
    Peak,
    PictureSignals,
    ProductMention,
    SellingCue,
    Series,
    SessionSignals,
    Span,
    SpokenLine,
    TextSignals,
    TranscriptSignals,
)


def _hand_built() -> AnalysisResult:
    """120 s: utterances of 6 s with 2 s pauses; cuts at 32, 61.3 (inside speech) and 88; product 1 on
    screen 8-50 with a price, product 2 on screen 66-110 with a link; a question at 80; a comment peak
    in the minute from 60 and an order peak in the minute from 0."""
    speech = [Span(start=t + 1.0, end=t + 7.0) for t in range(0, 120, 8) if t + 7.0 <= 119]
    pauses = [Span(start=a.end, end=b.start) for a, b in zip(speech, speech[1:], strict=False)]
    pauses = [Span(start=0.0, end=1.0), *pauses, Span(start=speech[-1].end, end=120.0)]
    flat = Series(step=1.0, values=[-30.0] * 120, unit="dB")
    audio = AudioSignals(sample_rate=16000, vad_frame_s=0.03, vad_aggressiveness=2, speech=speech, pauses=pauses,
                         loudness=flat, speech_density=Series(step=1.0, values=[0.8] * 120), decoded_s=120.0)
    picture = PictureSignals(
        sampling="keyframes", sample_times=[float(t) for t in range(0, 120, 2)], shot_changes=[32.0, 61.3, 88.0],
        motion=Series(step=1.0, values=[0.1 + 0.1 * (t % 7) for t in range(120)]), faces=[],
        face_presence=Series(step=1.0, values=[1.0] * 120), frame_size=(1280, 720),
    )
    text = TextSignals(
        frames_read=10, lines=[],
        products=[ProductMention(tag_id=1, name="保温杯", start=8.0, end=50.0, text="保温杯 ¥59.9", exact=True),
                  ProductMention(tag_id=2, name="洗衣凝珠", start=66.0, end=110.0, text="洗衣凝珠 3号链接", exact=True)],
        selling=[SellingCue(kind="price", value="59.9", start=8.0, end=50.0, text="保温杯 ¥59.9"),
                 SellingCue(kind="link", value="3", start=66.0, end=110.0, text="洗衣凝珠 3号链接")],
    )
    transcript = TranscriptSignals(segments=10, products=[], selling=[],
                                   questions=[SpokenLine(start=81.0, end=87.0, text="洗衣凝珠怎么用？")])
    session = SessionSignals(
        series={"comments": Series(step=60.0, values=[10.0, 38.0]), "orders": Series(step=60.0, values=[25.0, 2.0])},
        peaks=[Peak(metric="comments", t=60.0, value=38.0, baseline=10.0, score=5.0),
               Peak(metric="orders", t=0.0, value=25.0, baseline=2.0, score=5.0)],
    )
    return AnalysisResult(version=1, duration=120.0, audio=audio, picture=picture, text=text, session=session,
                          transcript=transcript)


def test_boundaries_sit_in_pauses_or_on_cuts_outside_speech() -> None:
    r = _hand_built()
    points = boundaries(r)
    assert r.audio is not None
    assert all(inside_speech(b.t, r.audio.speech) is None for b in points)
    assert {b.t for b in points if b.kind == "cut"} == {32.0, 88.0}  # 61.3 is inside an utterance
    assert 0.0 in {b.t for b in points}


def test_segments_follow_the_products_on_screen() -> None:
    segments = product_segments(_hand_built())
    assert [(s.tag_id, s.start, s.end) for s in segments] == [(1, 8.0, 50.0), (2, 66.0, 110.0)]


def test_proposals_are_typed_explained_spread_and_never_overlap() -> None:
    r = _hand_built()
    chosen = propose(r, count=4, min_s=10, max_s=30)
    assert 2 <= len(chosen) <= 4
    assert {c.tag_id for c in chosen[:2]} == {1, 2}  # round-robin: one of each product first
    for x in chosen:
        assert 10 <= x.duration <= 30
        assert all(not x.overlaps(y.start, y.end) for y in chosen if y is not x)
        codes = {reason.code for reason in x.reasons}
        assert "no_speech_cut" in codes and "edges" in codes
    first_cup = next(c for c in chosen if c.tag_id == 1)
    assert first_cup.type == "offer"
    price = next(x for x in first_cup.reasons if x.code == "price_on_screen")
    assert price.text_zh.startswith("画面价格 ¥59.9 ") and price.value == "59.9"
    assert price.as_dict()["text_en"].startswith("price ¥59.9 on screen")
    pods = [c for c in chosen if c.tag_id == 2]
    assert any(c.type == "qa" and any(x.code == "question" for x in c.reasons) for c in pods), pods


def test_used_ranges_are_not_proposed_again() -> None:
    r = _hand_built()
    used = [(0.0, 60.0)]
    chosen = propose(r, count=5, min_s=10, max_s=30, used=used)
    assert chosen and all(c.start >= 60.0 for c in chosen)
    assert all(c.tag_id != 1 for c in chosen)
    assert propose(r, count=5, min_s=10, max_s=30, used=[(0.0, 120.0)]) == []


def test_a_comment_peak_makes_a_qa_and_reasons_count_comments() -> None:
    r = _hand_built()
    qa = [c for c in propose(r, count=6, min_s=10, max_s=30) if any(x.code == "comment_peak" for x in c.reasons)]
    assert qa and any(x.text_zh == "38 条评论/分钟" for c in qa for x in c.reasons)


def test_adjusting_snaps_points_near_an_utterance_edge_and_refuses_deep_ones() -> None:
    r = _hand_built()
    assert snap_to_speech(r, 8.0, 24.0) is not None and not snap_to_speech(r, 8.0, 24.0).snapped  # type: ignore[union-attr]
    near = snap_to_speech(r, 9.5, 22.6)  # in 9.0-15.0 (0.5 s in) and 17.0-23.0 (0.4 s before its end)
    assert near is not None and near.snapped and (near.start, near.end) == (8.9, 23.1)
    assert snap_to_speech(r, 12.0, 24.0) is None  # 3 s into an utterance: refused


# --- on generated footage with a known answer ------------------------------------------------------------


@pytest.fixture(scope="module")
def analysed(footage: Footage) -> AnalysisResult:
    from tests.autoclip.test_analysis import PRODUCTS

    return analyse_recording(footage.path, products=PRODUCTS)


def test_footage_proposals_cut_on_true_pauses_or_cuts_and_carry_the_card_s_product(
    footage: Footage, analysed: AnalysisResult
) -> None:
    chosen = propose(analysed, count=6, min_s=4, max_s=15)
    assert len(chosen) >= 2
    cuts = footage.spec.cuts
    for c in chosen:
        for t in (c.start, c.end):
            near_pause = any(a - 0.5 <= t <= b + 0.5 for a, b in footage.silences)
            near_cut = any(abs(t - x) <= 0.5 for x in cuts)
            assert near_pause or near_cut or t in (0.0, analysed.duration), (c, t)
            assert not any(a + 0.05 < t < b - 0.05 for a, b in footage.speech), (c, t)  # never inside true speech
    ranges = [(c.start, c.end) for c in chosen]
    assert all(not (a < d and c < b) for i, (a, b) in enumerate(ranges) for (c, d) in ranges[i + 1 :])
    # the label is the product whose card shows most during the clip; no label only where no card
    # shows for half the clip
    card_product = {0: 1, 1: 2}
    right = 0
    for c in chosen:
        shown = [max(0.0, min(c.end, k.end) - max(c.start, k.start)) for k in footage.spec.cards]
        most = max(shown)
        if c.tag_id is None:
            right += most < 0.5 * c.duration
        else:
            right += most > 0 and card_product[shown.index(most)] == c.tag_id
    assert right >= 0.9 * len(chosen), chosen
    assert sum(c.tag_id is not None for c in chosen) >= 4
    # a range already used is not proposed again
    again = propose(analysed, count=6, min_s=4, max_s=15, used=ranges[:1])
    assert all(not (c.start < ranges[0][1] and ranges[0][0] < c.end) for c in again)


def test_transcript_mentions_make_segments_and_an_order_peak_extends_the_pitch() -> None:
    base = _hand_built()
    spoken = TranscriptSignals(
        segments=2, selling=[], questions=[],
        products=[ProductMention(tag_id=3, name="电动牙刷", start=2.0, end=4.0, text="这款电动牙刷", exact=True)],
    )
    text = TextSignals(frames_read=1, lines=[], selling=[],
                       products=[ProductMention(tag_id=1, name="保温杯", start=60.0, end=70.0, text="保温杯", exact=True)])
    session = SessionSignals(series={"orders": Series(start=0.0, step=60.0, values=[1.0, 1.0, 30.0])},
                             peaks=[Peak(metric="orders", t=70.0, value=30.0, baseline=1.0, score=9.0)])
    r = base.model_copy(update={"transcript": spoken, "text": text, "session": session})
    segments = [(s.tag_id, s.start, s.end) for s in product_segments(r)]
    # named at 2-4 s: sold until 15 s after; on screen 60-70 s, and the orders peak from 70 s keeps it going
    assert segments == [(3, 2.0, 19.0), (1, 60.0, 120.0)]


def test_a_spoken_price_is_told_apart_from_one_on_screen() -> None:
    from workers.media.analysis.proposals import assess

    base = _hand_built()
    spoken = TranscriptSignals(segments=1, products=[], questions=[],
                               selling=[SellingCue(kind="price", value="39.9", start=97.0, end=100.0, text="只要39.9")])
    c = assess(base.model_copy(update={"transcript": spoken}), 95.3, 111.3, 2)
    said = next(x for x in c.reasons if x.code == "price_spoken")
    assert said.text_zh == "口播价格 ¥39.9 1:37-1:40" and said.text_en == "price ¥39.9 spoken 1:37-1:40"
    assert c.type == "offer" and not any(x.code == "price_on_screen" for x in c.reasons)
