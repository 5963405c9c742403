"""Load generators: wrk (HTTP, with the Lua scripts in bench/wrk/) and pgbench (the raw-SQL ceiling).

Each run is a closed loop of `clients` connections for `seconds`, and returns a Measurement:
requests/s, latency percentiles, responses by status, transport errors, and the generator's own
CPU time (from its rusage), so a report can show the generator was not the bottleneck.
"""

import json
import os
import re
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

BENCH = Path(__file__).resolve().parent
WRK_DIR = BENCH / "wrk"
# wrk counts a response slower than this as a timeout error; far above any latency we expect.
WRK_TIMEOUT = "10s"


class LoadError(RuntimeError):
    """The generator could not run or its output could not be read."""


@dataclass
class Measurement:
    requests: int
    seconds: float
    latency_ms: dict[str, float]  # p50, p95, p99, mean, max
    statuses: dict[str, int]  # "201" -> count; "failed" for pgbench's failed transactions
    transport_errors: dict[str, int] = field(default_factory=dict)  # connect/read/write/timeout
    generator_cpu_seconds: float = 0.0
    error_samples: list[str] = field(default_factory=list)
    command: str = ""

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def server_errors(self) -> int:
        return sum(count for status, count in self.statuses.items() if status.isdigit() and int(status) >= 500)

    @property
    def errors(self) -> int:
        """Everything but a 2xx answer (or a completed pgbench transaction): 4xx, 5xx, pgbench
        failures and aborted clients, transport errors."""
        bad = sum(count for status, count in self.statuses.items() if not _success(status))
        return bad + sum(self.transport_errors.values())

    @property
    def errors_by_status(self) -> dict[str, int]:
        shown = {status: count for status, count in self.statuses.items() if not _success(status)}
        return {**shown, **self.transport_errors}


def _success(status: str) -> bool:
    return status == "ok" or (status.isdigit() and 200 <= int(status) < 300)


def _run(command: list[str], *, timeout: float, env=None) -> tuple[str, str, int, float]:
    """Run a generator to completion: stdout, stderr, exit code and the CPU seconds it used
    (the growth of this process's reaped-children totals; generators run one at a time)."""
    before = os.times()
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env) as process:
        try:
            stdout, stderr = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()
            raise LoadError(f"{command[0]} did not finish within {timeout:.0f} s") from None
    after = os.times()
    cpu = (after.children_user - before.children_user) + (after.children_system - before.children_system)
    return stdout, stderr, process.returncode, cpu


def wrk_run(*, url: str, script: str, args: list[str], clients: int, seconds: float, threads: int = 1) -> Measurement:
    threads = max(1, min(threads, clients))
    command = [
        "wrk", "--threads", str(threads), "--connections", str(clients), "--duration", f"{seconds:g}s",
        "--timeout", WRK_TIMEOUT, "--script", str(WRK_DIR / script), url, "--", *args,
    ]
    stdout, stderr, code, cpu = _run(command, timeout=seconds + 60)
    line = next((line for line in stdout.splitlines() if line.startswith("BENCH_JSON ")), None)
    if code != 0 or line is None:
        raise LoadError(f"wrk failed (exit {code}):\n{stdout[-2000:]}\n{stderr[-2000:]}")
    data = json.loads(line[len("BENCH_JSON "):])
    latency = data["latency_us"]
    return Measurement(
        requests=data["requests"],
        seconds=data["duration_us"] / 1e6,
        latency_ms={name: latency[name] / 1000 for name in ("p50", "p95", "p99", "mean", "max")},
        statuses={str(status): count for status, count in data["statuses"].items()},
        transport_errors={name: count for name, count in data["socket_errors"].items() if count},
        generator_cpu_seconds=cpu,
        error_samples=data["error_samples"],
        command=" ".join(command[:11]) + " " + url,
    )


def percentile(sorted_values: list[float], fraction: float) -> float:
    if not sorted_values:
        return 0.0
    return sorted_values[min(len(sorted_values) - 1, int(fraction * len(sorted_values)))]


def pgbench_run(
    *, conninfo: dict, script: Path, defines: dict[str, int], clients: int, seconds: float, workdir: Path, threads: int = 1
) -> Measurement:
    """pgbench with a custom script, simple query protocol (what Django's psycopg backend sends),
    every transaction logged so the percentiles are computed as for wrk."""
    threads = max(1, min(threads, clients))
    workdir.mkdir(parents=True, exist_ok=True)
    prefix = workdir / f"pgbench-{clients}-{time.monotonic_ns()}"
    command = [
        "pgbench", "--no-vacuum", "--protocol", "simple", "--file", str(script),
        "--client", str(clients), "--jobs", str(threads), "--time", str(max(1, round(seconds))),
        "--log", f"--log-prefix={prefix}",
        "--host", str(conninfo["host"]), "--port", str(conninfo["port"]),
        *(["--username", conninfo["user"]] if conninfo.get("user") else []),
        *[arg for name, value in defines.items() for arg in ("--define", f"{name}={value}")],
        conninfo["dbname"],
    ]
    env_password = {"PGPASSWORD": conninfo["password"]} if conninfo.get("password") else {}
    stdout, stderr, code, cpu = _run(command, timeout=seconds + 120, env={**os.environ, **env_password})
    output = stdout + stderr
    processed = re.search(r"number of transactions actually processed: (\d+)", output)
    if processed is None:
        raise LoadError(f"pgbench failed (exit {code}):\n{output[-3000:]}")
    failed = re.search(r"number of failed transactions: (\d+)", output)
    duration = re.search(r"duration: (\d+) s", output)
    aborted = len(re.findall(r"client \d+ aborted", output))
    latencies = []
    for log in workdir.glob(f"{prefix.name}*"):
        for line in log.read_text().splitlines():
            fields = line.split()
            if len(fields) >= 3 and fields[2].isdigit():
                latencies.append(int(fields[2]) / 1000)
        log.unlink()
    latencies.sort()
    statuses = {"ok": int(processed.group(1))}
    if failed and int(failed.group(1)):
        statuses["failed"] = int(failed.group(1))
    if aborted or code != 0:
        statuses["aborted clients"] = max(aborted, 1)
    samples = [line for line in output.splitlines() if "ERROR" in line or "aborted" in line][:3]
    return Measurement(
        requests=int(processed.group(1)),
        seconds=float(duration.group(1)) if duration else seconds,
        latency_ms={
            "p50": percentile(latencies, 0.50), "p95": percentile(latencies, 0.95), "p99": percentile(latencies, 0.99),
            "mean": sum(latencies) / len(latencies) if latencies else 0.0, "max": latencies[-1] if latencies else 0.0,
        },
        statuses=statuses,
        generator_cpu_seconds=cpu,
        error_samples=samples,
        command=" ".join(command[:12]),
    )
