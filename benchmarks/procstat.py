"""CPU time and peak memory of processes, read from /proc (Linux), for the pipeline benchmark."""

from __future__ import annotations

import os
from pathlib import Path

TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of one process (its threads included), in seconds; 0 once gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICK  # utime, stime (fields 14 and 15 of stat)


def children(pid: int) -> list[int]:
    """Direct children of a process (PostgreSQL's backends under its postmaster)."""
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            if ppid == pid:
                out.append(int(entry.name))
    return out


def tree_cpu_seconds(pid: int) -> float:
    """CPU time of a process and of its live children (a PostgreSQL server: postmaster + backends)."""
    return cpu_seconds(pid) + sum(cpu_seconds(c) for c in children(pid))


def peak_rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def postmaster_pid(datadir: Path) -> int | None:
    try:
        return int((datadir / "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


class CpuMeter:
    """CPU seconds used by named processes between :meth:`start` and :meth:`stop`."""

    def __init__(self, pids: dict[str, tuple[int, bool]]):
        self.pids = pids  # name → (pid, with children)
        self.begin: dict[str, float] = {}
        self.used: dict[str, float] = {}

    def _read(self) -> dict[str, float]:
        return {name: (tree_cpu_seconds(pid) if tree else cpu_seconds(pid)) for name, (pid, tree) in self.pids.items()}

    def start(self) -> None:
        self.begin = self._read()

    def stop(self) -> dict[str, float]:
        end = self._read()
        self.used = {name: max(end[name] - self.begin.get(name, 0.0), 0.0) for name in end}
        return self.used
