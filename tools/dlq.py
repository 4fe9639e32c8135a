"""Dead-letter inspection and replay (``make dlq``).

    python -m tools.dlq list [--service S] [--origin TOPIC] [--contains TEXT] [--limit N]
    python -m tools.dlq replay (--id DEADLETTER_EVENT_ID ... | --origin TOPIC [--contains TEXT]) [--yes]

``list`` reads deadletter.v1 from the beginning without committing anything. ``replay`` publishes
the original payloads back onto their origin topic (after a fix), keyed as they were; the
handlers are idempotent, so replaying a letter twice does no harm. Letters from the crawler
(origin ``crawl:<partner>``) are not replayable: recrawl the partner instead.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import uuid
from dataclasses import dataclass

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from libs.contracts.events import DeadLetter
from libs.contracts.topics import ALL_TOPICS, DEADLETTER
from libs.runtime.console import progress_bar
from libs.runtime.kafka import client_options
from libs.runtime.settings import settings


@dataclass
class Filter:
    service: str | None = None
    origin: str | None = None
    contains: str | None = None
    ids: tuple[str, ...] = ()

    def match(self, letter: DeadLetter) -> bool:
        return (
            (not self.service or letter.service == self.service)
            and (not self.origin or letter.origin_topic == self.origin)
            and (not self.contains or self.contains in letter.reason or self.contains in letter.payload)
            and (not self.ids or str(letter.event_id) in self.ids)
        )


async def read_letters(bootstrap: str, flt: Filter, idle_ms: int = 1500) -> list[DeadLetter]:
    """Every dead letter matching ``flt``, oldest first (stops after ``idle_ms`` without news)."""
    consumer = AIOKafkaConsumer(DEADLETTER, bootstrap_servers=bootstrap, group_id=f"dlq-cli-{uuid.uuid4().hex}",
                                auto_offset_reset="earliest", enable_auto_commit=False, **client_options())
    await consumer.start()
    out: dict[str, DeadLetter] = {}  # a redelivered message makes the same letter id: one each
    try:
        while True:
            batch = await consumer.getmany(timeout_ms=idle_ms)
            if not batch:
                break
            for records in batch.values():
                for rec in records:
                    try:
                        letter = DeadLetter.model_validate(orjson.loads(rec.value))
                    except ValueError:
                        continue
                    if flt.match(letter):
                        out[str(letter.event_id)] = letter
    finally:
        await consumer.stop()
    return sorted(out.values(), key=lambda d: d.occurred_at)


async def replay(bootstrap: str, letters: list[DeadLetter], advance=lambda: None) -> tuple[int, list[str]]:
    """Publish each letter's payload back onto its origin topic; ``advance()`` after each letter."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", **client_options())
    await producer.start()
    done, skipped = 0, []
    try:
        for letter in letters:
            advance()
            if letter.origin_topic not in ALL_TOPICS or letter.payload_truncated:
                skipped.append(f"{letter.event_id}: origin {letter.origin_topic!r}"
                               + (" (payload truncated)" if letter.payload_truncated else " is not a topic"))
                continue
            key = letter.origin_key.encode() if letter.origin_key else None
            await producer.send_and_wait(letter.origin_topic, letter.payload.encode(), key=key)
            done += 1
    finally:
        await producer.stop()
    return done, skipped


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="dlq", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="cmd", required=True)
    for name in ("list", "replay"):
        p = sub.add_parser(name)
        p.add_argument("--service")
        p.add_argument("--origin")
        p.add_argument("--contains")
        p.add_argument("--id", action="append", default=[])
        p.add_argument("--bootstrap", default=None)
        if name == "list":
            p.add_argument("--limit", type=int, default=50)
        else:
            p.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    args = parser.parse_args(argv)
    bootstrap = args.bootstrap or settings().kafka_bootstrap
    flt = Filter(args.service, args.origin, args.contains, tuple(args.id))
    letters = asyncio.run(read_letters(bootstrap, flt))
    if args.cmd == "list":
        print(f"{len(letters)} dead letter(s)" + (f", showing the last {args.limit}" if len(letters) > args.limit else ""))
        for d in letters[-args.limit:]:
            print(f"{d.occurred_at:%Y-%m-%d %H:%M:%S}  {d.event_id}  {d.service:<10} {d.origin_topic:<24} {d.reason[:110]}")
        return 0
    if not (args.id or args.origin):
        print("replay needs --id or --origin (replaying everything blindly is not offered)", file=sys.stderr)
        return 2
    if not letters:
        print("nothing to replay")
        return 0
    if not args.yes:
        answer = input(f"replay {len(letters)} letter(s) onto their origin topics? [y/N] ")
        if answer.strip().lower() != "y":
            return 1
    with progress_bar() as bar:
        task = bar.add_task("replay", total=len(letters), detail="")
        done, skipped = asyncio.run(replay(bootstrap, letters, lambda: bar.advance(task)))
    print(f"replayed {done}; skipped {len(skipped)}")
    for s in skipped:
        print(f"  skipped {s}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
