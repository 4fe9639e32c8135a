import sys

from services.crawler.config import ConfigError

try:
    from libs.runtime.service import run

    run("crawler", "services.crawler.app")
except ConfigError as exc:
    print(f"crawler: configuration error: {exc}", file=sys.stderr)
    sys.exit(2)
