"""Prometheus metrics shared by every service (served on METRICS_PORT by the faststream services,
and on /metrics by the gateway, summed over its worker processes when it has several)."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram, multiprocess

EVENTS = Counter("carrefour_events_total", "Events handled, by outcome class",
                 ["service", "topic", "result"])
DEADLETTERS = Counter("carrefour_deadletters_total", "Messages sent to deadletter.v1", ["service", "topic"])
RETRIES = Counter("carrefour_retries_total", "Handler attempts retried", ["service", "kind"])
DURATION = Histogram("carrefour_event_duration_seconds", "Time to handle one event", ["service", "topic"],
                     buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
LAG = Gauge("carrefour_consumer_lag", "Messages behind the partition's high watermark",
            ["service", "topic", "partition"])
DEADLETTER_FAILURES = Counter("carrefour_deadletter_failures_total",
                              "Messages skipped because not even a bounded dead letter could be written",
                              ["service", "topic"])
GROUP_LAG = Gauge("carrefour_group_lag", "Messages past the group's committed offset (read from the broker)",
                  ["group", "topic", "partition"])
GROUP_STALLED = Gauge("carrefour_group_stalled",
                      "1 when the partition has lag and its committed offset has not moved for the stall delay",
                      ["group", "topic", "partition"])


# --------------------------------------------------------------------------- several processes
# A gateway with several uvicorn workers is several processes behind one port: each keeps its own
# counters, and a scrape reaches one of them. In prometheus_client's multiprocess mode every
# process writes its samples to files in PROMETHEUS_MULTIPROC_DIR and /metrics sums them
# (litestar's PrometheusController reads them with a MultiProcessCollector when the variable is set).

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def prepare_multiprocess(workers: int) -> str | None:
    """Before starting ``workers`` processes (in the parent, before any of them imports
    prometheus_client): with more than one, point PROMETHEUS_MULTIPROC_DIR at an empty directory
    (the configured one, emptied of a previous run's files, or a new temporary one removed at exit).
    Returns the directory, or None in single-process mode."""
    if workers <= 1:
        return None
    configured = os.environ.get(MULTIPROC_ENV)
    path = Path(configured or tempfile.mkdtemp(prefix="carrefour-metrics-"))
    path.mkdir(parents=True, exist_ok=True)
    for stale in path.glob("*.db"):  # a previous run's samples would be summed with this run's
        stale.unlink()
    if not configured:
        atexit.register(shutil.rmtree, path, ignore_errors=True)
    os.environ[MULTIPROC_ENV] = str(path)
    return str(path)


def registry() -> CollectorRegistry:
    """The registry a /metrics endpoint serves: every process's samples summed in multiprocess mode,
    this process's own otherwise."""
    if not os.environ.get(MULTIPROC_ENV):
        return REGISTRY
    collected = CollectorRegistry()
    multiprocess.MultiProcessCollector(collected)
    return collected


if os.environ.get(MULTIPROC_ENV):
    # a worker that stops drops its live gauges from the sums (its counters stay: they were counted)
    atexit.register(multiprocess.mark_process_dead, os.getpid())
