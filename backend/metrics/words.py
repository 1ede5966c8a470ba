"""A dry run's rows in words, Chinese (the team's language) or English, for the command line: the same
wording as the web app's catalogue (`perf.problem.*`, `perf.result.*`, `perf.matched_by.*`; a test keeps them equal)."""

from __future__ import annotations

from typing import Any, Literal

Lang = Literal["zh", "en"]

PROBLEMS: dict[str, dict[str, str]] = {
    "zh": {
        "not-a-number": "「{header}」一栏的「{value}」不是数字",
        "negative": "「{header}」一栏的「{value}」是负数，这一项不能为负",
        "not-a-rate": "「{header}」一栏的「{value}」不是 0–100% 之间的比例",
        "not-a-date": "「{header}」一栏的「{value}」不是日期",
        "post-id-rounded": "「{header}」一栏的作品 ID「{value}」被表格软件变成了约数，请把这一列设为文本后重新导出",
        "cell-unreadable": "「{header}」一栏的「{value}」读不出来",
        "no-identity": "这一行没有作品 ID、链接或标题，找不到对应的作品",
        "title-without-date": "只有标题、没有发布时间，无法区分同名的作品",
        "no-capture-date": "缺少日期：按天导出的数据每一行都要有日期",
        "no-as-of": "文件没有日期列，也没有指定数据日期",
        "mixed-currencies": "金额列的币种不一致（{currencies}）",
        "conflicting-duplicate": "和第 {other_line} 行是同一个作品、同一天，但数据不一样",
        "same-publication": "和第 {other_line} 行对应同一条发布、同一天",
        "unmatched": "找不到对应的发布记录：先记录这条发布（作品 ID 或链接），再导入一次",
        "ambiguous": "有几条发布都符合，无法确定是哪一条",
        "totals-row": "合计行，不是作品",
        "no-figures-yet": "平台还没有数据（都是 --、暂无或空白）",
        "duplicate-row": "和第 {other_line} 行完全相同",
    },
    "en": {
        "not-a-number": "The {header} cell “{value}” is not a number",
        "negative": "The {header} cell “{value}” is negative; it cannot be",
        "not-a-rate": "The {header} cell “{value}” is not a rate between 0 and 100%",
        "not-a-date": "The {header} cell “{value}” is not a date",
        "post-id-rounded": "The {header} cell “{value}” is a post ID the spreadsheet rounded into a number; export the ids as text",
        "cell-unreadable": "The {header} cell “{value}” cannot be read",
        "no-identity": "No post ID, link or title to find the post by",
        "title-without-date": "Only a title: a publish time is needed too to tell posts apart",
        "no-capture-date": "No date: a per-day export needs the date on every row",
        "no-as-of": "The file has no date column and no as-of date was given",
        "mixed-currencies": "Money columns in different currencies ({currencies})",
        "conflicting-duplicate": "The same post and date as line {other_line}, with different figures",
        "same-publication": "The same publication and date as line {other_line}",
        "unmatched": "No publication fits: record it (post ID or link) and import again",
        "ambiguous": "Several publications fit; it is not clear which one",
        "totals-row": "A totals row, not a post",
        "no-figures-yet": "No figures yet (all --, 暂无 or empty)",
        "duplicate-row": "The same figures as line {other_line}",
    },
}

RESULTS: dict[str, dict[str, str]] = {
    "zh": {
        "ready": "可导入",
        "inserted": "新增",
        "updated": "更新",
        "unchanged": "不变",
        "unmatched": "未匹配",
        "failed": "有问题",
        "skipped": "跳过",
    },
    "en": {
        "ready": "Ready",
        "inserted": "New",
        "updated": "Update",
        "unchanged": "Unchanged",
        "unmatched": "Unmatched",
        "failed": "Problem",
        "skipped": "Skipped",
    },
}

MATCHED_BY: dict[str, dict[str, str]] = {
    "zh": {
        "post_id": "作品 ID",
        "url": "链接",
        "url_post_id": "链接里的作品 ID",
        "title_date": "标题和发布时间",
    },
    "en": {
        "post_id": "post ID",
        "url": "link",
        "url_post_id": "the post ID in the link",
        "title_date": "title and publish time",
    },
}

# The command line's own sentences.
CLI: dict[str, dict[str, str]] = {
    "zh": {
        "dry_run": "预览（没有写入任何数据）",
        "done": "导入完成",
        "summary": "共 {total} 行：可导入 {ready} 行（新增 {inserted}、更新 {updated}、不变 {unchanged}），"
                   "未匹配 {unmatched} 行，有问题 {failed} 行，跳过 {skipped} 行。",
        "by_code": "问题分类（按行数）：",
        "code_count": "{count} 行",
        "example": "例：第 {line} 行",
        "first_rows": "前 {n} 个有问题的行：",
        "no_problems": "没有发现问题。",
        "more_rows": "还有 {n} 行有问题没有列出（--show 调整条数；网页「效果」里可以逐页查看）。",
        "row": "第 {line} 行 [{status}] {name}",
        "matched": "按{how}匹配：{title}（{account}）",
        "maybe": "可能是：{titles}",
        "no_name": "（空）",
        "sep": "、",
    },
    "en": {
        "dry_run": "Dry run (nothing written)",
        "done": "Imported",
        "summary": "{total} rows: {ready} ready to import ({inserted} new, {updated} updated, {unchanged} unchanged), "
                   "{unmatched} unmatched, {failed} with problems, {skipped} skipped.",
        "by_code": "Problems by code (rows):",
        "code_count": "{count} rows",
        "example": "e.g. line {line}",
        "first_rows": "The first {n} rows with problems:",
        "no_problems": "No problems found.",
        "more_rows": "{n} more rows with problems not listed (--show sets how many; the web app's Performance "
                     "screen pages through them).",
        "row": "Line {line} [{status}] {name}",
        "matched": "matched by {how}: {title} ({account})",
        "maybe": "maybe: {titles}",
        "no_name": "(empty)",
        "sep": ", ",
    },
}


class _Keep(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def words(table: dict[str, dict[str, str]], lang: Lang, key: str, **params: Any) -> str:
    """`key` of `table` in `lang` with its figures filled in (a figure the params lack stays as {name})."""
    template = table[lang].get(key)
    if template is None:
        return key
    return template.format_map(_Keep(params))


def problem_words(problem: dict[str, Any], lang: Lang) -> str:
    """A row problem in words from its stable code and params; the English detail for a code without words."""
    if problem["code"] not in PROBLEMS[lang]:
        return str(problem.get("detail") or problem["code"])
    sep = CLI[lang]["sep"]
    params = {k: sep.join(map(str, v)) if isinstance(v, list | tuple) else v for k, v in (problem.get("params") or {}).items()}
    return words(PROBLEMS, lang, problem["code"], **params)
