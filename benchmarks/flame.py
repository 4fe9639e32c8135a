"""Summarise py-spy's collapsed stacks (``py-spy record --format raw``, as ``BENCH_PROFILE`` writes).

    python -m benchmarks.flame <dir or file> [--top 20]

For each profile: the share of samples per function, inclusive (the function or anything it
called) and self (the function itself), the idle share (the event loop waiting) apart.
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from pathlib import Path

IDLE = re.compile(r"\b(select|epoll_wait|_run_once \(asyncio/base_events|poll \(selectors)")
_LINE = re.compile(r" \((.*?):\d+\)$")


def frame_name(frame: str) -> str:
    """``fn (path/to/module.py:12)`` → ``fn (module.py)``: one name per function, whatever the line."""
    m = _LINE.search(frame)
    if not m:
        return frame
    path = m.group(1)
    short = "/".join(path.split("/")[-2:]) if "site-packages" not in path else path.split("site-packages/")[-1]
    return f"{frame[:m.start()]} ({short})"


def summarise(path: Path, top: int) -> str:
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = idle = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        n = int(count)
        frames = [frame_name(f) for f in stack.split(";") if f and not f.startswith(("process ", "thread "))]
        total += n
        if not frames or IDLE.search(frames[-1]):
            idle += n
            continue
        own[frames[-1]] += n
        for f in set(frames):
            inclusive[f] += n
    busy = max(total - idle, 1)
    out = [f"== {path.stem}: {total} samples, {idle / max(total, 1):.0%} idle; shares of the busy samples"]
    out.append("  inclusive:")
    out += [f"    {c / busy:6.1%}  {f}" for f, c in inclusive.most_common(top)]
    out.append("  self:")
    out += [f"    {c / busy:6.1%}  {f}" for f, c in own.most_common(top)]
    return "\n".join(out)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("path", type=Path)
    ap.add_argument("--top", type=int, default=20)
    args = ap.parse_args()
    files = sorted(args.path.glob("*.txt")) if args.path.is_dir() else [args.path]
    for f in files:
        print(summarise(f, args.top))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
