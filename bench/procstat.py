"""CPU time and memory of the processes a benchmark run involves, read from /proc (Linux only).

A run's CPU split (web workers, PostgreSQL, load generator, the whole machine) says which side
was busy, and so whether the generator could have been the bottleneck. Peak RSS is read from
each web worker's VmHWM after resetting it at the start of the run (`clear_refs` 5, root or the
process's owner), so it is the peak of that run alone; where the reset is refused it falls back
to the largest VmRSS seen by sampling.
"""

import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

CLK_TCK = os.sysconf("SC_CLK_TCK")
PROC = Path("/proc")


def _stat_fields(pid: int) -> list[str] | None:
    try:
        text = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    # The command name may hold spaces and parentheses: the fields start after the last ')'.
    return text[text.rindex(")") + 2 :].split()


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU of one process (its threads included), in seconds."""
    fields = _stat_fields(pid)
    if fields is None:
        return None
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def children(pid: int) -> list[int]:
    found = []
    for entry in PROC.iterdir():
        if entry.name.isdigit():
            fields = _stat_fields(int(entry.name))
            if fields is not None and int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


def named(name: str) -> list[int]:
    """Processes whose command name (comm) is `name`, e.g. every PostgreSQL backend."""
    found = []
    for entry in PROC.iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == name:
                    found.append(int(entry.name))
            except OSError:
                pass
    return found


def postgres_serving(database: str) -> list[int]:
    """PostgreSQL's processes that work for `database`: its client backends and the server's
    own (checkpointer, WAL writer, ...), but not the backends of other databases, which other
    suites on a shared machine may be running."""
    found = []
    for pid in named("postgres"):
        try:
            title = (PROC / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").split()
        except OSError:
            continue
        # A backend's title: "postgres: <cluster>: <user> <database> <host>(<port>) <state>".
        is_backend = len(title) >= 5 and ("(" in title[4] or title[4] == "[local]")
        if not is_backend or title[3] == database:
            found.append(pid)
    return found


def memory_kib(pid: int, key: str) -> int | None:
    """A line of /proc/<pid>/status in KiB: VmRSS (now) or VmHWM (peak)."""
    try:
        for line in (PROC / str(pid) / "status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def peak_reset(pid: int) -> bool:
    """Reset the process's VmHWM to its current RSS (Linux 4.0+)."""
    try:
        (PROC / str(pid) / "clear_refs").write_text("5")
        return True
    except OSError:
        return False


def machine_jiffies() -> tuple[int, int]:
    """(busy, total) jiffies over all cores since boot."""
    values = [int(v) for v in (PROC / "stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + (values[4] if len(values) > 4 else 0)  # idle + iowait
    total = sum(values[:8])  # guest time is already counted in user
    return total - idle, total


@dataclass
class Usage:
    wall: float
    cpu: dict[str, float]  # group -> CPU seconds over the run
    machine_busy: float  # cores busy on average (0..cores)
    peak_rss_kib: dict[int, int] = field(default_factory=dict)  # web worker pid -> peak RSS
    peak_from: str = "VmHWM"

    def cores(self, group: str) -> float:
        return self.cpu.get(group, 0.0) / self.wall if self.wall else 0.0


class Sampler:
    """Samples every `interval` s, from start() to stop(). `groups` name a function returning the
    pids of each group now; a process seen first mid-run counts from its first sample, and one
    that exits counts up to its last (a backend living less than one interval is missed)."""

    def __init__(self, groups: dict, *, rss_pids, interval: float = 0.5):
        self.groups = groups
        self.rss_pids = rss_pids
        self.interval = interval
        self.first: dict[tuple[str, int], float] = {}
        self.last: dict[tuple[str, int], float] = {}
        self.rss_max: dict[int, int] = {}
        self.hwm_reset = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self):
        for group, pids in self.groups.items():
            for pid in pids():
                value = cpu_seconds(pid)
                if value is not None:
                    self.first.setdefault((group, pid), value)
                    self.last[(group, pid)] = value
        for pid in self.rss_pids():
            rss = memory_kib(pid, "VmRSS")
            if rss is not None:
                self.rss_max[pid] = max(rss, self.rss_max.get(pid, 0))

    def _run(self):
        while not self._stop.wait(self.interval):
            self._sample()

    def start(self):
        self.hwm_reset = all(peak_reset(pid) for pid in self.rss_pids())
        self._busy0, _ = self._jiffies0 = machine_jiffies()
        self._t0 = time.monotonic()
        self._sample()
        self._thread.start()

    def stop(self) -> Usage:
        self._stop.set()
        self._thread.join()
        self._sample()
        wall = time.monotonic() - self._t0
        busy1, total1 = machine_jiffies()
        busy0, total0 = self._jiffies0
        cores = os.cpu_count() or 1
        machine = (busy1 - busy0) / (total1 - total0) * cores if total1 > total0 else 0.0
        cpu: dict[str, float] = {}
        for (group, pid), value in self.last.items():
            cpu[group] = cpu.get(group, 0.0) + value - self.first[(group, pid)]
        peaks, source = {}, "VmHWM"
        for pid in self.rss_pids():
            hwm = memory_kib(pid, "VmHWM") if self.hwm_reset else None
            if hwm is None:
                hwm, source = self.rss_max.get(pid), "sampled VmRSS"
            if hwm is not None:
                peaks[pid] = max(hwm, self.rss_max.get(pid, 0))
        return Usage(wall=wall, cpu=cpu, machine_busy=machine, peak_rss_kib=peaks, peak_from=source)
