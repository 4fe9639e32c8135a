import uvicorn

from libs.runtime.logs import configure_logging
from services.gateway.settings import settings

cfg = settings()
configure_logging("gateway", cfg.log_level)
uvicorn.run("services.gateway.app:create_app", factory=True, host=cfg.gateway_host, port=cfg.gateway_port,
            log_config=None, access_log=False, timeout_graceful_shutdown=10,
            workers=cfg.gateway_workers)
