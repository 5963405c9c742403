"""Load generators: wrk (HTTP, with the Lua scripts in bench/wrk/) and pgbench (raw SQL).

Each run is a closed loop of `clients` connections for `seconds` and returns a Measurement:
requests/s, latency percentiles, answers by status (and transport errors), a few error bodies,
and the generator's own CPU time (from its rusage), so a report can show it was not the bottleneck.
"""

import json
import os
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

WRK_DIR = Path(__file__).resolve().parent / "wrk"
# wrk counts a response slower than this as a timeout error; far above any latency we expect.
WRK_TIMEOUT = "10s"


class LoadError(RuntimeError):
    """The generator could not run or its output could not be read."""


@dataclass
class Measurement:
    requests: int
    seconds: float
    latency_ms: dict[str, float]  # p50, p95, p99
    statuses: dict[str, int]  # "201" -> count; "ok"/"failed" for pgbench; "timeout", "read"... for transport errors
    generator_cpu_seconds: float = 0.0
    error_samples: list[str] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def errors_by_status(self) -> dict[str, int]:
        """Everything but a 2xx answer or a completed pgbench transaction."""
        return {status: n for status, n in self.statuses.items() if status != "ok" and not status.startswith("2")}

    @property
    def errors(self) -> int:
        return sum(self.errors_by_status.values())

    @property
    def server_errors(self) -> int:
        return sum(n for status, n in self.statuses.items() if status.isdigit() and int(status) >= 500)


def percentile(sorted_values: list[float], fraction: float) -> float:
    if not sorted_values:
        return 0.0
    return sorted_values[min(len(sorted_values) - 1, int(fraction * len(sorted_values)))]


def _run(command: list[str], *, timeout: float) -> tuple[str, int, float]:
    """Run a generator to completion: its output, exit code and the CPU seconds it used (the
    growth of this process's reaped-children totals; generators run one at a time)."""
    before = os.times()
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise LoadError(f"{command[0]} did not finish within {timeout:.0f} s") from None
    after = os.times()
    cpu = (after.children_user - before.children_user) + (after.children_system - before.children_system)
    return result.stdout + result.stderr, result.returncode, cpu


def wrk_run(*, url: str, script: str, args: list[str], clients: int, seconds: float, threads: int = 1) -> Measurement:
    command = [
        "wrk",
        "--threads",
        str(max(1, min(threads, clients))),
        "--connections",
        str(clients),
        "--duration",
        f"{seconds:g}s",
        "--timeout",
        WRK_TIMEOUT,
        "--script",
        str(WRK_DIR / script),
        url,
        "--",
        *args,
    ]
    output, code, cpu = _run(command, timeout=seconds + 60)
    line = next((line for line in output.splitlines() if line.startswith("BENCH_JSON ")), None)
    if code != 0 or line is None:
        raise LoadError(f"wrk failed (exit {code}):\n{output[-3000:]}")
    data = json.loads(line.removeprefix("BENCH_JSON "))
    return Measurement(
        requests=data["requests"],
        seconds=data["duration_us"] / 1e6,
        latency_ms={name: data["latency_us"][name] / 1000 for name in ("p50", "p95", "p99")},
        statuses={**data["statuses"], **{name: n for name, n in data["socket_errors"].items() if n}},
        generator_cpu_seconds=cpu,
        error_samples=data["error_samples"],
    )


def pgbench_run(
    *, conninfo: dict, script: Path, defines: dict, clients: int, seconds: float, workdir: Path, threads: int = 1
) -> Measurement:
    """pgbench with a custom script, prepared statements (the service binds on the server and prepares
    the statements it repeats: DB_PREPARE_THRESHOLD),
    every transaction logged so the percentiles are computed as wrk computes them."""
    prefix = workdir / f"pgbench-{script.stem}-{clients}"
    command = [
        "pgbench",
        "--no-vacuum",
        "--protocol",
        "prepared",
        "--file",
        str(script),
        "--client",
        str(clients),
        "--jobs",
        str(max(1, min(threads, clients))),
        "--time",
        str(max(1, round(seconds))),
        "--log",
        f"--log-prefix={prefix}",
        "--host",
        str(conninfo["host"]),
        "--port",
        str(conninfo["port"]),
        *(["--username", conninfo["user"]] if conninfo.get("user") else []),
        *[arg for name, value in defines.items() for arg in ("--define", f"{name}={value}")],
        conninfo["dbname"],
    ]
    output, code, cpu = _run(command, timeout=seconds + 120)
    processed = re.search(r"number of transactions actually processed: (\d+)", output)
    if processed is None:
        raise LoadError(f"pgbench failed (exit {code}):\n{output[-3000:]}")
    latencies = []
    for log in workdir.glob(f"{prefix.name}*"):
        rows = map(str.split, log.read_text().splitlines())
        latencies += [int(fields[2]) / 1000 for fields in rows if len(fields) > 2 and fields[2].isdigit()]
        log.unlink()
    latencies.sort()
    statuses = {"ok": int(processed.group(1))}
    failed = re.search(r"number of failed transactions: (\d+)", output)
    if failed and int(failed.group(1)):
        statuses["failed"] = int(failed.group(1))
    if code != 0 or "aborted" in output:
        statuses["aborted clients"] = max(1, len(re.findall(r"client \d+ aborted", output)))
    duration = re.search(r"duration: (\d+) s", output)
    return Measurement(
        requests=statuses["ok"],
        seconds=float(duration.group(1)) if duration else seconds,
        latency_ms={name: percentile(latencies, q) for name, q in (("p50", 0.5), ("p95", 0.95), ("p99", 0.99))},
        statuses=statuses,
        generator_cpu_seconds=cpu,
        error_samples=[line for line in output.splitlines() if "ERROR" in line or "aborted" in line][:3],
    )
