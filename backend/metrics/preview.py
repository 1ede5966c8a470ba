"""What a dry run answers: a summary of every row (counts per status, action and problem code) and one
page of the rows a client asked for, so a 200,000-row export does not come back as 180 MB (pure)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

STATUSES = ("ready", "unmatched", "failed", "skipped")
ACTIONS = ("inserted", "updated", "unchanged")
RowsWanted = Literal["all", "problems", "none"]

DEFAULT_PAGE = 500  # ~0.5 MB of JSON: rows carry their cells, the match and suggestions
MAX_PAGE = 5_000
MAX_HEAD = 1_000
LIST_CAP = 200  # entries of `errors`, `unmatched` and `planned` in an answer; the rows_* counts say how many


@dataclass(frozen=True)
class RowSelection:
    """Which rows of a dry run to list. `rows`: every row, the rows with a problem, or none; `status` and
    `codes` narrow that further; `head` adds the file's first lines whatever they are (a sample of the rows
    that are fine); then `offset` and `limit` page through what is left, in file order."""

    rows: RowsWanted = "all"
    status: frozenset[str] = frozenset()
    codes: frozenset[str] = frozenset()
    head: int = 0
    offset: int = 0
    limit: int = DEFAULT_PAGE

    def wants(self, index: int, row: dict[str, Any]) -> bool:
        if index < self.head:
            return True
        if self.rows == "none":
            return False
        if self.rows == "problems" and not row["problems"]:
            return False
        if self.status and row["status"] not in self.status:
            return False
        return not self.codes or any(p["code"] in self.codes for p in row["problems"])


@dataclass
class RowsPage:
    rows: list[dict[str, Any]]
    matched: int  # rows the selection takes before paging
    offset: int
    limit: int
    next_offset: int | None  # where the next page starts; None when this is the last


@dataclass
class ImportSummary:
    total: int = 0
    with_problems: int = 0
    by_status: dict[str, int] = field(default_factory=lambda: dict.fromkeys(STATUSES, 0))
    by_action: dict[str, int] = field(default_factory=lambda: dict.fromkeys(ACTIONS, 0))
    by_code: dict[str, int] = field(default_factory=dict)  # rows per problem code, most frequent first


def summarise(rows: Iterable[dict[str, Any]]) -> ImportSummary:
    summary = ImportSummary()
    codes: Counter[str] = Counter()
    for row in rows:
        summary.total += 1
        summary.by_status[row["status"]] += 1
        if row["action"]:
            summary.by_action[row["action"]] += 1
        if row["problems"]:
            summary.with_problems += 1
            codes.update({p["code"] for p in row["problems"]})
    summary.by_code = dict(sorted(codes.items(), key=lambda kv: (-kv[1], kv[0])))
    return summary


def select_rows(rows: Sequence[dict[str, Any]], selection: RowSelection) -> RowsPage:
    """One page of the rows (in file order) the selection takes."""
    page: list[dict[str, Any]] = []
    matched = 0
    end = selection.offset + selection.limit
    for index, row in enumerate(rows):
        if not selection.wants(index, row):
            continue
        if selection.offset <= matched < end:
            page.append(row)
        matched += 1
    return RowsPage(rows=page, matched=matched, offset=selection.offset, limit=selection.limit,
                    next_offset=end if matched > end else None)
