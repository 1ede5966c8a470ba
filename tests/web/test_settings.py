"""The settings screen (#/settings) walked as an admin would: add a T-mall account and change one channel
rule for it (the platform's rule stays shown beside the change), create an automatic re-edit rule with tag
autocomplete, dry-run it, disable and delete it, read a preset's sources, add an editor, and issue an API
key whose secret is shown once and works against the API until it is revoked. Then the editor: the people
and keys pages are neither listed nor reachable; and a viewer reads the accounts and rules without controls."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import Keys, make_clip
from tests.web.browser import PASSWORD, Watcher, wait_until
from tests.web.conftest import sign_in
from tests.web.seed import add_person, off_the_page_loop

pytestmark = pytest.mark.timeout(240)


def add_recording(path: Path, title: str, tags: list[str]) -> str:
    """A ready source video carrying `tags`, ingested in the test process as an upload would be."""
    return off_the_page_loop(_ingest, path, title, tags)


def _ingest(path: Path, title: str, tags: list[str]) -> str:
    from backend.config import get_settings
    from backend.db import session_scope
    from backend.objectstore import get_storage
    from backend.uploads.service import IngestRequest, ingest_local_file

    with session_scope() as session:
        made = ingest_local_file(
            session, get_storage(), get_settings(), path, IngestRequest(title=title, tag_refs=tags)
        )
        return str(made.material.id)


def api(server: Any, token: str, path: str) -> httpx.Response:
    return httpx.get(f"{server.url}/api/v1{path}", headers=Keys.auth(token), timeout=30)


def open_tab(page: Any, section: str) -> None:
    page.click(f".tabs a[data-section='{section}']")
    page.wait_for_selector(f"#settings-{section}:not(:empty)")
    page.wait_for_selector("main:not([aria-busy])")


def test_admin_sets_up_accounts_rules_people_and_keys(server, keys, page, watcher: Watcher, tmp_path: Path) -> None:
    add_recording(make_clip(tmp_path / "直播回放.mp4", seconds=2), "双12 直播回放 保温杯", ["product:保温杯"])
    admin = add_person("zhangsan", "张三", "admin")
    sign_in(page, server, admin)
    page.click("nav a[href='#/settings']")
    page.wait_for_selector("#settings-accounts #accounts-empty")
    tabs = [a.get_attribute("data-section") for a in page.query_selector_all(".tabs a")]
    assert tabs == ["accounts", "rules", "presets", "users", "keys"]
    watcher.check_translated(page)

    # A T-mall store: its channels come from the platform's rules (实拍 每月 6 条, 开通需 5 条).
    page.select_option("#account-platform", "tmall")
    page.fill("#account-name", "洁净天猫旗舰店")
    page.click("#account-create button[type=submit]")
    page.wait_for_selector("#notice:has-text('已添加店铺账号「洁净天猫旗舰店」')")
    shipai = "section.account tr[data-channel='shipai']"
    page.wait_for_selector(shipai)
    facts = page.inner_text(f"{shipai} .rule-facts")
    assert "每月 6 条" in facts and "开通需 5 条" in facts and "比例 3:4" in facts and "至多 60 秒" in facts
    assert "需店铺申请开通" in page.inner_text("section.account tr[data-channel='video'] .rule-facts")
    assert page.query_selector(f"{shipai} .overridden") is None

    # This store must deliver 8 a month: changed for the account, the platform's 6 shown beside it.
    page.click(f"{shipai} .edit-channel")
    page.fill(".channel-form input[name=monthly_minimum]", "8")
    page.click(".channel-form .save-channel")
    page.wait_for_selector("#notice:has-text('渠道规则已保存')")
    changed = f"{shipai} .rule-fact.overridden[data-field=monthly_minimum]"
    page.wait_for_selector(changed)
    assert page.inner_text(changed).startswith("每月 8 条")
    assert page.inner_text(f"{changed} .rule-default") == "平台规则：每月 6 条"
    assert "已改" in page.inner_text(f"{shipai} th")
    account = api(server, keys.admin, "/accounts").json()[0]
    rule = next(c for c in account["channels"] if c["channel_id"] == "shipai")
    assert rule["monthly_minimum"] == 8 and rule["overridden"] == ["monthly_minimum"] and rule["opening_threshold"] == 5

    # Rename it and move its timezone.
    page.fill("section.account .account-name", "洁净天猫官方旗舰店")
    page.fill("section.account .account-timezone", "Asia/Hong_Kong")
    page.click("section.account .save-account")
    page.wait_for_selector("section.account h2:has-text('洁净天猫官方旗舰店')")
    read = api(server, keys.admin, f"/accounts/{account['id']}").json()
    assert (read["name"], read["timezone"]) == ("洁净天猫官方旗舰店", "Asia/Hong_Kong")

    # A second account, added by mistake, deleted after a second click (the first click only asks).
    page.select_option("#account-platform", "douyin")
    page.fill("#account-name", "测试号")
    page.click("#account-create button[type=submit]")
    extra = "section.account:has(h2:has-text('测试号'))"
    page.wait_for_selector(extra)
    page.click(f"{extra} .delete-account")
    assert len(api(server, keys.admin, "/accounts").json()) == 2
    page.click(f"{extra} .confirm-yes")
    page.wait_for_selector("#notice:has-text('已删除店铺账号「测试号」')")
    assert [a["name"] for a in api(server, keys.admin, "/accounts").json()] == ["洁净天猫官方旗舰店"]
    watcher.check_translated(page)

    # An automatic re-edit rule: tags autocompleted from the catalogue's, two presets, 10-30 s clips.
    open_tab(page, "rules")
    page.wait_for_selector("#rules-empty")
    page.click("#rule-new")
    page.wait_for_selector("#rule-create")
    assert page.query_selector("#rule-tags-list option[value='product:保温杯']") is not None
    page.fill("#rule-name", "保温杯直播切片")
    page.fill("#rule-tags", "product:保温杯")
    page.keyboard.press("Enter")
    page.fill("#rule-count", "2")
    page.fill("#rule-min", "10")
    page.fill("#rule-max", "30")
    page.check(".rule-presets input[value='douyin.feed_9x16']")
    page.check(".rule-presets input[value='tmall.shipai_3x4']")
    page.click("#rule-create .save-rule")
    page.wait_for_selector("#notice:has-text('已新建规则「保温杯直播切片」')")
    card = "article.rule[data-enabled='true']"
    page.wait_for_selector(card)
    assert page.inner_text(f"{card} .tag") == "产品:保温杯"  # the category in words, as the team types it
    assert page.inner_text(f"{card} .rule-clips") == "每条录像最多 2 条，每条 10–30 秒"
    rules = api(server, keys.admin, "/autoclip/rules").json()
    assert [
        (r["name"], r["match"]["tags"], r["count"], r["min_s"], r["max_s"], sorted(r["preset_ids"])) for r in rules
    ] == [("保温杯直播切片", ["product:保温杯"], 2, 10.0, 30.0, ["douyin.feed_9x16", "tmall.shipai_3x4"])]

    # Dry run: the recording it would take, and why, in the person's language (nothing is written).
    page.click(f"{card} .dry-run-rule")
    page.wait_for_selector(f"{card} .dry-run:not([hidden]) .dry-materials a")
    dry = page.inner_text(f"{card} .dry-run")
    assert "每条录像会生成 2 条，10–30 秒" in dry and "规则固定 2 条" in dry and "the rule's count" not in dry
    assert page.inner_text(f"{card} .dry-materials") == "双12 直播回放 保温杯"
    assert api(server, keys.admin, "/autoclip/runs").json() == []

    # Edit it (the tags come back as chips), then disable it.
    page.click(f"{card} .edit-rule")
    page.wait_for_selector("#rule-edit")
    assert page.inner_text("#rule-edit .chips").startswith("product:保温杯")
    page.fill("#rule-count", "3")
    page.click("#rule-edit .save-rule")
    page.wait_for_selector("#notice:has-text('规则「保温杯直播切片」已保存')")
    page.wait_for_selector(f"{card} .rule-clips:has-text('最多 3 条')")
    page.click(f"{card} .toggle-rule")
    page.wait_for_selector("article.rule[data-enabled='false'] .badge.off:has-text('已停用')")
    assert api(server, keys.admin, "/autoclip/rules").json()[0]["enabled"] is False
    watcher.check_translated(page)

    # Presets: read-only, each figure with its source and whether the platform documents it.
    open_tab(page, "presets")
    tiktok = "article.preset[data-preset='tiktok.feed_9x16']"
    page.wait_for_selector(tiktok)
    assert page.inner_text(f"{tiktok} .preset-size") == "1080×1920"
    assert page.inner_text(f"{tiktok} .preset-duration") == "3 秒–10 分钟"  # whole minutes as minutes
    assert page.inner_text(f"{tiktok} .preset-safe-zone") == "上 8% · 下 25% · 左 5% · 右 15%"
    assert not page.is_visible(f"{tiktok} tr[data-figure='fps_cap']")
    page.click(f"{tiktok} .preset-sources summary")
    fps = f"{tiktok} tr[data-figure='fps_cap']"
    page.wait_for_selector(fps)
    assert "官方文档" in page.inner_text(fps) and "developers.tiktok.com" in page.inner_text(fps)
    assert "常见说法" in page.inner_text(f"{tiktok} tr[data-figure='width']")
    # Pixels and hertz as a video team writes them, not as counts (1,080 / 4.8万).
    assert page.inner_text(f"{tiktok} tr[data-figure='width'] .figure-value") == "1080"
    assert page.inner_text(f"{tiktok} tr[data-figure='audio_sample_rate'] .figure-value") == "48000"
    # The team's platforms first: 天猫, 抖音, 小红书 before 哔哩哔哩.
    order = page.eval_on_selector_all("section.preset-platform", "s => s.map(x => x.dataset.platform)")
    assert order[:3] == ["tmall", "douyin", "xiaohongshu"]
    assert page.get_attribute(f"{tiktok} tr[data-figure='caption_safe_zone']", "data-status") == "commonly_cited"
    watcher.check_translated(page)

    # People: an editor, who signs in below.
    open_tab(page, "users")
    page.fill("#user-username", "xiaowang")
    page.fill("#user-display", "小王")
    page.fill("#user-password", PASSWORD)
    page.select_option("#user-role", "editor")
    page.click("#user-create button[type=submit]")
    page.wait_for_selector("tr[data-username='xiaowang']")
    assert page.eval_on_selector("tr[data-username='xiaowang'] .role-select", "s => s.value") == "editor"
    assert "这是你" in page.inner_text("tr[data-username='zhangsan']")

    # An API key: the secret once, a copy button, and the key works until it is revoked.
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=server.url)
    open_tab(page, "keys")
    page.fill("#key-name", "剪辑脚本")
    page.select_option("#key-role", "editor")
    page.click("#key-create button[type=submit]")
    page.wait_for_selector("#key-secret")
    token = page.inner_text("#key-secret").strip()
    assert token.startswith("rh_")
    page.click("#key-copy")
    page.wait_for_selector("#notice:has-text('已复制到剪贴板')")
    assert page.evaluate("navigator.clipboard.readText()") == token
    me = api(server, token, "/keys/me")
    assert me.status_code == 200 and me.json()["name"] == "剪辑脚本" and me.json()["role"] == "editor"
    key_id = me.json()["id"]
    page.wait_for_selector(f"tr[data-key='{key_id}'][data-revoked='false']")
    watcher.check_translated(page)
    page.reload()
    page.wait_for_selector(f"tr[data-key='{key_id}']")
    assert page.query_selector("#key-secret") is None and token not in page.inner_text("body")
    page.click(f"tr[data-key='{key_id}'] .revoke-key")
    page.click(f"tr[data-key='{key_id}'] .confirm-yes")
    page.wait_for_selector(f"tr[data-key='{key_id}'][data-revoked='true']")
    assert api(server, token, "/keys/me").status_code == 401

    # The same pages in English.
    page.select_option("#language", "en")
    page.wait_for_selector("h1:has-text('Settings')")
    page.wait_for_selector(f"tr[data-key='{key_id}']:has-text('revoked')")
    watcher.check_translated(page)
    open_tab(page, "accounts")
    assert page.inner_text(f"{changed} .rule-default") == "platform rule: 6 a month"
    page.click(f"{shipai} .reset-channel")  # back to the platform's rules
    page.wait_for_selector(f"{shipai} .rule-fact[data-field=monthly_minimum]:not(.overridden):has-text('6 a month')")
    assert api(server, keys.admin, f"/accounts/{account['id']}/channels").json()[1]["overridden"] == []
    open_tab(page, "rules")
    page.click("article.rule .delete-rule")
    page.click("article.rule .confirm-yes")
    page.wait_for_selector("#rules-empty")
    assert api(server, keys.admin, "/autoclip/rules").json() == []
    watcher.check_translated(page)
    watcher.assert_clean()

    # The editor made above: settings without people and keys, which are not reachable by address either.
    page.select_option("#language", "zh-CN")
    page.wait_for_selector("h1:has-text('设置')")
    page.wait_for_selector("#rules-empty:has-text('还没有自动剪辑规则')")  # its requests answered before signing out
    page.click("#sign-out")
    page.wait_for_selector("#username")
    sign_in(page, server, {"username": "xiaowang", "password": PASSWORD})
    page.click("nav a[href='#/settings']")
    page.wait_for_selector("section.account .edit-channel")
    assert [a.get_attribute("data-section") for a in page.query_selector_all(".tabs a")] == [
        "accounts",
        "rules",
        "presets",
    ]
    assert page.query_selector(".delete-account") is None  # deleting an account is an admin's
    for section in ("users", "keys"):
        page.goto(f"{server.url}/#/settings/{section}")
        wait_until(page, "location.hash === '#/library'")
        assert page.query_selector("#user-create, #key-create") is None
    assert api(server, keys.editor, "/users").status_code == 403
    # The library, which follows its filters in place, is drawn anew in the language chosen.
    page.wait_for_selector("h1:has-text('素材库')")
    page.select_option("#language", "en")
    page.wait_for_selector("h1:has-text('Library')")
    watcher.assert_clean()


def test_a_viewer_reads_accounts_and_rules_without_controls(server, keys, page, watcher: Watcher) -> None:
    admin = {"Authorization": f"Bearer {keys.admin}"}
    made = httpx.post(
        f"{server.url}/api/v1/accounts",
        headers=admin,
        timeout=30,
        json={"platform_id": "tmall", "name": "洁净天猫旗舰店"},
    ).json()
    httpx.patch(
        f"{server.url}/api/v1/accounts/{made['id']}/channels/shipai",
        headers=admin,
        timeout=30,
        json={"opening_threshold": 3},
    ).raise_for_status()
    httpx.post(
        f"{server.url}/api/v1/autoclip/rules",
        headers=admin,
        timeout=30,
        json={
            "name": "直播切片",
            "match": {"tags": ["product:保温杯"]},
            "count": 2,
            "min_s": 10,
            "max_s": 30,
            "preset_ids": ["douyin.feed_9x16"],
            "account_ids": [made["id"]],
        },
    ).raise_for_status()
    opened = date.today() - timedelta(days=5)
    httpx.post(
        f"{server.url}/api/v1/accounts/{made['id']}/channels/video/opening",
        headers=admin,
        timeout=30,
        json={"opened_on": opened.isoformat(), "note": "千牛后台通知：视频频道已开通"},
    ).raise_for_status()
    sign_in(page, server, add_person("laowang", "老王", "viewer"))
    page.click("nav a[href='#/settings']")
    page.wait_for_selector("section.account tr[data-channel='shipai']")
    opening = page.inner_text("tr[data-channel='video'] .manual-state")
    assert opening == f"已开通（{opened.year}年{opened.month}月{opened.day}日 起，手动记录）"
    threshold = "tr[data-channel='shipai'] .rule-fact.overridden[data-field=opening_threshold]"
    assert page.inner_text(threshold).startswith("开通需 3 条")
    assert page.inner_text(f"{threshold} .rule-default") == "平台规则：开通需 5 条"
    assert (
        page.query_selector_all("#account-create, .account-edit, .edit-channel, .reset-channel, .delete-account") == []
    )
    open_tab(page, "rules")
    page.wait_for_selector("article.rule")
    assert "洁净天猫旗舰店" in page.inner_text("article.rule")
    assert page.query_selector_all("#rule-new, .edit-rule, .toggle-rule, .delete-rule") == []
    page.click("article.rule .dry-run-rule")  # reading what a rule would do is open to everyone
    page.wait_for_selector("article.rule .dry-none")
    assert [a.get_attribute("data-section") for a in page.query_selector_all(".tabs a")] == [
        "accounts",
        "rules",
        "presets",
    ]
    watcher.check_translated(page)
    watcher.assert_clean()
