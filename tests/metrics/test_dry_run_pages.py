"""A dry run's answer stays bounded whatever the file's size: every row is counted in `summary` (by
status, action and problem code) and the rows come a page at a time, filtered by what a person needs
to see (rows with problems, a status, a code, plus a sample of the file's first lines)."""

from __future__ import annotations

import time

import pytest
from fastapi.testclient import TestClient

from backend.metrics.preview import DEFAULT_PAGE, MAX_PAGE
from tests.metrics.test_metrics_api import HEADER, ROWS_1, _csv, _import, catalogue  # noqa: F401 (fixture)

AS_OF = "2026-11-10T00:00:00+08:00"
MIXED = ROWS_1 + [
    "7300000000000000009,,坏行,2026-11-06,12..5,1,1,1,1,1%,1,1",  # 7: not a number
    "7300000000000000010,,负数,2026-11-06,100,-5,1,1,1,1%,1,1",  # 8: negative
    "合计,,,,20000,100,10,10,10,,,",  # 9: totals row
    ROWS_1[0],  # 10: line 2 again
]


def test_the_summary_counts_every_row_and_rows_page_by_filter(client: TestClient, catalogue: dict) -> None:  # type: ignore[type-arg]  # noqa: F811
    body = _import(client, _csv(MIXED), dry_run="true", as_of=AS_OF).json()
    assert body["summary"] == {
        "total": 9, "with_problems": 5,
        "by_status": {"ready": 4, "unmatched": 1, "failed": 2, "skipped": 2},
        "by_action": {"inserted": 4, "updated": 0, "unchanged": 0},
        "by_code": {"duplicate-row": 1, "negative": 1, "not-a-number": 1, "totals-row": 1, "unmatched": 1},
    }
    # By default every row, in file order, in one page of DEFAULT_PAGE.
    assert [r["line"] for r in body["rows"]] == list(range(2, 11))
    assert body["rows_page"] == {"matched": 9, "offset": 0, "limit": DEFAULT_PAGE, "next_offset": None}

    def lines(**params: object) -> tuple[list[int], dict]:  # type: ignore[type-arg]
        got = _import(client, _csv(MIXED), dry_run="true", as_of=AS_OF, **params)
        assert got.status_code == 201, got.text
        return [r["line"] for r in got.json()["rows"]], got.json()["rows_page"]

    assert lines(rows="problems")[0] == [6, 7, 8, 9, 10]
    assert lines(rows="problems", head=2) == ([2, 3, 6, 7, 8, 9, 10], {"matched": 7, "offset": 0, "limit": DEFAULT_PAGE,
                                                                         "next_offset": None})
    assert lines(rows="problems", rows_limit=2) == ([6, 7], {"matched": 5, "offset": 0, "limit": 2, "next_offset": 2})
    assert lines(rows="problems", rows_limit=2, rows_offset=4)[0] == [10]
    assert lines(status=["failed", "unmatched"])[0] == [6, 7, 8]
    assert lines(code="negative")[0] == [8]
    assert lines(rows="none")[0] == [] and lines(rows="none", head=1)[0] == [2]
    assert lines(rows_limit=0) == ([], {"matched": 9, "offset": 0, "limit": 0, "next_offset": 0})

    # The summary does not depend on the page.
    paged = _import(client, _csv(MIXED), dry_run="true", as_of=AS_OF, rows="none").json()
    assert paged["summary"] == body["summary"] and paged["rows_failed"] == 2

    # Bad selections are problems.
    for params in ({"rows": "some"}, {"status": "fine"}, {"rows_limit": MAX_PAGE + 1}, {"rows_offset": -1}):
        bad = _import(client, _csv(MIXED), dry_run="true", as_of=AS_OF, **params)
        assert bad.status_code == 422 and bad.headers["content-type"].startswith("application/problem+json"), params
    unknown = _import(client, _csv(MIXED), dry_run="true", as_of=AS_OF, code="not-a-code")
    assert unknown.status_code == 400 and "not-a-number" in unknown.json()["codes"]

    # A real import answers the summary too, never rows.
    real = _import(client, _csv(MIXED), as_of=AS_OF, allow_errors="true").json()
    assert real["rows"] is None and real["rows_page"] is None and real["summary"]["by_code"]["negative"] == 1


