"""CPU time and memory of the processes a benchmark run involves, read from /proc (Linux only).

A run's CPU split (web workers, PostgreSQL, load generator, the whole machine) says which side
was busy, and so whether the generator could have been the bottleneck. The web workers' peak RSS
is the largest VmRSS sampled during the run.
"""

import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

CLK_TCK = os.sysconf("SC_CLK_TCK")
PROC = Path("/proc")


def _read(pid: int, name: str) -> str | None:
    try:
        return (PROC / str(pid) / name).read_text(errors="replace")
    except OSError:
        return None


def _stat_fields(pid: int) -> list[str] | None:
    text = _read(pid, "stat")
    # The command name may hold spaces and parentheses: the fields start after the last ')'.
    return text[text.rindex(")") + 2 :].split() if text else None


def _pids() -> list[int]:
    return [int(entry.name) for entry in PROC.iterdir() if entry.name.isdigit()]


def children(pid: int) -> list[int]:
    return [child for child in _pids() if (fields := _stat_fields(child)) and int(fields[1]) == pid]


def postgres_serving(database: str) -> list[int]:
    """PostgreSQL's processes that work for `database`: its client backends and the server's own
    (checkpointer, WAL writer...), not the backends of other databases (other suites' work)."""
    found = []
    for pid in _pids():
        if (_read(pid, "comm") or "").strip() != "postgres":
            continue
        # A backend's title: "postgres: <cluster>: <user> <database> <host>(<port>) <state>".
        title = (_read(pid, "cmdline") or "").replace("\0", " ").split()
        is_backend = len(title) >= 5 and ("(" in title[4] or title[4] == "[local]")
        if not is_backend or title[3] == database:
            found.append(pid)
    return found


def rss_kib(pid: int) -> int:
    line = next((line for line in (_read(pid, "status") or "").splitlines() if line.startswith("VmRSS:")), "VmRSS: 0")
    return int(line.split()[1])


def machine_jiffies() -> tuple[int, int]:
    """(busy, total) jiffies over all cores since boot."""
    values = [int(v) for v in (PROC / "stat").read_text().splitlines()[0].split()[1:]]
    total = sum(values[:8])  # guest time is already counted in user
    return total - values[3] - values[4], total  # less idle and iowait


@dataclass
class Usage:
    wall: float
    cpu: dict[str, float]  # group -> CPU seconds over the run
    machine_busy: float  # cores busy on average (0..cores)
    peak_rss_kib: dict[int, int]  # web worker pid -> largest RSS seen

    def cores(self, group: str) -> float:
        return self.cpu.get(group, 0.0) / self.wall if self.wall else 0.0


class Sampler:
    """Samples every `interval` s from start() to stop(). `groups` name a function returning each
    group's pids now; a process seen first mid-run counts from its first sample, and one that
    exits up to its last (a backend living less than one interval is missed)."""

    def __init__(self, groups: dict, *, rss_pids, interval: float = 0.5):
        self.groups, self.rss_pids, self.interval = groups, rss_pids, interval
        self.first: dict[tuple[str, int], float] = {}
        self.last: dict[tuple[str, int], float] = {}
        self.rss: dict[int, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self):
        for group, pids in self.groups.items():
            for pid in pids():
                if fields := _stat_fields(pid):
                    seconds = (int(fields[11]) + int(fields[12])) / CLK_TCK  # user + system
                    self.first.setdefault((group, pid), seconds)
                    self.last[(group, pid)] = seconds
        for pid in self.rss_pids():
            self.rss[pid] = max(rss_kib(pid), self.rss.get(pid, 0))

    def _run(self):
        while not self._stop.wait(self.interval):
            self._sample()

    def start(self):
        self._jiffies, self._t0 = machine_jiffies(), time.monotonic()
        self._sample()
        self._thread.start()

    def stop(self) -> Usage:
        self._stop.set()
        self._thread.join()
        self._sample()
        (busy0, total0), (busy1, total1) = self._jiffies, machine_jiffies()
        cpu: dict[str, float] = {}
        for (group, pid), value in self.last.items():
            cpu[group] = cpu.get(group, 0.0) + value - self.first[(group, pid)]
        busy = (busy1 - busy0) / (total1 - total0) * (os.cpu_count() or 1) if total1 > total0 else 0.0
        return Usage(wall=time.monotonic() - self._t0, cpu=cpu, machine_busy=busy, peak_rss_kib=dict(self.rss))
