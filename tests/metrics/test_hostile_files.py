"""Hostile metrics exports (issue 16): each is refused with a stable problem type naming the limit,
the parsing child and the API stay under stated memory caps, and nothing is left on disk or in
the database. Before the fix a 1.9 KB dimension bomb made openpyxl pad rows to 16,384 cells
(~24 GB), a 300 MB shared string was loaded whole and a 45 MB quoted CSV field was a 500."""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import psutil
import pytest

from backend.metrics.limits import ExportUnreadable, ImportLimitExceeded
from backend.metrics.mappings import shipped_mappings
from backend.metrics.parsing import ExportEncodingInvalid
from backend.metrics.sandbox import parse_export_sandboxed
from tests.conftest import Keys
from tests.live_server import REPO, Server, free_port
from tests.metrics import hostile

CHILD_RSS_CAP = 320 * 1024 * 1024  # the parsing child, peak (VmHWM); measured 32-212 MB
SERVER_RSS_CAP = 640 * 1024 * 1024  # the API process, peak over every hostile request

# name -> (file name, HTTP status, problem type, limit named in the body)
CASES = {
    "dimension-bomb": ("bomb.xlsx", 413, "metrics-import-too-large", "columns"),
    "row-past-excel": ("far.xlsx", 413, "metrics-import-too-large", "rows"),
    "huge-shared-string": ("strings.xlsx", 413, "metrics-import-too-large", "shared-strings"),
    "zip-bomb-member": ("zipbomb.xlsx", 413, "metrics-import-too-large", "uncompressed"),
    "many-members": ("members.xlsx", 413, "metrics-import-too-large", "zip-members"),
    "huge-csv-field": ("field.csv", 413, "metrics-import-too-large", "cell"),
    "invalid-utf8": ("broken.csv", 422, "metrics-file-encoding", None),
}


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("hostile")
    made = {
        "dimension-bomb": hostile.dimension_bomb, "row-past-excel": hostile.row_past_excel,
        "huge-shared-string": hostile.huge_shared_string,
        "zip-bomb-member": hostile.zip_bomb_member, "many-members": hostile.many_members,
        "huge-csv-field": hostile.csv_huge_field, "invalid-utf8": hostile.csv_invalid_utf8,
    }
    out = {}
    for name, build in made.items():
        out[name] = folder / CASES[name][0]
        out[name].write_bytes(build())
    return out


def test_the_dimension_bomb_is_small_and_claims_the_whole_sheet(files: dict[str, Path]) -> None:
    data = files["dimension-bomb"].read_bytes()
    assert len(data) < 2048 and b'ref="A1:XFD1048576"' in _sheet_xml(data)


def _sheet_xml(data: bytes) -> bytes:
    import io
    import zipfile

    with zipfile.ZipFile(io.BytesIO(data)) as z:
        return z.read("xl/worksheets/sheet1.xml")


@pytest.mark.parametrize("case", sorted(CASES))
def test_the_parsing_child_refuses_within_its_memory_cap(files: dict[str, Path], case: str) -> None:
    name, _, _, limit = CASES[case]
    with pytest.raises((ImportLimitExceeded, ExportUnreadable)) as caught:
        parse_export_sandboxed(files[case].read_bytes(), name, shipped_mappings()["douyin"])
    refusal = caught.value
    if limit is None:
        assert isinstance(refusal, ExportEncodingInvalid) and refusal.line == 2
    else:
        assert isinstance(refusal, ImportLimitExceeded) and refusal.limit == limit
    # None: refused from the zip directory in the caller, before any child started.
    assert refusal.peak_rss_bytes is None or refusal.peak_rss_bytes < CHILD_RSS_CAP, refusal.peak_rss_bytes


def test_a_child_that_runs_out_of_memory_is_a_refusal_naming_memory() -> None:
    from dataclasses import replace

    from backend.metrics.limits import DEFAULT_LIMITS

    rows = "\n".join(f"73000000{i:011d},标题{i},{i},{i}" for i in range(60_000))
    data = (hostile.HEADER + "\n" + rows + "\n").encode()
    tight = replace(DEFAULT_LIMITS, memory_bytes=96 * 1024 * 1024)  # below what 60,000 rows need
    with pytest.raises(ImportLimitExceeded) as caught:
        parse_export_sandboxed(data, "a.csv", shipped_mappings()["douyin"], limits=tight)
    assert caught.value.limit == "memory"


def test_a_child_past_its_time_is_killed_and_refused_naming_time() -> None:
    from dataclasses import replace

    from backend.metrics.limits import DEFAULT_LIMITS

    rows = "\n".join(f"73000000{i:011d},标题{i},{i},{i}" for i in range(20_000))
    data = (hostile.HEADER + "\n" + rows + "\n").encode()
    with pytest.raises(ImportLimitExceeded) as caught:  # no interpreter starts and parses this in 10 ms
        parse_export_sandboxed(data, "a.csv", shipped_mappings()["douyin"], limits=replace(DEFAULT_LIMITS, seconds=0.01))
    assert caught.value.limit == "time"


def _peak_rss(pid: int) -> int:
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM")


def test_the_api_refuses_every_hostile_file_and_keeps_nothing(
    app_env: dict[str, str], keys: Keys, tmp_path: Path, files: dict[str, Path]
) -> None:
    spool = tmp_path / "tmp"
    spool.mkdir()
    env = {**os.environ, **app_env, "PYTHONPATH": str(REPO), "TMPDIR": str(spool)}
    server = Server(env=env, port=free_port(), log=tmp_path / "server.log")
    server.start()
    try:
        assert server.proc is not None
        api = psutil.Process(server.proc.pid)
        auth = Keys.auth(keys.editor)
        with httpx.Client(base_url=server.url, headers=auth, timeout=120) as http:
            for case, (name, status, slug, limit) in CASES.items():
                data = files[case].read_bytes()
                raw = http.post("/api/v1/metrics/imports", params={"platform": "douyin", "filename": name},
                                content=data, headers={"Content-Type": "application/octet-stream"})
                form = http.post("/api/v1/metrics/imports", params={"platform": "douyin"},
                                 files={"file": (name, data)})
                for answer in (raw, form):
                    assert answer.status_code == status, (case, answer.text[:500])
                    problem = answer.json()
                    assert problem["type"] == f"/problems/{slug}", (case, problem)
                    assert problem.get("limit") == limit, (case, problem)
                    assert answer.headers["content-type"].startswith("application/problem+json")
                assert not [c for c in api.children(recursive=True) if "backend.metrics.sandbox" in " ".join(c.cmdline())]
            deep = http.post("/api/v1/metrics/snapshots", content=hostile.nested_json(),
                             headers={"Content-Type": "application/json"})
            assert deep.status_code == 400 and deep.json()["type"] == "/problems/json-too-deep"
            huge = http.post("/api/v1/metrics/snapshots", content=b" " * (17 * 1024 * 1024) + b"{}",
                             headers={"Content-Type": "application/json"})
            assert huge.status_code == 413 and huge.json()["type"] == "/problems/body-too-large"
            # Nothing was recorded and the API is still serving.
            assert http.get("/api/v1/metrics/imports").json() == []
            assert http.get("/api/v1/metrics/rollups", params={"by": "platform"}).json() == []
        peak = _peak_rss(api.pid)
        assert peak < SERVER_RSS_CAP, f"API peak RSS {peak / 2**20:.0f} MiB"
    finally:
        server.stop()
    assert list(spool.iterdir()) == []  # multipart parts spooled to disk were deleted
    assert not list((Path(app_env["REELHOUSE_DATA_DIR"]) / "spool").glob("*"))
