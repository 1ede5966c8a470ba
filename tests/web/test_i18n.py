"""The web app's message catalogues: zh-CN (default) and en hold the same keys with the same placeholders,
every key the code uses is there (literal keys, and the keys built from the API's enumerations, problem
types, platforms and channels), and no page text is written into the HTML shell or the scripts."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import get_args

import pytest

WEB = Path(__file__).resolve().parents[2] / "backend" / "web"
STATIC = WEB / "static"
SCRIPTS = sorted((STATIC / "js").rglob("*.js"))
LITERAL_KEY = re.compile(r"""\bt\(\s*["']([\w.\-]+)["']""")
TEMPLATE_KEY = re.compile(r"""\bt\(\s*`([\w.\-]*)\$\{""")
LABEL_PREFIX = re.compile(r"""\blabel\(\s*["']([\w.\-]+)["']""")
PLACEHOLDER = re.compile(r"\{(\w+)\}")
CJK = re.compile(r"[\u3400-\u9fff\uff00-\uffef]")


def catalogue(name: str) -> dict[str, str]:
    return json.loads((STATIC / "i18n" / f"{name}.json").read_text(encoding="utf-8"))


def code() -> str:
    return "\n".join(path.read_text(encoding="utf-8") for path in SCRIPTS)


def test_both_catalogues_have_the_same_keys_and_placeholders() -> None:
    zh, en = catalogue("zh-CN"), catalogue("en")
    assert sorted(set(zh) ^ set(en)) == [], "keys in one catalogue only"
    for key in zh:
        assert isinstance(zh[key], str) and zh[key].strip() and en[key].strip(), key
        assert set(PLACEHOLDER.findall(zh[key])) == set(PLACEHOLDER.findall(en[key])), key
    assert zh["quota_status.met"] == "达标" and zh["quota_status.on_track"] == "进度正常"
    assert zh["quota_status.at_risk"] == "有风险" and zh["quota_status.missed"] == "未达标"
    assert zh["platform.douyin"] == "抖音" and zh["platform.xiaohongshu"] == "小红书"
    assert zh["channel.tmall.shipai"] == "天猫 实拍"


def test_every_key_the_code_uses_is_in_the_catalogues() -> None:
    zh = catalogue("zh-CN")
    source = code()
    literal = set(LITERAL_KEY.findall(source))
    assert len(literal) > 50  # the pattern still finds the calls
    assert sorted(literal - set(zh)) == []
    # Keys built at run time: each prefix must exist, and the values the API sends must all be there.
    for prefix in set(TEMPLATE_KEY.findall(source)) | {p + "." for p in LABEL_PREFIX.findall(source)}:
        assert any(k.startswith(prefix) for k in zh), prefix


def _expected_dynamic_keys() -> set[str]:
    from backend.auth.models import Language, Role
    from backend.catalogue.models import MaterialKind, MaterialStatus, MediaType, Orientation
    from backend.compliance.models import PublicationStatus
    from backend.compliance.rules import ChannelState, QuotaStatus
    from backend.compliance.schemas import FindingCode
    from backend.errors import error_classes
    from presets.loader import load_catalog

    keys = {f"problem.{c.slug}" for c in error_classes()} | {"problem.unknown"}
    for prefix, enum in [
        ("kind", MaterialKind), ("status", MaterialStatus), ("media_type", MediaType), ("orientation", Orientation),
        ("publication_status", PublicationStatus), ("quota_status", QuotaStatus), ("channel_state", ChannelState),
        ("role", Role), ("language", Language),
    ]:
        keys |= {f"{prefix}.{member.value}" for member in enum}
    keys |= {f"publishing.finding.{code}" for code in get_args(FindingCode)}  # the submission check's codes
    for platform in load_catalog().platforms:
        keys.add(f"platform.{platform.id}")
        keys |= {f"channel.{platform.id}.{channel.id}" for channel in platform.channels}
    screens = (STATIC / "js" / "screens" / "index.js").read_text(encoding="utf-8")
    for block in re.findall(r"\{[^{}]*\}", screens):
        if "nav: true" in block:
            keys.add("nav." + re.search(r'id: "([\w-]+)"', block).group(1))  # type: ignore[union-attr]
    return keys


@pytest.mark.parametrize("language", ["zh-CN", "en"])
def test_enumerations_problem_types_platforms_and_channels_are_translated(language: str) -> None:
    missing = sorted(_expected_dynamic_keys() - set(catalogue(language)))
    assert missing == [], f"add these keys to backend/web/static/i18n/*.json: {missing}"


def test_no_text_is_hard_coded_in_the_shell_or_the_scripts() -> None:
    class Text(HTMLParser):
        def __init__(self) -> None:
            super().__init__()
            self.texts: list[str] = []

        def handle_data(self, data: str) -> None:
            if data.strip():
                self.texts.append(data.strip())

    shell = Text()
    shell.feed((WEB / "index.html").read_text(encoding="utf-8"))
    assert shell.texts == ["reelhouse"]  # the product's name in <title>, replaced by the catalogue's at start
    for path in SCRIPTS:
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.lstrip().startswith("//"):
                assert not CJK.search(line), f"{path.name}:{number}: Chinese text belongs in the catalogues"


def test_every_job_error_a_worker_can_record_is_said_in_words() -> None:
    """The jobs screen shows a failed render's code in words; the worker writes the media error's class name
    as a slug (MediaTimeout -> media-timeout) or the pipeline's RenderFailed code."""
    from backend.renders import pipeline
    from workers.media import run
    from workers.media.argv import RecipeError
    from workers.media.inspect import InspectFailed
    from workers.media.probe import ProbeRejection
    from workers.renders import _slug

    errors = [c for c in vars(run).values() if isinstance(c, type) and issubclass(c, run.MediaError) and c is not run.MediaCancelled]
    codes = {_slug(c.__name__) for c in [*errors, RecipeError, InspectFailed, ProbeRejection]}
    source = Path(pipeline.__file__).read_text(encoding="utf-8")
    codes |= set(re.findall(r'RenderFailed\(\s*"([a-z-]+)"', source))
    codes |= {f"{side}-{what}" for side in ("intro", "outro") for what in ("missing", "unreadable")}
    codes |= set(re.findall(r'code: str = "([a-z-]+)"', source))
    codes |= {"internal-error", "worker-lost", "attempts-exhausted"}
    for name in ("zh-CN", "en"):
        messages = catalogue(name)
        unsaid = sorted(c for c in codes if f"jobs.error.{c}" not in messages and f"problem.{c}" not in messages)
        assert unsaid == [], f"{name}: job errors shown as a bare code: {unsaid}"
