"""One log format and the gateway's multiprocess metrics, in a subprocess of their own (logging
and prometheus_client are configured per process)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import orjson

from tools.devstack import ROOT

SCRIPT = """
import logging, warnings
from libs.runtime.logs import configure_logging
log = configure_logging("svc", "INFO")
log.info("structlog line", n=1)
logging.getLogger("uvicorn.error").info("Started server process [%d]", 42)
logging.getLogger("uvicorn.access").info("GET / 200")  # off unless access_log=True
logging.getLogger("alembic.runtime.migration").info("chatter")  # quiet library: dropped
logging.getLogger("faststream").warning("kept: a warning")
warnings.warn("a deprecation")
try:
    1 / 0
except ZeroDivisionError:
    logging.getLogger("litestar").exception("crash")
"""


def test_every_line_is_json_with_the_same_keys():
    done = subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    records = [orjson.loads(line) for line in done.stdout.splitlines()]
    assert [r["event"] for r in records][:3] == ["structlog line", "Started server process [42]", "kept: a warning"]
    assert {r["logger"] for r in records} == {"svc", "uvicorn.error", "faststream", "py.warnings", "litestar"}
    for r in records:
        assert {"timestamp", "level", "event", "service", "logger"} <= set(r), r
        assert r["service"] == "svc"
    assert "ZeroDivisionError" in records[-1]["exception"]


def test_multiprocess_dir_is_prepared_only_for_several_workers(tmp_path):
    script = """
import os, sys
from libs.runtime.metrics import prepare_multiprocess
assert prepare_multiprocess(1) is None and "PROMETHEUS_MULTIPROC_DIR" not in os.environ
path = prepare_multiprocess(2)
print(path, os.environ["PROMETHEUS_MULTIPROC_DIR"])
"""
    env = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    path, env_path = done.stdout.split()
    assert path == env_path
    assert not Path(path).exists(), "the temporary directory is removed when the parent exits"
    # a configured directory is kept, emptied of a previous run's samples
    (tmp_path / "counter_1.db").write_bytes(b"old")
    (tmp_path / "keep.txt").write_text("not a sample")
    env["PROMETHEUS_MULTIPROC_DIR"] = str(tmp_path)
    done = subprocess.run([sys.executable, "-c", script.replace('assert prepare_multiprocess(1) is None and '
                                                                '"PROMETHEUS_MULTIPROC_DIR" not in os.environ', "")],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.txt"]
