"""Run every benchmark one after another (never in parallel: they would measure each other).

Each script updates its own section of bench/RESULTS.md. Expect about an hour on 2 cores.

    .venv/bin/python bench/run_all.py [--only upload,search,tus,render,compliance,metrics]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent
SCRIPTS = {
    "upload": ["uploads.py"],
    "search": ["search_latency.py"],
    "tus": ["tus_upload.py"],
    "render": ["render/run_bench.py"],
    "compliance": ["compliance_report.py", "--write"],
    "metrics": ["metrics_rollups.py", "--append"],
}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--only", default=",".join(SCRIPTS), help="comma-separated: " + ", ".join(SCRIPTS))
    args = parser.parse_args()
    failed = []
    for name in args.only.split(","):
        script, *extra = SCRIPTS[name.strip()]
        print(f"== {name}", flush=True)
        if subprocess.run([sys.executable, str(BENCH / script), *extra], cwd=BENCH.parent).returncode:
            failed.append(name)
    if failed:
        print("failed: " + ", ".join(failed))
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
