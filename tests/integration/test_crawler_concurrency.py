"""``crawl --all`` crawls several partners at once (the real CLI, broker and database), while each
host still gets one request at a time with the configured delay between two."""

from __future__ import annotations

import itertools
import subprocess
import sys

import yaml

from tests.conftest import fresh_database
from tests.fixtures.onboarding.grade import serve_split
from tools.devstack import ROOT

DELAY = 0.3


def test_crawl_all_runs_partners_concurrently_and_keeps_per_host_politeness(stack, tmp_path) -> None:
    dev, dev_file = serve_split("dev", tmp_path)
    test, test_file = serve_split("test", tmp_path)
    try:
        partners = []
        for path, slug in ((dev_file, "dv-site"), (test_file, "ts-reseau")):
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
            partners += [{**p, "delay_s": DELAY} for p in data["partners"] if p["slug"] == slug]
        both = tmp_path / "partners.yaml"
        both.write_text(yaml.safe_dump({"partners": partners}, allow_unicode=True), encoding="utf-8")
        env = stack.service_env(DATABASE_URL=fresh_database(stack, "cc"), CARREFOUR_PARTNERS_FILE=str(both))
        out = subprocess.run([sys.executable, "-m", "services.crawler.cli", "crawl", "--all"], env=env, cwd=ROOT,
                             capture_output=True, text=True, timeout=120, check=False)
        assert out.returncode == 0, out.stderr[-2000:]
        assert "dv-site: ok" in out.stdout and "ts-reseau: ok" in out.stdout, out.stdout
    finally:
        dev.close()
        test.close()
    a, b = [h.at for h in dev.log], [h.at for h in test.log]
    assert len(a) >= 5 and len(b) >= 5
    assert a[0] < b[-1] and b[0] < a[-1], "the two partners were crawled one after the other"
    for times in (a, b):  # one host: never two requests closer than the delay
        assert min(t2 - t1 for t1, t2 in itertools.pairwise(times)) >= DELAY * 0.9
