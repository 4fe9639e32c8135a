"""Health of the gateway process: liveness, readiness (broker and search engine answer), Prometheus metrics."""

from __future__ import annotations

from litestar import Request, Response, get
from litestar.plugins.prometheus import PrometheusConfig, PrometheusController


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


# request counts and latencies by route (grouped by path template), plus the shared pipeline
# metrics of libs/runtime/metrics.py, on GET /metrics
PROMETHEUS = PrometheusConfig(app_name="carrefour-gateway", prefix="carrefour_http", group_path=True,
                              exclude=["/metrics", "/static"], exclude_unhandled_paths=True)


class GatewayMetrics(PrometheusController):
    path = "/metrics"
    include_in_schema = False


routes = [health, ready, GatewayMetrics]
