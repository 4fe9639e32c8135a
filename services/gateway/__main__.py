import uvicorn

from libs.runtime.logs import configure_logging
from services.gateway.settings import settings
from services.gateway.web.health import serve_metrics

cfg = settings()
configure_logging("gateway", cfg.log_level)
serve_metrics(cfg.metrics_host, cfg.metrics_port)  # not on the public port: the Ingress never exposes it
# proxy headers are resolved by web/client_address.py from FORWARDED_ALLOW_IPS only, never by uvicorn's defaults
uvicorn.run("services.gateway.app:create_app", factory=True, host=cfg.gateway_host, port=cfg.gateway_port,
            log_config=None, access_log=False, timeout_graceful_shutdown=10,
            workers=cfg.gateway_workers, proxy_headers=False)
