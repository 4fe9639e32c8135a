"""The dedup benchmark still runs end to end (a 2,000-project store instead of 40,000 and
1,000,000): it starts its own database, bulk-loads, runs one then two consumer processes, and
prints every figure."""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_bench_dedup_runs_and_prints_its_figures():
    env = {**os.environ, "BENCH_DEDUP_SIZES": "2000", "BENCH_DEDUP_N": "400", "BENCH_DEDUP_BATCH": "100"}
    run = subprocess.run([sys.executable, "-m", "benchmarks.bench_dedup"], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=240)
    assert run.returncode == 0, run.stderr[-3000:]
    result = ast.literal_eval(next(line for line in run.stdout.splitlines() if line.startswith("{")))
    assert result["store"] == 2000 and result["batch"] == 100
    assert result["one_consumer_records_per_s"] > 0 and result["two_consumers_records_per_s"] > 0
    assert 0 < result["consumer_peak_rss_mb"] < 1000
    assert result["canonical_changes"] >= 400  # every incoming record made or changed a project
    assert re.search(r"^dedup at 2000 stored projects: [\d.]+ records/s with one consumer, [\d.]+ with two "
                     r"\(x[\d.]+\), consumer peak RSS \d+ MB$", run.stdout, re.M), run.stdout
