"""The benchmark's report: <stamp>.md (tables, targets), <stamp>.png (throughput against clients
for transfer, funding_hot and sql_ceiling) and <stamp>.json (every number, to compare runs).

The chart is drawn with matplotlib (bench/requirements.txt, installed by the bench targets into
the venv, never a dependency of the service): a log-scaled client axis with labelled points is
a few lines there and hard to get right by hand.
"""

import json
from pathlib import Path

CHART_SCENARIOS = ("transfer", "funding_hot", "sql_ceiling")
REPORT_ORDER = ("transfer", "funding_hot", "balance", "statement", "sql_ceiling")


def run_row(run) -> dict:
    m, usage = run.measurement, run.usage
    cores = {group: usage.cores(group) for group in ("web", "postgres")}
    generator = m.generator_cpu_seconds / usage.wall if usage.wall else 0.0
    peaks = usage.peak_rss_kib
    return {
        "scenario": run.scenario,
        "target": run.target,
        "role": run.role,
        "clients": run.clients,
        "requests": m.requests,
        "seconds": round(m.seconds, 2),
        "rate": round(m.rate, 1),
        "latency_ms": {name: round(value, 2) for name, value in m.latency_ms.items()},
        "statuses": m.statuses,
        "errors": m.errors,
        "errors_by_status": m.errors_by_status,
        "server_errors": m.server_errors,
        "generator_cpu_cores": round(generator, 3),
        "web_cpu_cores": round(cores["web"], 3),
        "postgres_cpu_cores": round(cores["postgres"], 3),
        "machine_busy_cores": round(usage.machine_busy, 3),
        "web_cpu_ms_per_request": round(cores["web"] * 1000 / m.rate, 2) if m.rate else None,
        "postgres_cpu_ms_per_request": round(cores["postgres"] * 1000 / m.rate, 2) if m.rate else None,
        "other_cpu_cores": round(max(0.0, usage.machine_busy - cores["web"] - cores["postgres"] - generator), 3),
        "web_peak_rss_mib_max": round(max(peaks.values()) / 1024, 1) if peaks else None,
        "web_peak_rss_mib_sum": round(sum(peaks.values()) / 1024, 1) if peaks else None,
        "peak_rss_from": usage.peak_from,
        "verify": run.verify,
        "verify_seconds": round(run.verify_seconds, 2),
        "error_samples": m.error_samples,
        "command": m.command,
    }


def best(rows, scenario):
    candidates = [row for row in rows if row["scenario"] == scenario]
    return max(candidates, key=lambda row: row["rate"]) if candidates else None


def find(rows, scenario, role, clients):
    for row in rows:
        if row["scenario"] == scenario and row["clients"] == clients and row["role"] == role:
            return row
    return None


