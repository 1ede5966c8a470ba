"""Request and response models of the performance API: imports, snapshots, identification."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, Strict

from backend.text import Moment, Number

# Bounds far above any real figure that keep sums over millions of snapshots inside a BIGINT
# (SQLite raises on integer overflow in SUM); money is stored as cents.
MAX_COUNT = 10**12
MAX_MONEY = 10**11
MetricCount = Annotated[int, Strict(), Field(ge=0, le=MAX_COUNT)]


ROW_PROBLEM_CODES = {
    "not-a-number": "a figure cell is not a number (params: field, header, value)",
    "negative": "a count, amount or duration is negative (params: field, header, value)",
    "not-a-rate": "a rate is not between 0 and 100% (params: field, header, value)",
    "not-a-date": "a date cell is not a date (params: field, header, value)",
    "post-id-rounded": "the spreadsheet turned the post id into a rounded number such as 7.38E+18 "
    "(params: field, header, value)",
    "cell-unreadable": "a cell cannot be read (params: field, header, value)",
    "no-identity": "no post id, link or title to find the post by",
    "title-without-date": "only a title: a publish time is needed too",
    "no-capture-date": "a per-day export row without its date",
    "no-as-of": "a totals export without a date column and no as_of",
    "mixed-currencies": "money columns in different currencies (params: currencies)",
    "conflicting-duplicate": "the same post and date as another line, with different figures (params: other_line)",
    "same-publication": "names the same publication and date as another line (params: other_line)",
    "unmatched": "no publication fits (see suggestions)",
    "ambiguous": "several publications fit (see suggestions)",
    "totals-row": "a totals row, skipped",
    "no-figures-yet": "every figure is missing (--, 暂无, empty): the platform has no data yet; skipped",
    "duplicate-row": "the same figures as another line; skipped (params: other_line)",
}


class RowProblem(BaseModel):
    code: str = Field(description="Stable: " + "; ".join(f"`{k}` {v}" for k, v in ROW_PROBLEM_CODES.items()))
    detail: str = Field(description="The problem in English words")
    params: dict[str, Any] = Field(default_factory=dict)


RowStatus = Literal["ready", "unmatched", "failed", "skipped"]


class ImportRowResult(BaseModel):
    """One line of the export in a dry run: what it names, the publication it matched, its figures, what
    the import would do with it, and its problems."""

    line: int = Field(description="Line (CSV) or row (XLSX) number in the file")
    status: RowStatus = Field(
        description="ready: would be imported; unmatched: no (single) publication fits; failed: unreadable "
        "(blocks the import unless allow_errors); skipped: totals, no figures yet or a repeat"
    )
    action: Literal["inserted", "updated", "unchanged"] | None = Field(
        default=None, description="For ready rows: what the import does to the publication's snapshot"
    )
    post_id: str | None = None
    url: str | None = None
    title: str | None = None
    published_at: datetime | None = None
    captured_at: datetime | None = None
    values: dict[str, int | float | None] | None = Field(default=None, description="Figures; gmv and ad_spend in cents")
    currency: str | None = None
    raw: dict[str, str] = Field(default_factory=dict, description="The cells as written, for rows that were not read")
    publication: dict[str, Any] | None = Field(default=None, description="The matched publication and `matched_by`")
    suggestions: list[dict[str, Any]] = Field(default_factory=list)
    problems: list[RowProblem] = Field(default_factory=list)


class ImportSummaryPublic(BaseModel):
    """Every row of the file counted, whatever page of rows the answer lists."""

    model_config = ConfigDict(from_attributes=True)

    total: int = Field(description="Lines read (the header not counted)")
    with_problems: int = Field(description="Rows with at least one problem")
    by_status: dict[str, int] = Field(description="Rows per status: ready, unmatched, failed, skipped")
    by_action: dict[str, int] = Field(description="Ready rows per action: inserted, updated, unchanged")
    by_code: dict[str, int] = Field(description="Rows per problem code (see RowProblem), most frequent first")


class RowsPagePublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    matched: int = Field(description="Rows the selection (rows, status, code, head) takes, before paging")
    offset: int
    limit: int
    next_offset: int | None = Field(description="rows_offset of the next page; null on the last page")


class ImportPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    platform: str
    file_name: str
    dry_run: bool
    is_cumulative: bool
    as_of: datetime | None
    rows_read: int
    rows_inserted: int
    rows_updated: int
    rows_unchanged: int
    rows_unmatched: int
    rows_failed: int
    rows_skipped: int
    errors: list[dict[str, Any]] = Field(description="Unreadable and skipped rows, the first 200 (rows_failed and "
                                          "rows_skipped count them all)")
    unmatched: list[dict[str, Any]] = Field(description="Unmatched rows, the first 200 (rows_unmatched counts them all)")
    planned: list[dict[str, Any]] | None = Field(default=None, description="Dry runs only: the first 200 matched rows")
    summary: ImportSummaryPublic | None = Field(
        default=None, description="Answers of POST only: every row counted by status, action and problem code")
    rows: list[ImportRowResult] | None = Field(
        default=None, description="Dry runs only: one page of the rows asked for (rows, status, code, head, "
                                  "rows_offset, rows_limit), in file order, with their results and problems")
    rows_page: RowsPagePublic | None = Field(default=None, description="Dry runs only: where `rows` sits among the "
                                                                       "rows asked for")
    created_at: datetime


class SnapshotIn(BaseModel):
    publication_id: uuid.UUID
    captured_at: Moment
    is_cumulative: bool = True
    views: MetricCount | None = None
    likes: MetricCount | None = None
    comments: MetricCount | None = None
    shares: MetricCount | None = None
    favourites: MetricCount | None = None
    followers_gained: int | None = Field(default=None, ge=-MAX_COUNT, le=MAX_COUNT, strict=True)
    avg_watch_seconds: Number | None = Field(default=None, ge=0)
    completion_rate: Number | None = Field(default=None, ge=0, le=1)
    clicks: MetricCount | None = None
    add_to_cart: MetricCount | None = None
    orders: MetricCount | None = None
    gmv: Number | None = Field(default=None, ge=0, le=MAX_MONEY, description="In `currency`, e.g. 1234.50")
    ad_spend: Number | None = Field(default=None, ge=0, le=MAX_MONEY)
    currency: str | None = Field(default=None, pattern=r"^[A-Z]{3}$")


class SnapshotBatch(BaseModel):
    snapshots: list[SnapshotIn] = Field(max_length=10_000)


class WriteCountsPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    inserted: int
    updated: int
    unchanged: int


class IdentifiedPublic(BaseModel):
    material_id: uuid.UUID
    title: str
    kind: str
    score: float = Field(description="1 = identical frames, 0 = unrelated")
    distance: float = Field(description="Mean Hamming distance of aligned frame hashes (0..64)")
    offset_seconds: float = Field(description="Where the copy starts within the material (negative: before)")
    overlap_seconds: float