def _big_export(n: int) -> bytes:
    """n rows after the header: the four posts the catalogue knows first, then unmatched posts, unreadable
    figures and posts with no figures yet in turn."""
    rows = ROWS_1[:4]
    for i in range(len(rows), n):
        kind = i % 3
        if kind == 0:
            rows.append(f"74{i:017d},,未登记的作品 {i},2026-11-06 20:00,{i},1,1,1,1,1%,1,1")
        elif kind == 1:
            rows.append(f"75{i:017d},,坏行 {i},2026-11-06 20:00,12..{i},1,1,1,1,1%,1,1")
        else:
            rows.append(f"76{i:017d},,还没有数据 {i},2026-11-06 20:00,--,--,--,--,--,--,--,--")
    return _csv(rows, "utf-8")


@pytest.mark.slow  # two dry runs of 200,000 and 12,000 rows: ~40 s on 2 cores
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # the answer's size is the database's business
def test_a_200000_row_dry_run_answers_a_bounded_page_and_exact_counts(client: TestClient, catalogue: dict) -> None:  # type: ignore[type-arg]  # noqa: F811
    n = 200_000
    data = _big_export(n)
    started = time.monotonic()
    got = _import(client, data, dry_run="true", as_of=AS_OF)
    took = time.monotonic() - started
    assert got.status_code == 201, got.text[:500]
    body = got.json()
    # Every row counted: 4 ready, then the 199,996 others in thirds.
    rest = range(4, n)
    unmatched = sum(1 for i in rest if i % 3 == 0)
    failed = sum(1 for i in rest if i % 3 == 1)
    skipped = sum(1 for i in rest if i % 3 == 2)
    assert body["summary"]["total"] == body["rows_read"] == n
    assert body["summary"]["by_status"] == {"ready": 4, "unmatched": unmatched, "failed": failed, "skipped": skipped}
    assert body["summary"]["by_code"] == {"not-a-number": failed, "unmatched": unmatched, "no-figures-yet": skipped}
    assert body["summary"]["with_problems"] == n - 4
    assert (body["rows_unmatched"], body["rows_failed"], body["rows_skipped"]) == (unmatched, failed, skipped)
    # The answer is one page (it was ~180 MB with every row) and its lists are cut.
    assert len(body["rows"]) == DEFAULT_PAGE and body["rows_page"]["next_offset"] == DEFAULT_PAGE
    assert len(got.content) < 1_500_000, len(got.content)
    assert len(body["errors"]) == 200 and len(body["unmatched"]) == 200
    # Listing imports reads the stored records back: their lists are bounded too.
    listed = client.get("/api/v1/metrics/imports", params={"limit": 5})
    assert len(listed.content) < 1_500_000

    # The largest page stays a few MB; the last page of problems ends the list.
    m = 12_000
    big = _import(client, _big_export(m), dry_run="true", as_of=AS_OF, rows="problems", head=4, rows_limit=MAX_PAGE,
                  rows_offset=m - MAX_PAGE // 2)
    page = big.json()
    assert len(big.content) < 8_000_000, len(big.content)
    assert page["rows_page"] == {"matched": m, "offset": m - MAX_PAGE // 2, "limit": MAX_PAGE, "next_offset": None}
    assert len(page["rows"]) == MAX_PAGE // 2 and page["rows"][-1]["line"] == m + 1
    print(f"\n200,000-row dry run: {took:.1f} s, answer {len(got.content) / 1e6:.2f} MB, "
          f"largest page {len(big.content) / 1e6:.2f} MB")
