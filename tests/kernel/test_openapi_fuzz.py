"""The OpenAPI document is the truth: schemathesis fuzzes every operation of a real server (PostgreSQL,
the stricter database: NUL, integer ranges) with an admin key, schema-valid and schema-invalid data.

Every answer must be a non-5xx whose status, content type and JSON body the live OpenAPI declares,
and every request the schema calls invalid must be refused (negative data rejection).

Left out: the tus upload routes (/api/v1/uploads...). Their requests are protocol headers
(Tus-Resumable, Upload-Offset, Upload-Length) and byte streams that a schema-driven generator cannot
chain into a meaningful upload; tests/uploads/tus exercises them with real tus clients.

schemathesis runs through its command line with a JSON report: its pytest integration for schemas
loaded at test time (`schemathesis.pytest.from_fixture`) fails under pytest 9 (it writes
`Function._nodeid`), and the CLI is also what a contributor runs for the nightly-size run (README,
"Fuzzing the API"): REELHOUSE_FUZZ_EXAMPLES=200 REELHOUSE_FUZZ_SEED= (empty: a random seed).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import Keys

pytest.importorskip("schemathesis")

CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    "negative_data_rejection",
)
NOT_FUZZED = r"^/api/v1/uploads"
MAX_EXAMPLES = int(os.environ.get("REELHOUSE_FUZZ_EXAMPLES", "3"))
SEED = os.environ.get("REELHOUSE_FUZZ_SEED", "20261207")


def schemathesis_argv(url: str, token: str, report: Path, *, max_examples: int, seed: str) -> list[str]:
    argv = [
        sys.executable, "-m", "schemathesis.cli", "run", f"{url}/openapi.json",
        "--header", f"Authorization: Bearer {token}",
        "--checks", ",".join(CHECKS),
        "--phases", "examples,coverage,fuzzing",
        "--max-examples", str(max_examples),
        "--exclude-path-regex", NOT_FUZZED,
        # Two at once: with one, schemathesis and the server took turns on one core of two. The seed and the
        # checks are the same; the order in which operations interleave varies (6,042-6,044 cases, not 6,044).
        "--workers", "2",
        "--request-timeout", "60",
        "--report", "json", "--report-json-path", str(report),
    ]
    return argv + (["--seed", seed] if seed else [])


# Its own time limit: the subprocess bound below, not the suite-wide 300 s (the route count grows).
@pytest.mark.timeout(960)
@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_every_answer_is_declared_and_no_request_breaks_the_server(server, keys: Keys, tmp_path: Path) -> None:
    report = tmp_path / "schemathesis.json"
    argv = schemathesis_argv(server.url, keys.admin, report, max_examples=MAX_EXAMPLES, seed=SEED)
    # Run from the test's directory: no schemathesis.toml or .hypothesis/ from the clone is used or left.
    done = subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True, timeout=900)
    assert report.exists(), done.stdout[-3000:] + done.stderr[-3000:]
    result = json.loads(report.read_text())
    failures = result["failures"] + result["errors"]
    server_log = Path(server.log).read_text(errors="replace")[-4000:]
    assert failures == [] and done.returncode == 0, f"{done.stdout[-12000:]}\n--- server log ---\n{server_log}"
    assert result["complete"] and result["operations"]["errored"] == 0
    assert result["operations"]["tested"] >= 60, result["operations"]
    assert result["test_cases"]["with_failures"] == 0
    print(
        f"\nschemathesis {result['schemathesis_version']}: {result['operations']['tested']} operations, "
        f"{result['test_cases']['generated']} cases, {len(failures)} failures, seed {result['seed']}, "
        f"max_examples {MAX_EXAMPLES}, {result['running_time']:.0f} s"
    )
