"""Prometheus metrics shared by every service (served on METRICS_PORT by the faststream services,
and on /metrics by the gateway)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

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