def targets(rows, clients: list[int]) -> list[dict]:
    """The issue's targets, each a ratio from this one run (machine noise cancels)."""
    results = []

    def add(name, ratio, limit, higher_is_better, detail):
        if ratio is None:
            results.append({"target": name, "ratio": None, "limit": limit, "verdict": "not measured", "detail": detail})
            return
        ok = ratio >= limit if higher_is_better else ratio <= limit
        results.append({"target": name, "ratio": round(ratio, 3), "limit": limit, "verdict": "PASS" if ok else "MISS", "detail": detail})

    transfer, ceiling, funding = best(rows, "transfer"), best(rows, "sql_ceiling"), best(rows, "funding_hot")
    add(
        "transfer (best) >= 0.25 x sql_ceiling (best)",
        transfer["rate"] / ceiling["rate"] if transfer and ceiling else None, 0.25, True,
        f"{transfer['rate']:.0f} req/s at {transfer['clients']} vs {ceiling['rate']:.0f} tx/s at {ceiling['clients']}" if transfer and ceiling else "",
    )
    add(
        "funding_hot (best) >= 0.5 x transfer (best)",
        funding["rate"] / transfer["rate"] if transfer and funding else None, 0.5, True,
        f"{funding['rate']:.0f} req/s at {funding['clients']} vs {transfer['rate']:.0f} at {transfer['clients']}" if transfer and funding else "",
    )
    at16 = find(rows, "transfer", "", 16)
    add(
        "transfer p99 <= 5 x p50 at 16 clients",
        at16["latency_ms"]["p99"] / at16["latency_ms"]["p50"] if at16 else None, 5.0, False,
        f"p99 {at16['latency_ms']['p99']:.1f} ms, p50 {at16['latency_ms']['p50']:.1f} ms" if at16 else "16 clients not in this run",
    )
    # The read targets are judged at the fewest clients (1 in a full run): there p50 is the
    # request's own cost; with more clients than server threads it is mostly queueing.
    fewest = min(clients)
    for scenario, small, large, limit in (("balance", "small", "big", 1.2), ("statement", "first", "deep", 1.5)):
        a, b = find(rows, scenario, small, fewest), find(rows, scenario, large, fewest)
        others = []
        for count in clients:
            x, y = find(rows, scenario, small, count), find(rows, scenario, large, count)
            if x and y and count != fewest:
                others.append(f"{y['latency_ms']['p50'] / x['latency_ms']['p50']:.2f} at {count}")
        name = (
            f"balance p50: {b['target'] if b else 'big'} account <= 1.2 x {a['target'] if a else 'small'} account"
            if scenario == "balance"
            else f"statement p50: {b['target'] if b else 'deep page'} <= 1.5 x first page"
        )
        add(
            name,
            b["latency_ms"]["p50"] / a["latency_ms"]["p50"] if a and b else None, limit, False,
            (f"{b['latency_ms']['p50']:.2f} ms vs {a['latency_ms']['p50']:.2f} ms at {fewest} client{'s' if fewest > 1 else ''}"
             + (f" (other counts: {', '.join(others)})" if others else "")) if a and b else "",
        )
    return results


def chart(rows, path: Path, title: str):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5), dpi=110)
    styles = {"transfer": ("tab:blue", "o"), "funding_hot": ("tab:orange", "s"), "sql_ceiling": ("tab:gray", "^")}
    for scenario in CHART_SCENARIOS:
        points = sorted((row["clients"], row["rate"]) for row in rows if row["scenario"] == scenario)
        if not points:
            continue
        color, marker = styles[scenario]
        xs, ys = zip(*points)
        ax.plot(xs, ys, marker=marker, color=color, label=scenario, linewidth=2)
        below = scenario == "funding_hot"  # it runs close to transfer: keep the labels apart
        for x, y in points:
            ax.annotate(f"{y:.0f}", (x, y), textcoords="offset points", xytext=(0, -13 if below else 7), ha="center", fontsize=8, color=color)
    ceiling = max((row["rate"] for row in rows if row["scenario"] == "sql_ceiling"), default=0)
    if ceiling:
        ax.axhline(0.25 * ceiling, color="tab:blue", linestyle=":", linewidth=1)
        ax.annotate("target for transfer: 0.25 x best sql_ceiling", (0.01, 0.25 * ceiling), xycoords=("axes fraction", "data"),
                    textcoords="offset points", xytext=(0, 3), fontsize=8, color="tab:blue")
    clients = sorted({row["clients"] for row in rows if row["scenario"] in CHART_SCENARIOS})
    if clients:
        ax.set_xscale("log", base=2)
        ax.set_xticks(clients)
        ax.set_xticklabels([str(c) for c in clients])
    ax.set_ylim(bottom=0, top=max((row["rate"] for row in rows if row["scenario"] in CHART_SCENARIOS), default=1) * 1.12)
    ax.set_xlabel("concurrent clients (closed loop)")
    ax.set_ylabel("requests (transactions) per second")
    ax.set_title(title, fontsize=10)
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _ms(value):
    return f"{value:.1f}" if value >= 10 else f"{value:.2f}"


def _errors(row) -> str:
    parts = [f"{status}: {count}" for status, count in sorted(row["errors_by_status"].items())]
    return ", ".join(parts) if parts else "0"


