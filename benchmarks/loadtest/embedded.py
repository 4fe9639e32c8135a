"""Run the load test against a throw-away embedded stack (broker, PostgreSQL, the pipeline services
and the gateway on free ports), to check the locustfile without Docker.

    .venv/bin/python -m benchmarks.loadtest.embedded [--seconds 30] [--users 6]

Prints locust's summary (requests, failures, p50/p99 per request and the pipeline's
push→searchable), then each group's lag once the push stops and the time to drain it.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tools.devstack import ROOT, Stack, free_port, start_service, stop_process, wait_for_port
from tools.lag import group_lag

LOCUSTFILE = Path(__file__).with_name("locustfile.py")
KEY = "loadtest-key-not-secret"


async def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=30)
    ap.add_argument("--users", type=int, default=6)
    args = ap.parse_args()
    run_dir = Path(tempfile.mkdtemp(prefix="loadtest-"))
    os.chmod(run_dir, 0o755)
    stack = Stack(run_dir=run_dir, kafka_port=free_port(), pg_port=free_port())
    gateway_port = free_port()
    await asyncio.to_thread(stack.start_infra)
    try:
        env = stack.service_env(LOG_LEVEL="WARNING", GATEWAY_PORT=str(gateway_port), PREVIEW_SUBSCRIBER="false")
        for name in ("normalizer", "geocoder", "indexer", "gateway"):
            stack.services[name] = start_service(name, env, run_dir / "logs")
        subprocess.run([sys.executable, "-m", "services.gateway.cli", "create-key", "--partner", "demo",
                        "--label", "load test", "--key", KEY], env=env, cwd=ROOT, check=True,
                       stdout=subprocess.DEVNULL)
        await asyncio.to_thread(wait_for_port, "127.0.0.1", gateway_port, 60, "gateway")
        locust = Path(sys.executable).with_name("locust")
        done = await asyncio.to_thread(subprocess.run, [
            str(locust), "-f", str(LOCUSTFILE), "--host", f"http://127.0.0.1:{gateway_port}", "--headless",
            "-u", str(args.users), "-r", str(args.users), "-t", f"{args.seconds}s", "--only-summary",
            "--stop-timeout", "10"], env={**os.environ, "LOAD_API_KEY": KEY, "LOAD_SOURCE": "demo"}, cwd=ROOT,
            capture_output=True, text=True)
        print(done.stderr[-6000:] if done.stderr else "", done.stdout[-4000:])
        t0 = time.time()
        lag = await group_lag(stack.bootstrap)
        print(f"lag when the push stopped: {lag}")
        while sum((await group_lag(stack.bootstrap)).values()) and time.time() - t0 < 900:
            await asyncio.sleep(1)
        print(f"drained {time.time() - t0:.0f}s after the push stopped")
        return done.returncode
    finally:
        for proc in stack.services.values():
            stop_process(proc)
        stack.services.clear()
        await asyncio.to_thread(stack.stop)


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
