"""A benchmark's working directory (its database, broker data and logs): removed when the
benchmark's process exits, so that runs do not fill the disk (a million-project run leaves about
6 GB); ``BENCH_KEEP=1`` keeps it for a look afterwards."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path


def run_directory(prefix: str) -> Path:
    path = Path(tempfile.mkdtemp(prefix=prefix))
    path.chmod(0o755)  # the embedded PostgreSQL runs as another user when started by root
    if os.environ.get("BENCH_KEEP") == "1":
        print(f"BENCH_KEEP=1: {path} is kept")
    else:
        atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path