def markdown(stamp, args, env, rows, target_rows, failures, profile, repeated=()) -> str:
    settings = env["postgresql_settings"]
    seed = env["seed"]
    lines = [
        f"# Benchmark {stamp}" + (" (smoke)" if args.smoke else ""),
        "",
        f"**Correctness: {'FAIL' if failures else 'PASS'}**"
        + (f" ({'; '.join(failures[:5])})" if failures else
           f" — no 5xx, verify_ledger passed after every write run{', every response a 2xx' if args.smoke else ''}.")
        + f" **Targets: {sum(t['verdict'] == 'PASS' for t in target_rows)} of {len(target_rows)} met.**",
        "",
        "Produced by `make bench` (`bench/run.py`); every figure comes from this one run on this one machine.",
        "",
        "## Setup",
        "",
        "| | |",
        "| --- | --- |",
        f"| machine | {env['cores']} cores ({env['cpu_model']}), {env['memory_gib']} GiB, Linux {env['kernel']}; "
        f"load average at start {' / '.join(env['load_average_at_start'])} |",
        f"| code | commit `{env['commit'][:12]}` ({env['commit_subject']})"
        + (f", plus uncommitted changes in {env['uncommitted_files']} tracked files" if env["uncommitted_files"] else "") + " |",
        f"| PostgreSQL | {env['postgresql']}: " + ", ".join(f"{name} {value}" for name, value in settings.items()) + " |",
        f"| Redis | {env['redis']} (cache db 4, Celery broker db 5; no Celery worker, emails stay in the outbox) |",
        f"| service | {env['gunicorn']}, **{env['workers']} workers x {env['threads']} threads** (gthread), Python {env['python']}, "
        "DEBUG off, throttles raised out of reach, persistent connections (CONN_MAX_AGE 60, health checks) |",
        f"| load | {env['wrk']}, {args.generator_threads} thread, one keep-alive connection per client, closed loop, "
        f"fresh idempotency key per write; {env['pgbench']} with `bench/sql/transfer.sql`, simple protocol; "
        f"{args.seconds:g} s per run after a {args.warmup:g} s warm-up per scenario |",
        f"| data | {seed['users']:,} users x {seed['per_user']} INR accounts = {seed['accounts']:,} funded accounts (through "
        f"`funding_create`); reader's small account {seed['small_entries']} entries, big account {seed['big_entries']:,} entries "
        f"(bulk SQL, then verify_ledger); statement pages of 200, the deep one {env['statement_depth']:,} entries deep |",
        "| seeding | " + ", ".join(f"{name} {seconds:.1f} s" for name, seconds in seed["timings"].items()) + " |",
        f"| whole run | {env.get('total_seconds', 0) / 60:.1f} min; the machine was {env.get('busy_cores_before_start', 0):.2f} "
        "cores busy just before it (other processes)"
        + (f"; started over {env['started_over']} time(s) after PostgreSQL was restarted outside the bench during setup"
           if env.get("started_over") else "") + " |",
        "",
        "## Results",
        "",
        "Requests/s are completed requests over the measured time (pgbench: transactions/s); latencies are per "
        "request as the generator saw them. Errors are every answer but a 2xx, and transport errors. Peak RSS is each "
        "web worker's VmHWM over the run (reset at its start): the largest worker / all workers. CPU is in cores "
        f"(of {env['cores']}) averaged over the run: generator, web (gunicorn), PostgreSQL (the scratch database's backends "
        "and the server's own processes), and "
        "other (the machine's busy time left over: kernel, Redis, the harness, other databases' backends, anything else "
        "running). CPU ms per "
        "request divides the web's and PostgreSQL's CPU by the requests served: the cost of one request, whatever the "
        "concurrency.",
        "",
        "| scenario | clients | req/s | p50 ms | p95 ms | p99 ms | errors | web peak RSS MiB | CPU cores gen / web / pg / other | CPU ms/req web / pg | verify_ledger |",
        "| --- | ---: | ---: | ---: | ---: | ---: | --- | --- | --- | --- | --- |",
    ]
    order = {name: i for i, name in enumerate(REPORT_ORDER)}
    roles = {"small": 0, "big": 1, "first": 0, "deep": 1}
    for row in sorted(rows, key=lambda r: (order.get(r["scenario"], 99), roles.get(r["role"], 0), r["clients"])):
        name = row["scenario"] + (f" ({row['target']})" if row["target"] else "")
        lat = row["latency_ms"]
        rss = f"{row['web_peak_rss_mib_max']} / {row['web_peak_rss_mib_sum']}" if row["web_peak_rss_mib_max"] else "?"
        verify = "" if row["verify"] is None else ("ok" if row["verify"] == "ok" else "**FAIL**")
        lines.append(
            f"| {name} | {row['clients']} | {row['rate']:,.0f} | {_ms(lat['p50'])} | {_ms(lat['p95'])} | {_ms(lat['p99'])} | "
            f"{_errors(row)} | {rss} | {row['generator_cpu_cores']:.2f} / {row['web_cpu_cores']:.2f} / "
            f"{row['postgres_cpu_cores']:.2f} / {row['other_cpu_cores']:.2f} | "
            f"{_ms(row['web_cpu_ms_per_request'] or 0)} / {_ms(row['postgres_cpu_ms_per_request'] or 0)} | {verify} |"
        )
    gen_max = max((row["generator_cpu_cores"] for row in rows), default=0)
    lines += [
        "",
        f"The generator never used more than {gen_max:.2f} cores ({gen_max / env['cores']:.0%} of the machine).",
        "",
        "## Targets",
        "",
        "| target | ratio | limit | verdict | from |",
        "| --- | ---: | ---: | --- | --- |",
    ]
    for t in target_rows:
        ratio = "" if t["ratio"] is None else f"{t['ratio']:.2f}"
        lines.append(f"| {t['target']} | {ratio} | {t['limit']:g} | **{t['verdict']}** | {t['detail']} |")
    lines += [
        "",
        "## Throughput against clients",
        "",
        f"![throughput against clients]({stamp}.png)",
        "",
        "## What one transfer sends to PostgreSQL",
        "",
        f"The service, for one `POST /api/transactions` (captured in-process after seeding, plus the health check "
        f"Django sends on the raw connection): **{len(env['transfer_statements'])} statements**; "
        f"`bench/sql/transfer.sql` sends {env['sql_ceiling_statements']}. If these differ, the hot path changed and the "
        "ceiling script should follow it.",
        "",
    ]
    lines += [f"{i}. `{statement[:150]}{'…' if len(statement) > 150 else ''}`" for i, statement in enumerate(env["transfer_statements"], 1)]
    if repeated:
        lines += ["", "## Runs measured again", "", "PostgreSQL was restarted by something outside the bench during these "
                  "runs (the machine is shared); each was measured again and only the repeat is reported:", ""]
        lines += [f"- {line}" for line in repeated]
    if profile:
        lines += ["", "## Profile", "", *profile.get("markdown", [])]
    if any(row["error_samples"] for row in rows):
        lines += ["", "## First error bodies", ""]
        for row in rows:
            for sample in row["error_samples"]:
                lines.append(f"- {row['scenario']} {row['target']} at {row['clients']}: `{sample[:200]}`")
    lines.append("")
    return "\n".join(lines)


def write(results: Path, stamp: str, *, args, env, bench) -> tuple[Path, Path, Path]:
    rows = [run_row(run) for run in bench.runs]
    target_rows = targets(rows, args.clients)
    md, png, data = results / f"{stamp}.md", results / f"{stamp}.png", results / f"{stamp}.json"
    title = (
        f"Ledger bench {stamp}: {env['cores']} cores, PostgreSQL {env['postgresql'].split()[0]}, "
        f"gunicorn {env['workers']}x{env['threads']}, commit {env['commit'][:8]}"
    )
    chart(rows, png, title)
    profile = env.get("profile")
    md.write_text(markdown(stamp, args, env, rows, target_rows, bench.failures, profile, bench.repeated))
    serializable_args = {name: (str(value) if isinstance(value, Path) else value) for name, value in vars(args).items()}
    data.write_text(
        json.dumps(
            {
                "stamp": stamp, "args": serializable_args, "environment": env, "runs": rows, "targets": target_rows,
                "failures": bench.failures, "repeated": bench.repeated,
            },
            indent=1, default=str,
        )
        + "\n"
    )
    return md, png, data
