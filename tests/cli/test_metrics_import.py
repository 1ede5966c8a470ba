"""`reelhouse metrics import --dry-run`: every row counted, the problems by code with an example of each,
then the first rows with a problem, in Chinese by default and in English with --lang en."""

from __future__ import annotations

import json
import re
from pathlib import Path

from typer.testing import CliRunner

from backend.cli import app
from backend.metrics.schemas import ROW_PROBLEM_CODES
from backend.metrics.words import CLI, MATCHED_BY, PROBLEMS, RESULTS, problem_words
from tests.metrics.test_metrics_api import ROWS_1, _csv, catalogue  # noqa: F401 (fixture)

runner = CliRunner()
WEB = Path(__file__).parents[2] / "backend" / "web" / "static" / "i18n"
ROWS = ROWS_1 + [
    "7300000000000000009,,坏行,2026-11-06,12..5,1,1,1,1,1%,1,1",  # 7: not a number
    "7300000000000000010,,负数,2026-11-06,100,-5,1,1,1,1%,1,1",  # 8: negative
    "合计,,,,20000,100,10,10,10,,,",  # 9: totals row
    "7300000000000000011,,坏行二,2026-11-06,abc,1,1,1,1,1%,1,1",  # 10: not a number again
]
AS_OF = "2026-11-10T00:00:00+08:00"


def _run(tmp_path: Path, *extra: str):  # type: ignore[no-untyped-def]
    export = tmp_path / "作品数据.csv"
    export.write_bytes(_csv(ROWS))
    return runner.invoke(app, ["metrics", "import", str(export), "--platform", "douyin", "--dry-run",
                               "--as-of", AS_OF, *extra])


def test_dry_run_prints_problems_by_code_and_the_first_rows_in_chinese(tmp_path: Path, catalogue: dict) -> None:  # type: ignore[type-arg]  # noqa: F811
    result = _run(tmp_path)
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert out.startswith("预览（没有写入任何数据）：作品数据.csv\n")
    assert "共 9 行：可导入 4 行（新增 4、更新 0、不变 0），未匹配 1 行，有问题 3 行，跳过 1 行。" in out
    codes = out.split("问题分类（按行数）：\n", 1)[1].split("前 ", 1)[0].splitlines()
    assert [line.split()[0] for line in codes] == ["not-a-number", "negative", "totals-row", "unmatched"]
    assert re.search(r"not-a-number\s+2 行\s+例：第 7 行：「播放量」一栏的「12\.\.5」不是数字", codes[0])
    assert "前 5 个有问题的行：" in out
    assert "  第 6 行 [未匹配] 洗衣液功能演示（二）\n    unmatched：找不到对应的发布记录" in out
    assert "    可能是：洗衣液功能演示" in out
    assert "  第 8 行 [有问题] 负数\n    negative：「点赞数」一栏的「-5」是负数，这一项不能为负" in out
    assert "第 10 行 [有问题] 坏行二" in out and "「播放量」一栏的「abc」不是数字" in out
    assert "第 2 行" not in out  # rows without a problem are counted, not listed
    assert "database: " in result.stderr  # the answer on stdout, where it goes on stderr

    # --show bounds the list and says how many are left; nothing was written either time.
    short = _run(tmp_path, "--show", "2").stdout
    assert "前 2 个有问题的行：" in short and "第 8 行 [" not in short
    assert "还有 3 行有问题没有列出" in short
    counted = _run(tmp_path, "--show", "0").stdout
    assert "not-a-number" in counted and "前 " not in counted and "还有 5 行有问题没有列出" in counted


def test_dry_run_in_english_and_the_refused_import_in_words(tmp_path: Path, catalogue: dict) -> None:  # type: ignore[type-arg]  # noqa: F811
    result = _run(tmp_path, "--lang", "en")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert out.startswith("Dry run (nothing written): 作品数据.csv\n")
    assert "9 rows: 4 ready to import (4 new, 0 updated, 0 unchanged), 1 unmatched, 3 with problems, 1 skipped." in out
    assert re.search(r"not-a-number\s+2 rows\s+e\.g\. line 7: The 播放量 cell “12\.\.5” is not a number", out)
    assert "  Line 9 [Skipped] 合计\n    totals-row: A totals row, not a post" in out
    assert "The first 5 rows with problems:" in out

    bad = _run(tmp_path, "--lang", "fr")
    assert bad.exit_code == 2 and "zh or en" in bad.output

    export = tmp_path / "作品数据.csv"
    refused = runner.invoke(app, ["metrics", "import", str(export), "--platform", "douyin", "--as-of", AS_OF])
    assert refused.exit_code == 1
    assert "第 7 行 [not-a-number] 「播放量」一栏的「12..5」不是数字" in refused.stderr

    done = runner.invoke(app, ["metrics", "import", str(export), "--platform", "douyin", "--as-of", AS_OF,
                               "--allow-errors"])
    assert done.exit_code == 0, done.output
    assert done.stdout.startswith("导入完成：作品数据.csv\n") and "新增 4" in done.stdout


def test_the_words_are_the_web_apps_words() -> None:
    """One wording for a problem whether the team reads it in the browser or in a terminal."""
    for lang, file in (("zh", "zh-CN.json"), ("en", "en.json")):
        web = json.loads((WEB / file).read_text(encoding="utf-8"))
        for table, prefix in ((PROBLEMS, "perf.problem."), (RESULTS, "perf.result."), (MATCHED_BY, "perf.matched_by.")):
            for key, text in table[lang].items():
                assert web[prefix + key] == text, (lang, key)
        assert set(PROBLEMS[lang]) == set(ROW_PROBLEM_CODES)
        assert set(CLI[lang]) == set(CLI["zh"])
        assert all(f"perf.code.{code}" in web for code in ROW_PROBLEM_CODES)
    assert problem_words({"code": "mixed-currencies", "params": {"currencies": ["CNY", "USD"]}}, "zh") == "金额列的币种不一致（CNY、USD）"
    assert problem_words({"code": "new-code", "detail": "in words"}, "zh") == "in words"
