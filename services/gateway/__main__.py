"""``python -m services.gateway``: uvicorn with ``gateway_workers`` processes, JSON logs and, with
several workers, Prometheus samples summed over them."""

import uvicorn

from libs.runtime.logs import configure_logging, logging_config
from libs.runtime.metrics import prepare_multiprocess
from services.gateway.settings import settings
from services.gateway.web.health import serve_metrics


def create_app():
    """The app, built in each worker; then the JSON logging again, since building a Litestar app
    with its default logging config replaces the root logger's handlers."""
    from services.gateway.app import create_app as build

    app = build()
    configure_logging("gateway", settings().log_level)
    return app


if __name__ == "__main__":
    cfg = settings()
    configure_logging("gateway", cfg.log_level)
    prepare_multiprocess(cfg.gateway_workers)  # several workers: /metrics sums every worker's samples
    serve_metrics(cfg.metrics_host, cfg.metrics_port)  # not on the public port: the Ingress never exposes it
    # proxy headers are resolved by web/client_address.py from FORWARDED_ALLOW_IPS only, never by uvicorn's defaults
    # uvicorn applies log_config in each worker process too: every line is JSON, uvicorn's included
    uvicorn.run("services.gateway.__main__:create_app", factory=True, host=cfg.gateway_host,
                port=cfg.gateway_port, log_config=logging_config("gateway", cfg.log_level), access_log=False,
                timeout_graceful_shutdown=10, workers=cfg.gateway_workers, proxy_headers=False)
