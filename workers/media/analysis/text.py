"""On-screen text: where text may be (a cheap gradient test), OCR only when that part of the picture
changed, spans of time each line stayed on screen, and what the lines say for selling: catalogue
products (names and aliases, Chinese and English) and selling patterns (prices, link numbers, 秒杀, 限时).

OCR is RapidOCR on onnxruntime with the PP-OCRv4 Chinese detection and recognition models that ship
inside the `rapidocr-onnxruntime` wheel (nothing is downloaded at run time).
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from workers.media.analysis.signals import ProductMention, SellingCue, TextSpan

_PUNCT = re.compile(r"[\s\u3000·•|｜,，.。:：;；!！?？'\"“”‘’()（）\[\]【】<>《》\-—_~～/\\]+")


def normalise(text: str) -> str:
    """The form text is compared in: NFKC (full-width digits and ￥ folded), lower case, no spaces
    or punctuation (a decimal point between digits is kept: prices)."""
    folded = unicodedata.normalize("NFKC", text).lower()
    folded = re.sub(r"(?<=\d)\.(?=\d)", "\x00", folded)
    return _PUNCT.sub("", folded).replace("\x00", ".")


@dataclass(frozen=True)
class ProductName:
    """A catalogue `product` tag: its id and every name it goes by (name_zh, name_en, aliases)."""

    tag_id: int
    names: tuple[str, ...]


def match_products(text: str, products: list[ProductName], *, fuzzy: float = 0.75) -> list[tuple[ProductName, str, bool]]:
    """(product, the name that matched, exact?) for each product named in `text`. A name of three or more
    characters also matches with one OCR slip per four characters or so (a SequenceMatcher ratio >= fuzzy)."""
    key = normalise(text)
    found = []
    for product in products:
        best: tuple[str, bool, float] | None = None
        for name in product.names:
            n = normalise(name)
            if not n:
                continue
            if n in key:
                best = (name, True, 1.0)
                break
            if len(n) >= 3 and len(key) >= len(n) - 1:
                ratio = max(
                    difflib.SequenceMatcher(None, n, key[i : i + len(n)]).ratio()
                    for i in range(0, max(1, len(key) - len(n) + 1))
                )
                if ratio >= fuzzy and (best is None or ratio > best[2]):
                    best = (name, False, ratio)
        if best is not None:
            found.append((product, best[0], best[1]))
    return found


_PRICE = (
    re.compile(r"[¥$]\s*(\d+(?:\.\d{1,2})?)"),
    re.compile(r"(\d+(?:\.\d{1,2})?)\s*(?:元|块)"),
    re.compile(r"(?:到手价|秒杀价|券后价?|直播价|活动价|现价|价)\D{0,2}?(\d+(?:\.\d{1,2})?)"),
    # PP-OCRv4 often reads a ¥ set in a line of Chinese as "?": before an amount with decimals it is one.
    re.compile(r"\?\s*(\d+\.\d{1,2})(?!\d)"),
)
_LINK = (re.compile(r"(\d+)\s*号\s*链接?"), re.compile(r"链接\s*(\d+)"))
SELLING_KEYWORDS = (
    "秒杀", "限时", "限量", "福利", "包邮", "下单", "拍下", "抢购", "优惠券", "领券", "买一送一", "第二件",
    "半价", "直降", "到手价", "库存", "赠品", "新品", "爆款",
)


def selling_cues(text: str) -> list[tuple[str, str]]:
    """(kind, value) pairs: ("price", "59.9"), ("link", "3"), ("keyword", "秒杀")."""
    folded = unicodedata.normalize("NFKC", text)
    cues: list[tuple[str, str]] = []
    prices: list[str] = []
    for pattern in _PRICE:
        for m in pattern.finditer(folded):
            if m.group(1) not in prices:
                prices.append(m.group(1))
    cues += [("price", p) for p in prices]
    links: list[str] = []
    for pattern in _LINK:
        for m in pattern.finditer(folded):
            if m.group(1) not in links:
                links.append(m.group(1))
    cues += [("link", n) for n in links]
    cues += [("keyword", k) for k in SELLING_KEYWORDS if k in folded]
    return cues


def text_regions(grey: np.ndarray, *, min_height: int = 8) -> list[tuple[int, int, int, int]]:
    """Boxes (x0, y0, x1, y1) that look like lines of text: dense strong edges joined horizontally."""
    h, w = grey.shape
    grad = cv2.morphologyEx(grey, cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8))
    otsu, _ = cv2.threshold(grad, 0, 255, cv2.THRESH_BINARY | cv2.THRESH_OTSU)
    _, edges = cv2.threshold(grad, max(otsu, 48), 255, cv2.THRESH_BINARY)
    joined = cv2.morphologyEx(edges, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_RECT, (max(9, w // 60), 3)))
    n, _, stats, _ = cv2.connectedComponentsWithStats(joined, connectivity=8)
    boxes = []
    for x, y, bw, bh, area in stats[1:n]:
        if min_height <= bh <= h // 4 and bw >= 1.5 * bh and area >= 0.35 * bw * bh:
            boxes.append((int(x), int(y), int(x + bw), int(y + bh)))
    return boxes


def _union(boxes: list[tuple[int, int, int, int]], pad: int, w: int, h: int) -> tuple[int, int, int, int]:
    x0 = max(0, min(b[0] for b in boxes) - pad)
    y0 = max(0, min(b[1] for b in boxes) - pad)
    x1 = min(w, max(b[2] for b in boxes) + pad)
    y1 = min(h, max(b[3] for b in boxes) + pad)
    return x0, y0, x1, y1


def _signature(grey: np.ndarray, boxes: list[tuple[int, int, int, int]]) -> np.ndarray:
    """What the text areas look like, small: a 96x54 picture of only those areas (the rest black)."""
    mask = np.zeros_like(grey)
    for x0, y0, x1, y1 in boxes:
        mask[y0:y1, x0:x1] = grey[y0:y1, x0:x1]
    return cv2.resize(mask, (96, 54), interpolation=cv2.INTER_AREA).astype(np.int16)


class TextReader:
    """RapidOCR with its shipped models, set up for cropped text areas (no angle classifier)."""

    def __init__(self, threads: int = 1) -> None:
        from rapidocr_onnxruntime import RapidOCR

        self._ocr = RapidOCR(
            use_cls=False, intra_op_num_threads=threads, inter_op_num_threads=1,
            det_limit_type="max", det_limit_side_len=960,
        )

    def read(self, image: np.ndarray, *, min_score: float = 0.6) -> list[tuple[str, tuple[int, int, int, int], float]]:
        result: Any
        result, _ = self._ocr(image, use_cls=False)
        lines = []
        for points, text, score in result or []:
            if float(score) < min_score or not str(text).strip():
                continue
            xs = [p[0] for p in points]
            ys = [p[1] for p in points]
            lines.append((str(text).strip(), (int(min(xs)), int(min(ys)), int(max(xs)), int(max(ys))), float(score)))
        return lines


@dataclass
class _Open:
    start: float
    last_seen: float
    text: str
    box: tuple[float, float, float, float]
    score: float


@dataclass
class TextTracker:
    """Fed grey samples in order; OCRs a sample only when its text areas changed since the last read."""

    reader: TextReader | None
    change_threshold: float = 6.0  # mean grey-level change of the text-area signature that forces a read
    frames_read: int = 0
    spans: list[TextSpan] = field(default_factory=list)
    _open: dict[str, _Open] = field(default_factory=dict)
    _last_signature: np.ndarray | None = None
    _prev_t: float | None = None

    def feed(self, t: float, grey: np.ndarray) -> None:
        h, w = grey.shape
        boxes = text_regions(grey)
        if not boxes:
            self._close_all(t)
            self._last_signature = None
        else:
            sig = _signature(grey, boxes)
            changed = self._last_signature is None or float(np.mean(np.abs(sig - self._last_signature))) > self.change_threshold
            if changed and self.reader is not None:
                x0, y0, x1, y1 = _union(boxes, 8, w, h)
                lines = self.reader.read(np.ascontiguousarray(grey[y0:y1, x0:x1]))
                self.frames_read += 1
                self._last_signature = sig
                seen = set()
                for text, (bx0, by0, bx1, by1), score in lines:
                    key = normalise(text)
                    if not key:
                        continue
                    seen.add(key)
                    box = (round((x0 + bx0) / w, 4), round((y0 + by0) / h, 4), round((x0 + bx1) / w, 4), round((y0 + by1) / h, 4))
                    if key in self._open:
                        self._open[key].last_seen = t
                    else:
                        start = t if self._prev_t is None else (self._prev_t + t) / 2
                        self._open[key] = _Open(start, t, text, box, score)
                for key in [k for k in self._open if k not in seen]:
                    self._close(key, t)
            else:
                for span in self._open.values():
                    span.last_seen = t
        self._prev_t = t

    def _close(self, key: str, t: float) -> None:
        o = self._open.pop(key)
        end = (o.last_seen + t) / 2
        self.spans.append(TextSpan(start=round(o.start, 3), end=round(end, 3), text=o.text, box=o.box, score=round(o.score, 3)))

    def _close_all(self, t: float) -> None:
        for key in list(self._open):
            self._close(key, t)

    def finish(self, duration: float) -> list[TextSpan]:
        for key in list(self._open):
            o = self._open.pop(key)
            self.spans.append(TextSpan(start=round(o.start, 3), end=round(duration, 3), text=o.text, box=o.box, score=round(o.score, 3)))
        self.spans.sort(key=lambda s: (s.start, s.box[1], s.box[0]))
        return self.spans


def product_mentions(spans: list[TextSpan], products: list[ProductName]) -> list[ProductMention]:
    out = []
    for s in spans:
        for product, name, exact in match_products(s.text, products):
            out.append(ProductMention(tag_id=product.tag_id, name=name, start=s.start, end=s.end, text=s.text, exact=exact))
    return out


def selling_from(spans: list[TextSpan]) -> list[SellingCue]:
    return [
        SellingCue(kind=kind, value=value, start=s.start, end=s.end, text=s.text)
        for s in spans
        for kind, value in selling_cues(s.text)
    ]
