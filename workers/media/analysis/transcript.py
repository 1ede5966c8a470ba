"""Transcript lines (from an attached SRT/VTT) read like the on-screen text: products named, selling
cues, and the lines that ask a question."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

from workers.media.analysis.signals import ProductMention, SellingCue, SpokenLine, TranscriptSignals
from workers.media.analysis.text import ProductName, match_products, selling_cues

_QUESTION = re.compile(r"[?？]|吗|呢[。！!,，]?$|怎么|多少|能不能|可不可以|有没有|是不是|哪[个种款里]|什么|为什么|几[号个天]")


def is_question(text: str) -> bool:
    return bool(_QUESTION.search(unicodedata.normalize("NFKC", text)))


def transcript_signals(segments: Sequence[tuple[float, float, str]], products: list[ProductName]) -> TranscriptSignals:
    mentions: list[ProductMention] = []
    selling: list[SellingCue] = []
    questions: list[SpokenLine] = []
    for start, end, text in segments:
        for product, name, exact in match_products(text, products):
            mentions.append(ProductMention(tag_id=product.tag_id, name=name, start=start, end=end, text=text, exact=exact))
        selling += [SellingCue(kind=k, value=v, start=start, end=end, text=text) for k, v in selling_cues(text)]
        if is_question(text):
            questions.append(SpokenLine(start=start, end=end, text=text))
    return TranscriptSignals(segments=len(segments), products=mentions, selling=selling, questions=questions)
