"""Integration: the real service processes refuse to start on unsafe configuration outside
development (the rules themselves: tests/unit/test_startup_safety.py)."""

from __future__ import annotations

import os
import subprocess
import sys

from services.crawler.config import DEFAULT_PARTNERS_FILE
from tools.devstack import ROOT


def _start(module: str, **env: str) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("CARREFOUR_", "SECRET_KEY", "KAFKA_"))}
    return subprocess.run([sys.executable, "-m", module], cwd=ROOT, env={**base, **env}, capture_output=True,
                          text=True, timeout=120)


def test_the_crawler_process_refuses_to_start_on_the_demo_partners_in_production() -> None:
    done = _start("services.crawler", CARREFOUR_ENV="production", KAFKA_BOOTSTRAP="127.0.0.1:1")
    assert done.returncode != 0
    assert "CARREFOUR_PARTNERS_FILE is not set" in done.stderr + done.stdout


def test_the_gateway_process_refuses_to_start_with_a_placeholder_secret_in_production() -> None:
    done = _start("services.gateway", CARREFOUR_ENV="production", SECRET_KEY="change-me-in-production-please",
                  KAFKA_BOOTSTRAP="127.0.0.1:1", GATEWAY_PORT="1")
    assert done.returncode != 0
    assert "SECRET_KEY is a placeholder" in done.stderr + done.stdout


def test_the_crawler_process_refuses_a_partners_file_allowing_private_addresses_in_production(tmp_path) -> None:
    copy = tmp_path / "partners.yaml"
    copy.write_text(DEFAULT_PARTNERS_FILE.read_text())
    done = _start("services.crawler", CARREFOUR_ENV="production", CARREFOUR_PARTNERS_FILE=str(copy),
                  KAFKA_BOOTSTRAP="127.0.0.1:1")
    assert done.returncode != 0
    assert "allow_private_addresses is only for development" in done.stderr + done.stdout


def test_a_pipeline_process_refuses_plaintext_kafka_in_production() -> None:
    done = _start("services.normalizer", CARREFOUR_ENV="production", KAFKA_BOOTSTRAP="127.0.0.1:1")
    assert done.returncode != 0
    assert "KAFKA_SECURITY_PROTOCOL is PLAINTEXT: only SASL_SSL" in done.stderr + done.stdout
