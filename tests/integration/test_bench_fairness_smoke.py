"""The fairness benchmark runs end to end at a small size, prints its table and passes its checks
(no source more than 10 points off its share on the first page of the 50 broad searches; the
first page changes with the day, relevance does not)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_bench_fairness_runs_and_passes():
    env = {**os.environ, "BENCH_PROJECTS": "1500"}
    run = subprocess.run([sys.executable, "-m", "benchmarks.bench_fairness"], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=600)
    out = run.stdout
    assert run.returncode == 0, out[-3000:] + run.stderr[-2000:]
    assert "(aucun mot)" in out and out.count("theme=") >= 10
    assert "first page changed from 2026-12-07 to 2026-12-08: 50/50" in out
    assert "fairness: OK" in out
