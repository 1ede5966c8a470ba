"""Problem answers speak Simplified Chinese unless the caller asks for English (Accept-Language, or a
signed-in person's setting); `type`, `status` and extension members are the same in both languages, and
every problem type has a title in both."""

from __future__ import annotations

import ast
import json
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from string import Formatter

import pytest
from fastapi.testclient import TestClient

from backend import errors, i18n
from tests.conftest import Keys

ROOT = Path(__file__).resolve().parents[2]
CJK = re.compile(r"[\u3400-\u9fff]")
ZH, EN = {"Accept-Language": "zh-CN"}, {"Accept-Language": "en"}


@pytest.mark.parametrize(
    ("header", "language"),
    [
        (None, "zh-CN"),
        ("", "zh-CN"),
        ("zh-CN", "zh-CN"),
        ("zh-TW,zh;q=0.9", "zh-CN"),  # any Chinese: the texts are written in Simplified only
        ("en", "en"),
        ("en-US,en;q=0.9", "en"),
        ("en;q=0.9, zh-CN;q=0.8", "en"),
        ("zh-CN;q=0.8, en;q=0.9", "en"),  # quality, not order, decides
        ("en, zh-CN", "en"),  # a tie goes to the one written first
        ("zh-CN, en", "zh-CN"),
        ("fr-FR, de;q=0.9", "zh-CN"),  # names neither: the default
        ("fr, en;q=0.5, zh;q=0.4", "en"),
        ("*", "zh-CN"),
        ("en;q=0, zh;q=0.1", "zh-CN"),  # q=0: not acceptable
        ("en;q=0", "zh-CN"),
        ("EN-gb", "en"),
        ("en;q=banana, !!!", "zh-CN"),  # unreadable ranges are skipped
    ],
)
def test_accept_language_negotiation(header: str | None, language: str) -> None:
    assert i18n.negotiate(header) == language


def test_a_persons_setting_outweighs_the_header() -> None:
    assert i18n.chosen("en", "zh-CN") == "en"
    assert i18n.chosen("zh-CN", "en") == "zh-CN"
    assert i18n.chosen(None, "en") == "en"
    assert i18n.chosen("fr", None) == "zh-CN"  # not a language we answer in: the header's choice


def test_every_problem_type_has_a_chinese_and_an_english_title() -> None:
    missing = []
    for cls in errors.error_classes():
        zh, en = i18n.title(cls.slug, "zh-CN"), i18n.title(cls.slug, "en")
        if not zh or not CJK.search(zh):
            missing.append(f"zh-CN problem.{cls.slug}")
        if not en or CJK.search(en):
            missing.append(f"en problem.{cls.slug}")
    assert missing == [], f"add these keys to backend/web/static/i18n/<lang>.json: {missing}"


def _placeholders(template: str) -> set[str]:
    return {name.split("!")[0] for _, name, _, _ in Formatter().parse(template) if name}


def test_detail_catalogues_match_and_every_key_raised_is_there() -> None:
    zh, en = i18n.details_catalogue("zh-CN"), i18n.details_catalogue("en")
    assert sorted(set(en) - set(zh)) == [], "texts with no Chinese wording"
    # Chinese words pydantic's error types (validation.<type>) and the media library's refusals (media.<text>);
    # in English those answers keep the library's own message.
    assert sorted(k for k in set(zh) - set(en) if not k.startswith(("validation.", "media."))) == []
    for key in en:
        assert _placeholders(zh[key]) == _placeholders(en[key]), key
    source = "\n".join(p.read_text(encoding="utf-8") for p in (ROOT / "backend").rglob("*.py"))
    raised = set(re.findall(r"""\bkey=["']([\w.\-]+)["']""", source))
    # Built from the request kind, and from the status of an upload that takes no more bytes.
    built = {f"content-type-tus-{what}" for what in ("creation", "patch")}
    built |= {f"tus-gone.{status}" for status in ("terminated", "expired", "failed")}
    raised |= built
    assert len(raised) > 30  # the pattern still finds the call sites
    assert sorted(raised - set(en)) == []
    # Every text is used: its key is written somewhere in the code (no text left behind by a change).
    engine = (ROOT / "backend/compliance/rules.py").read_text(encoding="utf-8")
    built |= {f"compliance.rule.{text}" for text in re.findall(r"""\btext=["']([\w\-]+)["']""", engine)}
    assert len(built) > 15 and sorted(built - set(en)) == []
    assert sorted(k for k in en if f'"{k}"' not in source and k not in built) == []


