"""A live session's export is read with limits of its own, far below a metrics export's: hostile
workbooks and CSVs are refused by the limit they break, before or while reading, never by memory."""

from __future__ import annotations

import resource

import pytest

from backend.autoclip.session_data import SESSION_LIMITS, parse_session_data
from backend.metrics.limits import ImportLimitExceeded
from tests.metrics import hostile

CASES = {
    "dimension bomb": (hostile.dimension_bomb, "session.xlsx", {"rows", "columns"}),
    "row past Excel's last": (hostile.row_past_excel, "session.xlsx", {"rows"}),
    "huge shared string": (lambda: hostile.huge_shared_string(64 * 1024 * 1024), "session.xlsx", {"shared-strings", "uncompressed"}),
    "zip bomb member": (lambda: hostile.zip_bomb_member(64 * 1024 * 1024), "session.xlsx", {"uncompressed"}),
    "many members": (hostile.many_members, "session.xlsx", {"zip-members"}),
    "huge CSV field": (lambda: hostile.csv_huge_field(2 * 1024 * 1024), "session.csv", {"cell"}),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_hostile_session_export_is_refused_by_the_limit_it_breaks(case: str) -> None:
    make, name, limits = CASES[case]
    data = make()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(ImportLimitExceeded) as refused:
        parse_session_data(data, name)
    assert refused.value.limit in limits, (case, refused.value.limit, str(refused.value))
    grown_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert grown_mib < 200, f"{case}: the test process's peak grew {grown_mib:.0f} MiB"


def test_session_limits_are_below_a_metrics_exports() -> None:
    from backend.metrics.limits import DEFAULT_LIMITS

    assert SESSION_LIMITS.rows < DEFAULT_LIMITS.rows and SESSION_LIMITS.columns < DEFAULT_LIMITS.columns
