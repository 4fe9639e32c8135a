"""``carrefour``: one command for the operators' tools (installed by ``pip install .``; in a checkout,
``python -m tools.cli``). Each subcommand hands its arguments to an existing entry point, which
keeps working on its own (``python -m services.crawler.cli``, ``python -m tools.dlq`` …):

    carrefour crawl --partner avise | --all [--full]    harvest now (progress bars on a terminal)
    carrefour preview avise [--max-pages N]             what a crawl would emit; writes nothing
    carrefour partners list|check                       the partners file
    carrefour reindex [--clear]                         rebuild the search index, zero downtime
    carrefour dlq list|replay …                         dead letters
    carrefour lag                                       consumer-group lag of the pipeline
    carrefour migrate [REVISION]                        alembic upgrade (default: head)
    carrefour keys create-key|create-operator|revoke-key …   gateway API keys and operators
    carrefour asyncapi [--check] [--output FILE]        the AsyncAPI document (libs/contracts/asyncapi.json)
    carrefour bench [NAME …]                            the benchmarks (checkout only)
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

BENCHMARKS = ("run", "bench_normalize_geocode", "bench_crawl", "bench_dedup", "bench_search")


def _crawl(args: list[str]) -> int:
    from services.crawler.cli import main

    return main(["crawl", *args])


def _preview(args: list[str]) -> int:
    from services.crawler.cli import main

    return main(["preview", *args])


def _partners(args: list[str]) -> int:
    from services.crawler.cli import main

    return main(args or ["list"])


def _reindex(args: list[str]) -> int:
    from services.indexer.reindex import main

    return asyncio.run(main(args))


def _dlq(args: list[str]) -> int:
    from tools.dlq import main

    return main(args or ["list"])


def _lag(args: list[str]) -> int:
    from libs.runtime.settings import settings
    from tools.lag import group_lag

    parser = argparse.ArgumentParser(prog="carrefour lag", description="Messages each pipeline group has not committed")
    parser.add_argument("--bootstrap", default=None)
    opts = parser.parse_args(args)
    lags = asyncio.run(group_lag(opts.bootstrap or settings().kafka_bootstrap))
    for group, n in lags.items():
        print(f"{group:16} {n}")
    return 0


def _migrate(args: list[str]) -> int:
    from alembic.config import main

    parser = argparse.ArgumentParser(prog="carrefour migrate", description="Upgrade the database schema")
    parser.add_argument("revision", nargs="?", default="head")
    parser.add_argument("--config", default="alembic.ini", help="alembic.ini (default: the current directory's)")
    opts = parser.parse_args(args)
    if not Path(opts.config).exists():
        print(f"{opts.config} not found: run from the checkout or /app, or give --config", file=sys.stderr)
        return 2
    main(argv=["-c", opts.config, "upgrade", opts.revision], prog="carrefour migrate")
    return 0


def _keys(args: list[str]) -> int:
    from services.gateway.cli import main

    argv, sys.argv = sys.argv, ["carrefour keys", *args]  # the gateway's CLI reads sys.argv
    try:
        return main()
    finally:
        sys.argv = argv


def _asyncapi(args: list[str]) -> int:
    from tools.asyncapi import DOCUMENT, asyncapi_document, render

    parser = argparse.ArgumentParser(prog="carrefour asyncapi", description="Write the AsyncAPI document")
    parser.add_argument("--output", type=Path, default=DOCUMENT)
    parser.add_argument("--check", action="store_true", help="exit 1 when the file is not current; write nothing")
    opts = parser.parse_args(args)
    text = render(asyncapi_document())
    if opts.check:
        current = opts.output.exists() and opts.output.read_text() == text
        print(f"{opts.output}: {'current' if current else 'out of date (run: carrefour asyncapi)'}")
        return 0 if current else 1
    opts.output.write_text(text)
    print(f"wrote {opts.output}")
    return 0


def _bench(args: list[str]) -> int:
    """Each benchmark in a process of its own, as before (a benchmark starts its own stack)."""
    import importlib.util
    import os
    import subprocess

    names = args or list(BENCHMARKS)
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        print(f"unknown benchmark(s) {unknown}; known: {', '.join(BENCHMARKS)}", file=sys.stderr)
        return 2
    if importlib.util.find_spec("benchmarks") is None:
        print("the benchmarks run from a checkout, with the dev extra (make install)", file=sys.stderr)
        return 2
    env = {"BENCH_DEDUP_SIZES": "40000,1000000", **os.environ}
    for name in names:
        done = subprocess.run([sys.executable, "-m", f"benchmarks.{name}"], env=env)
        if done.returncode:
            return done.returncode
    return 0


COMMANDS = {
    "crawl": (_crawl, "harvest partners now: --partner SLUG (repeatable) or --all, [--full]"),
    "preview": (_preview, "what a crawl of a partner would emit, skip and reject; writes nothing"),
    "partners": (_partners, "the partners file: list | check"),
    "reindex": (_reindex, "rebuild the search index from the canonical projects ([--clear])"),
    "dlq": (_dlq, "dead letters: list | replay (--id ID … | --origin TOPIC) [--yes]"),
    "lag": (_lag, "consumer-group lag of the pipeline"),
    "migrate": (_migrate, "upgrade the database schema (alembic; default head)"),
    "keys": (_keys, "gateway API keys and operator accounts"),
    "asyncapi": (_asyncapi, "write libs/contracts/asyncapi.json ([--check])"),
    "bench": (_bench, f"benchmarks ({', '.join(BENCHMARKS)}; default all)"),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="carrefour", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (_, help_text) in COMMANDS.items():
        # the subcommand's own parser reads the rest, so `carrefour dlq replay --help` is the tool's help
        sub.add_parser(name, help=help_text, add_help=False)
    args, rest = parser.parse_known_args(argv)
    run, _ = COMMANDS[args.command]
    return run(rest) or 0


if __name__ == "__main__":
    sys.exit(main())
