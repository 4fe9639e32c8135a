"""Health of the gateway process: liveness, readiness (broker and search engine answer) on the app; Prometheus
metrics on a separate port (METRICS_PORT)."""

from __future__ import annotations

import structlog
from litestar import Request, Response, get
from litestar.plugins.prometheus import PrometheusConfig
from prometheus_client import start_http_server

from libs.runtime import metrics

log = structlog.get_logger()


@get("/health", include_in_schema=True, summary="Liveness: the process answers")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@get("/ready", summary="Readiness: broker and database answer")
async def ready(request: Request) -> Response:
    state = request.app.state
    checks: dict[str, str] = {}
    try:
        checks["broker"] = "ok" if await state.broker.ping(timeout=2.0) else "unreachable"
    except Exception as exc:  # noqa: BLE001 — readiness reports, never raises
        checks["broker"] = f"error: {type(exc).__name__}"
    try:
        await state.search.ping()
        checks["database"] = "ok"
    except Exception as exc:  # noqa: BLE001
        checks["database"] = f"error: {type(exc).__name__}"
    ok = all(v == "ok" for v in checks.values())
    return Response({"status": "ready" if ok else "not ready", "checks": checks}, status_code=200 if ok else 503)


# request counts and latencies by route (grouped by path template), plus the shared pipeline metrics of
# libs/runtime/metrics.py: recorded by this middleware, served by serve_metrics on METRICS_PORT — never
# on the public app, which the Ingress exposes
PROMETHEUS = PrometheusConfig(app_name="carrefour-gateway", prefix="carrefour_http", group_path=True,
                              exclude=["/static"], exclude_unhandled_paths=True)


def serve_metrics(host: str, port: int):
    """Prometheus ``/metrics`` on its own port (a daemon thread of the gateway's main process), for the
    scraper inside the cluster: the Service and Ingress expose only the app's port. Returns the server
    (``.shutdown()``); None when ``port`` is 0."""
    if not port:
        return None
    server, _thread = start_http_server(port, addr=host, registry=metrics.registry())
    log.info("metrics served", host=host, port=port)
    return server


routes = [health, ready]
