"""Processes as deployed: the gateway with two uvicorn workers and a pipeline service, started as
real subprocesses on the embedded broker and database. Every line they write is one JSON object
with the same keys (uvicorn's and the libraries' lines included), and the gateway's /metrics (on its metrics port) sums
the counters of both workers."""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import orjson
import pytest
from prometheus_client.mmap_dict import MmapedDict, mmap_key
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import fresh_database, wait_ready
from tools.devstack import ROOT, free_port, stop_process

KEYS = {"timestamp", "level", "event", "service", "logger"}
REQUESTS = "carrefour_http_requests_total"


def _json_lines(text: str) -> list[dict]:
    lines = [line for line in text.splitlines() if line.strip()]
    assert lines, "the process wrote nothing"
    parsed = []
    for line in lines:
        try:
            parsed.append(orjson.loads(line))
        except orjson.JSONDecodeError:
            pytest.fail(f"not a JSON line: {line[:300]!r}")
    for record in parsed:
        assert set(record) >= KEYS, (KEYS - set(record), record)
    return parsed


def _health_requests_by_pid(multiproc_dir: Path) -> dict[int, float]:
    """The gateway's /health request count in each worker's own counter file."""
    counts: dict[int, float] = {}
    for path in multiproc_dir.glob("counter_*.db"):
        pid = int(path.stem.split("_")[1])
        for key, value, *_ in MmapedDict.read_all_values_from_file(str(path)):
            _, sample, labels, _ = orjson.loads(key)  # metric, sample (…_total), labels, help
            if sample == REQUESTS and labels.get("path") == "/health":
                counts[pid] = counts.get(pid, 0) + value
    return counts


def _served_health(base: str) -> float:
    text = httpx.get(f"{base}/metrics", timeout=5).text
    return sum(s.value for family in text_string_to_metric_families(text) for s in family.samples
               if s.name == REQUESTS and s.labels.get("path") == "/health")


def _run(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, *args], cwd=ROOT, env=env, stdout=log.open("wb"),
                            stderr=subprocess.STDOUT)


@pytest.mark.slow
def test_gateway_workers_log_json_and_metrics_sum_every_worker(stack):
    port, metrics_port = free_port(), free_port()
    base = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory(prefix="carrefour-gw-") as tmp:
        metrics_dir = Path(tmp) / "metrics"
        log = Path(tmp) / "gateway.log"
        env = stack.service_env(DATABASE_URL=fresh_database(stack, "gwproc"), GATEWAY_PORT=str(port),
                                GATEWAY_WORKERS="2", EVENT_SUBSCRIBERS="false", LOG_LEVEL="INFO",
                                METRICS_PORT=str(metrics_port),
                                PROMETHEUS_MULTIPROC_DIR=str(metrics_dir))
        metrics_dir.mkdir()
        stale = MmapedDict(str(metrics_dir / "counter_1.db"))  # a previous run's samples: must not count
        stale.write_value(mmap_key("carrefour_http_requests", REQUESTS, ["path"], ["/health"], ""), 1000.0, 0.0)
        stale.close()
        proc = _run(["-m", "services.gateway"], env, log)
        try:
            wait_ready(base, timeout=90)
            made = 0
            # new connections until both workers have answered some (the kernel picks the worker)
            while made < 400 and len([n for n in _health_requests_by_pid(metrics_dir).values() if n]) < 2:
                for _ in range(20):
                    assert httpx.get(f"{base}/health", timeout=5).status_code == 200
                    made += 1
            by_pid = _health_requests_by_pid(metrics_dir)
            assert len([n for n in by_pid.values() if n]) == 2, f"one worker answered every request: {by_pid}"
            assert sum(by_pid.values()) == made
            # the metrics port (the main process, never the public app) reports both workers' requests
            assert httpx.get(f"{base}/metrics", timeout=5).status_code == 404
            for _ in range(4):
                assert _served_health(f"http://127.0.0.1:{metrics_port}") == made
        finally:
            stop_process(proc)
            print(log.read_text(errors="replace")[-4000:])  # shown when the test fails
        records = _json_lines(log.read_text())
    loggers = {r["logger"] for r in records}
    assert "uvicorn.error" in loggers, loggers  # uvicorn's own lines ("Started server process" …)
    assert "uvicorn.access" not in loggers, "access lines are off (access_log=False)"
    assert {r["service"] for r in records} == {"gateway"}


@pytest.mark.slow
def test_pipeline_service_logs_only_json(stack):
    with tempfile.TemporaryDirectory(prefix="carrefour-svc-") as tmp:
        log = Path(tmp) / "normalizer.log"
        proc = _run(["-m", "services.normalizer"], stack.service_env(LOG_LEVEL="DEBUG", METRICS_PORT="0"), log)
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and b'"starting"' not in log.read_bytes():
                time.sleep(0.2)
            time.sleep(3)  # the consumers join their groups (aiokafka and faststream log meanwhile)
        finally:
            stop_process(proc)
        records = _json_lines(log.read_text())
    assert {r["service"] for r in records} == {"normalizer"}
    assert "starting" in {r["event"] for r in records}