def _keyed_calls() -> Iterator[tuple[str, int, str, set[str]]]:
    """(file, line, key, parameter names) of every call written `key="...", params={...}` with a literal
    dict (a raise, or an exception of a parser that carries its words)."""
    for path in [*(ROOT / "backend").rglob("*.py"), *(ROOT / "workers").rglob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            kw = {k.arg: k.value for k in node.keywords}
            key = kw.get("key")
            if not (isinstance(key, ast.Constant) and isinstance(key.value, str)):
                continue
            params = kw.get("params")
            if params is None:
                yield str(path.relative_to(ROOT)), node.lineno, key.value, set()
            elif isinstance(params, ast.Dict) and all(isinstance(k, ast.Constant) for k in params.keys):
                yield str(path.relative_to(ROOT)), node.lineno, key.value, {k.value for k in params.keys}  # type: ignore[union-attr]


def test_every_keyed_call_gives_exactly_the_parameters_its_text_uses() -> None:
    en, zh = i18n.details_catalogue("en"), i18n.details_catalogue("zh-CN")
    calls = list(_keyed_calls())
    assert len(calls) > 100  # the walk still finds the call sites
    wrong = [
        f"{where}:{line} {key}: gives {sorted(given)}, the text uses {sorted(_placeholders(en[key]))}"
        for where, line, key, given in calls
        if key in en and given != _placeholders(en[key])
    ]
    assert wrong == []
    # Chinese texts of the domains worded here are Chinese (a copied English text would pass the checks above).
    domains = ("render.", "reframe.", "proxy.", "autoclip.", "metrics.", "catalogue.", "fingerprint.", "body.",
               "transcript.", "session-data.", "compliance.", "auth.")
    assert [k for k in zh if k.startswith(domains) and not CJK.search(zh[k])] == []
    assert [k for k in en if k.startswith(domains) and CJK.search(en[k])] == []


def test_numbers_as_the_team_writes_them() -> None:
    assert i18n.number(12_000) == "1.2万" and i18n.number(150_000_000) == "1.5亿" and i18n.number(23_808) == "2.4万"
    assert i18n.number(10_000) == "1万" and i18n.number(12_000_000) == "1200万"
    assert i18n.number(9_876) == "9,876" and i18n.number(12_000, "en") == "12,000"
    assert i18n.file_size(1024 * 1024) == "1 MB" and i18n.file_size(1536 * 1024 * 1024) == "1.5 GB"
    assert i18n.file_size(512) == "512 B"
    problem = errors.BodyTooLarge(key="body-too-large-declared", params={"limit": 1024 * 1024, "declared": 5 * 1024**3})
    assert problem.detail == f"this endpoint takes at most {1024 * 1024} bytes; the request declares {5 * 1024**3}"
    assert problem.detail_in("zh-CN") == "这个接口最多接受 1 MB，请求声明的大小是 5 GB"
    assert errors.NotFound(key="materials-not-found", params={"count": 12_000}).detail_in("zh-CN") == "有 1.2万 条素材找不到"


def _same_apart_from_words(zh: dict, en: dict) -> None:
    assert set(zh) == set(en)
    for member in set(zh) - {"title", "detail"}:
        assert zh[member] == en[member], member
    assert CJK.search(zh["title"]) and not CJK.search(en["title"])


def test_chinese_by_default_english_when_asked(app_env) -> None:
    from backend.app import create_app

    with TestClient(create_app()) as bare:  # no Accept-Language at all
        default = bare.get("/api/v1/no-such-thing")
        english = bare.get("/api/v1/no-such-thing", headers=EN)
        preferred = bare.get("/api/v1/no-such-thing", headers={"Accept-Language": "en;q=0.9, zh-CN;q=0.8"})
        neither = bare.get("/api/v1/no-such-thing", headers={"Accept-Language": "fr-FR"})
    assert default.status_code == english.status_code == 404
    assert default.headers["content-type"] == "application/problem+json"
    assert default.headers["content-language"] == "zh-CN" and english.headers["content-language"] == "en"
    assert "Accept-Language" in default.headers["vary"]
    assert default.json() == {
        "type": "/problems/not-found", "title": "找不到，可能已被删除", "status": 404,
        "detail": "没有这个接口：GET /api/v1/no-such-thing", "instance": "/api/v1/no-such-thing",
    }
    assert english.json()["title"] == "Not found; it may have been deleted"
    assert english.json()["detail"] == "no such endpoint: GET /api/v1/no-such-thing"
    assert preferred.json() == english.json() and preferred.headers["content-language"] == "en"
    assert neither.json() == default.json()
    _same_apart_from_words(default.json(), english.json())


def test_a_missing_material_in_chinese(anon_client, keys: Keys) -> None:
    missing = uuid.uuid4()
    zh = anon_client.get(f"/api/v1/materials/{missing}", headers={**Keys.auth(keys.viewer), **ZH})
    en = anon_client.get(f"/api/v1/materials/{missing}", headers=Keys.auth(keys.viewer))  # the fixture's English
    assert zh.status_code == en.status_code == 404
    assert zh.json()["type"] == en.json()["type"] == "/problems/not-found"
    assert zh.json()["detail"] == f"找不到素材 {missing}" and en.json()["detail"] == f"material {missing} not found"
    _same_apart_from_words(zh.json(), en.json())


def test_a_validation_error_in_chinese(anon_client, keys: Keys) -> None:
    query = {"limit": "many", "offset": "-1"}
    zh = anon_client.get("/api/v1/materials", params=query, headers={**Keys.auth(keys.viewer), **ZH})
    en = anon_client.get("/api/v1/materials", params=query, headers=Keys.auth(keys.viewer))
    assert zh.status_code == en.status_code == 422
    body = zh.json()
    assert body["type"] == "/problems/validation-error" and body["title"] == "填写的内容有误，请检查"
    assert "query.limit：应为整数" in body["detail"]
    assert "query.limit: Input should be a valid integer" in en.json()["detail"]
    # The `errors` member is for programs: pydantic's own words, the same in every language.
    assert body["errors"] == en.json()["errors"] and body["errors"][0]["type"] == "int_parsing"
    _same_apart_from_words(body, en.json())


def test_a_validators_own_message_stays_inside_the_chinese_sentence(anon_client, keys: Keys) -> None:
    answer = anon_client.post(
        "/api/v1/tags", json={"category": "product", "name_zh": "洗衣液\x00"}, headers={**Keys.auth(keys.editor), **ZH}
    )
    assert answer.status_code == 422
    assert "取值无效" in answer.json()["detail"] and "U+0000" in answer.json()["detail"]


def test_refusals_before_the_handler_speak_the_callers_language(anon_client, keys: Keys) -> None:
    no_key = anon_client.get("/api/v1/materials", headers=ZH)
    assert no_key.status_code == 401 and no_key.headers["www-authenticate"] == "Bearer"
    assert no_key.json()["title"] == "请先登录" and "API 密钥" in no_key.json()["detail"]
    viewer = anon_client.post("/api/v1/tags", json={"category": "product", "name_zh": "新品"}, headers={**Keys.auth(keys.viewer), **ZH})
    assert viewer.status_code == 403 and viewer.json()["detail"] == "这个操作需要 editor 角色，当前调用方是 viewer"
    wrong = anon_client.delete("/problems", headers=ZH)
    assert wrong.status_code == 405 and wrong.headers["allow"] == "GET"
    assert wrong.json()["detail"] == "/problems 不支持 DELETE，只支持 GET"
    big = anon_client.post(
        "/api/v1/tags", content=b"{" + b" " * (2 * 1024 * 1024) + b"}",
        headers={**Keys.auth(keys.editor), **ZH, "Content-Type": "application/json"},
    )
    assert big.status_code == 413 and big.json()["type"] == "/problems/body-too-large"
    assert big.json()["detail"].startswith("这个接口最多接受 1 MB")


def test_an_english_only_detail_keeps_its_words_under_a_chinese_title(anon_client, keys: Keys) -> None:
    problem = errors.ReportPeriodInvalid("the month 2099-01 has not started")
    assert problem.to_problem(language="zh-CN")["title"] == "报表月份不正确或还没开始"
    assert problem.to_problem(language="zh-CN")["detail"] == "the month 2099-01 has not started"
    assert errors.DatabaseUnavailable().to_problem(language="zh-CN")["detail"] == "数据库暂时不可用，请稍后再试"


def test_a_signed_in_persons_language_setting_wins(anon_client) -> None:
    from backend.auth.models import Language
    from tests.auth.test_sessions import make_user, sign_in

    make_user("english_speaker", language=Language.en)
    assert sign_in(anon_client, "english_speaker").status_code == 200
    missing = uuid.uuid4()
    answer = anon_client.get(f"/api/v1/materials/{missing}", headers=ZH)  # the browser's header says Chinese
    assert answer.status_code == 404 and answer.headers["content-language"] == "en"
    assert answer.json()["detail"] == f"material {missing} not found"
    make_user("zhongwen")
    assert sign_in(anon_client, "zhongwen").status_code == 200
    answer = anon_client.get(f"/api/v1/materials/{missing}")  # the fixture asks for English
    assert answer.headers["content-language"] == "zh-CN" and answer.json()["detail"] == f"找不到素材 {missing}"


def test_the_problem_list_and_pages_speak_the_callers_language(anon_client) -> None:
    listed = {p["type"]: p for p in anon_client.get("/problems", headers=ZH).json()}
    assert listed["/problems/media-truncated"]["title"].startswith("文件不完整或已损坏")
    english = anon_client.get("/problems").json()
    assert {p["type"] for p in english} == set(listed) and all(not CJK.search(p["title"]) for p in english)
    page = anon_client.get("/problems/media-empty", headers=ZH)
    assert page.headers["content-language"] == "zh-CN" and "文件是空的" in page.text and 'lang="zh-CN"' in page.text
    gone = anon_client.get("/problems/nothing-like-this", headers=ZH)
    assert gone.status_code == 404 and gone.json()["detail"] == "没有“nothing-like-this”这个问题类型"


def test_web_catalogues_are_the_source_of_the_titles() -> None:
    web = json.loads((ROOT / "backend/web/static/i18n/zh-CN.json").read_text(encoding="utf-8"))
    assert errors.Unauthorized.title_in("zh-CN") == web["problem.unauthorized"].removesuffix("。")


def test_media_refusals_in_chinese(anon_client, keys: Keys) -> None:
    headers = {**Keys.auth(keys.editor), "Content-Type": "application/octet-stream"}
    text = b"this is a spreadsheet, not a video\n" * 100
    zh = anon_client.post("/api/v1/materials", content=text, params={"filename": "a.mp4"}, headers={**headers, **ZH})
    en = anon_client.post("/api/v1/materials", content=text, params={"filename": "a.mp4"}, headers=headers)
    assert zh.status_code == en.status_code == 422 and zh.json()["type"] == en.json()["type"] == "/problems/media-unrecognised"
    assert zh.json()["title"] == "这不是能识别的视频、音频或图片文件"
    assert zh.json()["detail"] == "这不是能识别的视频、音频或图片文件" and CJK.search(zh.json()["detail"])
    assert en.json()["detail"] == "the file is not a recognised video, audio or image"  # the media library's words
    _same_apart_from_words(zh.json(), en.json())
    empty = anon_client.post("/api/v1/materials", content=b"", params={"filename": "a.mp4"}, headers={**headers, **ZH})
    assert empty.json()["type"] == "/problems/media-empty" and empty.json()["detail"] == "上传的文件是空的（0 字节）"


def test_every_media_refusal_the_library_names_is_worded_in_chinese() -> None:
    source = "\n".join(p.read_text(encoding="utf-8") for p in (ROOT / "workers" / "media").rglob("*.py"))
    named = set(re.findall(r"""\btext=["']([\w\-]+)["']""", source))
    assert len(named) >= 15
    assert sorted(f"media.{n}" for n in named if f"media.{n}" not in i18n.details_catalogue("zh-CN")) == []


# --- the less common refusals: renders, proxies, automatic re-edits, metrics imports, uploaded files ---------


@pytest.fixture
def bare(app_env, keys: Keys) -> Iterator[TestClient]:
    """An editor's client that sends no Accept-Language (the answers' default: Chinese)."""
    from backend.app import create_app

    with TestClient(create_app(), headers=Keys.auth(keys.editor)) as test_client:
        yield test_client


def _both(bare: TestClient, method: str, url: str, status: int, **kwargs) -> tuple[dict, dict]:
    """The same request's answer without Accept-Language and in English: only the words differ."""
    zh = bare.request(method, url, **kwargs)
    en = bare.request(method, url, **kwargs, headers=EN)
    assert zh.status_code == en.status_code == status, zh.text
    assert zh.headers["content-language"] == "zh-CN" and en.headers["content-language"] == "en"
    _same_apart_from_words(zh.json(), en.json())
    assert CJK.search(zh.json()["detail"]) and not CJK.search(en.json()["detail"])
    return zh.json(), en.json()


def test_render_refusals_in_chinese(bare: TestClient) -> None:
    from tests.renders.test_api import catalogue_row

    source = catalogue_row()
    url = f"/api/v1/materials/{source}/renders"
    zh, en = _both(bare, "POST", url, 422, json={"ranges": [{"start": 0, "end": 2}], "presets": ["tiktok.feed_9x16"]})
    assert zh["type"] == "/problems/render-too-short"
    assert zh["detail"].startswith("这段剪辑做不成任何所选规格：剪出的片段长 2.00 秒，tiktok.feed_9x16 至少要 3 秒（")
    assert en["detail"].startswith("no requested preset can be made from this cut: the cut is 2.00s but tiktok.feed_9x16 needs at least 3s")
    # The per-preset member is for programs: the same English words in both answers.
    assert zh["renditions"]["tiktok.feed_9x16"]["detail"].startswith("the cut is 2.00s")
    zh, en = _both(bare, "POST", url, 422, json={"ranges": [{"start": 5, "end": 6}], "presets": ["douyin.feed_9x16"]})
    assert zh["detail"] == "剪辑范围 5–6 秒超出了原片时长（4.000 秒）" and zh["duration_s"] == 4.0
    assert en["detail"] == "range 5..6s is outside the source's 4.000s"
    zh, en = _both(bare, "POST", url, 422, json={"ranges": [{"start": 0, "end": 4}], "presets": ["douyin.feed_9x16"],
                                                  "subtitles": {"srt": "no cues here"}})
    assert zh["detail"].startswith("字幕里没有一条 SRT 字幕") and en["detail"].startswith("the subtitles have no SRT cue")


def test_proxy_refusals_in_chinese(bare: TestClient) -> None:
    from tests.renders.test_api import catalogue_row

    video, image = catalogue_row(), catalogue_row("image", None, "品牌 logo")
    zh, en = _both(bare, "GET", f"/api/v1/materials/{video}/proxy", 404)
    assert zh["detail"] == "这条素材还没有预览版（图片没有预览版；可以用 POST 请求生成）"
    assert en["detail"] == "the material has no proxy (images have none; ask for one with POST)"
    zh, en = _both(bare, "POST", f"/api/v1/materials/{image}/proxy", 422)
    assert zh["type"] == "/problems/proxy-not-possible" and zh["detail"] == "图片素材没有预览版"
    assert en["detail"] == "a image material has no proxy"


def test_autoclip_refusals_in_chinese(bare: TestClient) -> None:
    rule = {"name": "直播切片", "match": {"tags": ["content_type:直播"]}, "count": 8, "min_s": 90, "max_s": 60,
            "preset_ids": ["douyin.feed_9x16"]}
    zh, en = _both(bare, "POST", "/api/v1/autoclip/rules", 422, json=rule)
    assert zh["detail"] == "最短 90 秒比最长 60 秒还长" and en["detail"] == "min_s 90 is above max_s 60"
    assert zh["field"] == "min_s"
    zh, en = _both(bare, "POST", "/api/v1/autoclip/rules", 422, json={**rule, "min_s": 15, "preset_ids": ["nowhere.reel"]})
    assert zh["detail"] == "没有“nowhere.reel”这个规格" and en["detail"] == "no preset 'nowhere.reel'"
    missing = uuid.uuid4()
    zh, en = _both(bare, "GET", f"/api/v1/autoclip/rules/{missing}", 404)
    assert zh["detail"] == f"找不到自动剪辑规则 {missing}" and en["detail"] == f"no automatic re-edit rule {missing}"


def test_uploaded_file_refusals_in_chinese(bare: TestClient) -> None:
    from tests.renders.test_api import catalogue_row

    source = catalogue_row()
    zh, en = _both(bare, "POST", f"/api/v1/materials/{source}/transcript", 400, params={"filename": "a.srt"}, content=b"")
    assert zh["detail"] == "字幕文件是空的（0 字节）" and en["detail"] == "a transcript is empty"
    # Refused inside the capped parsing child: the words travel back with the refusal.
    xls = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(504)
    zh, en = _both(bare, "POST", "/api/v1/metrics/imports", 422, params={"platform": "douyin", "filename": "export.xls"},
                   content=xls)
    assert zh["type"] == "/problems/metrics-file-unreadable"
    assert zh["detail"] == "不支持旧版 .xls 文件，请另存为 .xlsx 或 CSV 再导入"
    assert en["detail"] == "old .xls workbooks are not read; save the export as .xlsx or CSV"
    missing = uuid.uuid4()
    zh, en = _both(bare, "GET", f"/api/v1/metrics/imports/{missing}", 404)
    assert zh["detail"] == f"找不到数据导入记录 {missing}" and en["detail"] == f"no metrics import {missing}"


def test_parser_refusals_carry_their_words() -> None:
    from backend.autoclip.session_data import SessionDataError, parse_session_data
    from backend.autoclip.transcripts import SubtitleTranscript, TranscriptError
    from backend.metrics.parsing import decode_csv_bytes

    with pytest.raises(TranscriptError) as transcript:
        SubtitleTranscript(b"1\n00:00:02,000 --> 00:00:01,000\n\xe4\xbb\x8a\xe5\xa4\xa9\n").segments()
    problem = errors.TranscriptUnreadable(key=transcript.value.key, params=transcript.value.params)
    assert problem.detail == str(transcript.value) == "a subtitle ends before it starts (2.000 > 1.000): 今天"
    assert problem.detail_in("zh-CN") == "有一条字幕的结束时间早于开始时间（2.000 > 1.000）：今天"
    with pytest.raises(SessionDataError) as session_data:
        parse_session_data("时间,在线人数\n20:01,5\n".encode(), "live.csv")
    problem = errors.SessionDataUnreadable(str(session_data.value), key=session_data.value.key, params=session_data.value.params)
    assert problem.detail == "the session data needs at least two rows"
    assert problem.detail_in("zh-CN") == "直播场次数据至少要有两行"
    from backend.metrics.limits import ExportUnreadable

    with pytest.raises(ExportUnreadable) as encoding:
        decode_csv_bytes("标题,播放量\n".encode() + b"\xff\xfe\xfd" * 3 + "洁净家,12\n".encode() * 3)
    problem = errors.MetricsFileEncoding(str(encoding.value), key=encoding.value.key, params=encoding.value.params)
    assert problem.detail == "the CSV is not valid UTF-8 or GB18030 text: byte 17 (line 2) is 0xff; save it again as CSV (UTF-8)"
    assert problem.detail_in("zh-CN") == "CSV 不是有效的 UTF-8 或 GB18030 文本：第 2 行（第 17 字节）是 0xff；请重新另存为 CSV（UTF-8）"


def test_account_and_tag_refusals_in_chinese(bare: TestClient) -> None:
    zh, en = _both(bare, "POST", "/api/v1/accounts", 422, json={"platform_id": "myspace", "name": "旗舰店"})
    assert zh["type"] == "/problems/platform-unknown"
    assert zh["detail"].startswith("没有“myspace”这个平台，可选：") and en["detail"].startswith("no platform 'myspace'; known: ")
    zh, en = _both(bare, "POST", "/api/v1/tags", 400, json={"category": "product"})
    assert zh["detail"] == "标签需要中文名或英文名" and en["detail"] == "a tag needs an English or a Chinese name"


def test_the_rule_engines_refusals_keep_its_english_and_get_chinese() -> None:
    from backend.compliance import rules
    from backend.compliance.engine import rule_words

    with pytest.raises(ValueError) as cycle:
        rules.Account("store", (rules.ChannelRule("a", "甲", "A", requires=("b",)), rules.ChannelRule("b", "乙", "B", requires=("a",))))
    problem = errors.ChannelRulesInvalid(str(cycle.value), **rule_words(cycle.value))
    assert problem.detail == "channel prerequisites form a cycle: a -> b -> a"
    assert problem.detail_in("zh-CN") == "渠道的前置关系形成了循环：a -> b -> a"
    assert problem.detail_in("en") == problem.detail
