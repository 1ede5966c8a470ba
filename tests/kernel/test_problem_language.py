"""Problem answers speak Simplified Chinese unless the caller asks for English (Accept-Language, or a
signed-in person's setting); `type`, `status` and extension members are the same in both languages, and
every problem type has a title in both."""

from __future__ import annotations

import json
import re
import uuid
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
    raised |= {f"content-type-tus-{what}" for what in ("creation", "patch")}  # built from the request kind
    assert len(raised) > 30  # the pattern still finds the call sites
    assert sorted(raised - set(en)) == []


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
