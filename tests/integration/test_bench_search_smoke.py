"""The search benchmark still runs end to end (tiny sizes): it starts its own broker, database and
gateway, loads projects, and prints every figure line with no failed request."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_bench_search_runs_and_prints_its_figures():
    env = {**os.environ, "BENCH_PROJECTS": "400", "BENCH_SECONDS": "0.5", "BENCH_CONTEXT": "0",
           "BENCH_RATE": "40,80", "BENCH_DISTINCT": "300", "BENCH_WORKERS": "1"}
    run = subprocess.run([sys.executable, "-m", "benchmarks.bench_search"], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=300)
    out = run.stdout
    assert run.returncode == 0, run.stderr[-3000:]
    figures = re.findall(r"^ {4}(\S.*?) +p50 +[\d.]+ ms .*req/s +\((\d+) requests, (\d+) errors\)", out, re.M)
    names = [name.strip() for name, _, _ in figures]
    assert names.count("32 clients, closed loop") == 2 and names.count("1 client, closed loop") == 2
    assert sum(name.startswith("open loop") for name in names) == 3  # caches off: the first rate only
    assert all(int(n) > 0 and errors == "0" for _, n, errors in figures), out
    assert "answer cache hits" in out and "CPU per request" in out
    assert re.search(r"resident memory per worker after the runs: \d+ MB", out), out
