"""Where a transfer's time goes: py-spy on every web worker while wrk runs the transfer scenario.

Two recordings during one load run (`--profile`, make bench-profile), each `RECORD_SECONDS`:
1. wall time (`--idle`): every sample of every thread that is handling a request, waiting
   included, so time spent waiting on PostgreSQL or Redis (or for the GIL) shows up as such;
2. Python CPU time (`--gil`): only the thread holding the GIL, i.e. what each worker's one
   Python core is busy with (psycopg and redis release the GIL while they wait).
Their collapsed stacks stay beside the report (speedscope.app and flamegraph.pl read them) and
are summarised by phase of the request (authentication, the transfer service, the response...),
by kind of work (waiting for PostgreSQL, Django ORM...) and by line of project code. Samples of
threads that are not handling a request (gthread's pool waiting for one) are left out.
"""

import subprocess
import threading
import time
from collections import Counter
from pathlib import Path

from bench.load import wrk_run

RECORD_SECONDS = 12
RATE = 97  # samples per second per thread; not a divisor of common timer rates

# Phase: the first rule (in this order) that any frame of the stack matches.
PHASES = [
    ("Celery publish after commit", ("celery/", "kombu/", "outbox_dispatch")),
    ("authentication (JWT, user query)", ("authn/authentication.py", "rest_framework_simplejwt/")),
    ("throttle (Redis)", ("throttling.py",)),
    ("transfer service (transfer_create)", ("transactions/services.py",)),
    ("request parsing and validation", ("parsers.py", " is_valid ", "run_validation")),
    (
        "response serialization and rendering",
        ("ledger_write_response", "renderers.py", "to_representation", "serializers.py"),
    ),
    ("Django/DRF request handling", ("django/", "rest_framework/")),
    ("gunicorn (HTTP parsing, socket I/O)", ("gunicorn/",)),
]

# Kind: the first rule (in this order) that any frame of the stack matches.
DB_WAITS = ("Connection.wait ", "_execute_send ", "_exec_command ", "wait_c", "wait_conn", "_send_")
REDIS_WAITS = ("_read_from_socket ", "send_packed_command ", "sendall", "recv")
KINDS = [
    (
        "PostgreSQL round trip (send, wait, read)",
        lambda frame: "psycopg/" in frame and any(w in frame for w in DB_WAITS),
    ),
    ("psycopg, Python side (adapting, building queries)", lambda frame: "psycopg" in frame),
    ("Redis round trip", lambda frame: "redis/" in frame and any(w in frame for w in REDIS_WAITS)),
    ("Redis client, Python side", lambda frame: "redis/" in frame),
    ("Celery/kombu", lambda frame: "celery/" in frame or "kombu/" in frame),
    ("Django ORM (query building, model instances)", lambda frame: "django/db/" in frame),
    ("JWT (simplejwt, PyJWT)", lambda frame: "jwt/" in frame or "rest_framework_simplejwt/" in frame),
    (
        "DRF serializers and fields",
        lambda frame: (
            "rest_framework/serializers.py" in frame
            or "rest_framework/fields.py" in frame
            or "ledger_project/fields.py" in frame
        ),
    ),
    ("JSON parse and render", lambda frame: "json/" in frame or "renderers.py" in frame or "parsers.py" in frame),
    ("Django request/response, middleware, urls", lambda frame: "django/" in frame),
    ("DRF views, permissions, exceptions", lambda frame: "rest_framework/" in frame),
    ("gunicorn", lambda frame: "gunicorn/" in frame),
    (
        "project code",
        lambda frame: any(
            app in frame for app in ("transactions/", "accounts/", "authn/", "notifications/", "ledger_project/")
        ),
    ),
]

IN_REQUEST = ("handle_request", "wsgi.py", "django/core/handlers")
PROJECT = ("(transactions/", "(accounts/", "(authn/", "(notifications/", "(ledger_project/")


def _frames(stack: str) -> list[str]:
    # py-spy's raw format: "process;thread;frame;frame;... count", each frame "function (file:line)".
    return [frame.strip() for frame in stack.split(";")]


def parse(path: Path) -> Counter:
    stacks: Counter = Counter()
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            stacks[stack] += int(count)
    return stacks


def classify(stacks: Counter) -> dict:
    phases, kinds, callsites = Counter(), Counter(), Counter()
    in_request = 0
    for stack, count in stacks.items():
        frames = _frames(stack)
        if not any(marker in frame for frame in frames for marker in IN_REQUEST):
            continue
        in_request += count
        phase = next(
            (name for name, markers in PHASES if any(m in frame for frame in frames for m in markers)), "other"
        )
        kind = next((name for name, rule in KINDS for frame in reversed(frames) if rule(frame)), "other Python")
        phases[phase] += count
        kinds[kind] += count
        callsites[_callsite(frames)] += count
    return {"samples": in_request, "phases": phases, "kinds": kinds, "callsites": callsites}


def _callsite(frames: list[str]) -> str:
    """The innermost line of project code on the stack and what it called: the line to change."""
    for i in range(len(frames) - 1, -1, -1):
        if any(app in frames[i] for app in PROJECT):
            # Skip Django's manager-to-queryset trampoline: name the QuerySet method itself.
            callees = [frame.split(" (")[0] for frame in frames[i + 1 :] if "manager_method" not in frame]
            callee = callees[0] if callees else "(itself)"
            return f"{frames[i]} → {callee}"
    return "outside project code (gunicorn, Django, DRF before or after the view)"


def _table(title: str, counts: Counter, total: int, limit: int = 12) -> list[str]:
    lines = [f"| {title} | share |", "| --- | ---: |"]
    return lines + [
        f"| {name.replace('|', '/')} | {count / (total or 1):.0%} |" for name, count in counts.most_common(limit)
    ]


def profile_transfer(
    *, pyspy: str, url: str, master: int, users_file: Path, nonce: str, folder: Path, clients: int, log
) -> dict:
    seconds = 2 * RECORD_SECONDS + 6
    result = {}
    loader = threading.Thread(
        target=lambda: result.update(
            m=wrk_run(
                url=url,
                script="transfer.lua",
                args=[str(users_file), nonce],
                clients=clients,
                seconds=seconds,
            )
        )
    )
    log(f"profile     transfer at {clients} clients for {seconds} s, py-spy on gunicorn {master} and its workers")
    folder.mkdir(parents=True, exist_ok=True)
    loader.start()
    time.sleep(3)
    outputs, errors = {"wall": folder / "profile-wall.txt", "cpu": folder / "profile-python-cpu.txt"}, []
    for name, path in outputs.items():
        command = [
            pyspy,
            "record",
            "--pid",
            str(master),
            "--subprocesses",
            "--rate",
            str(RATE),
            "--duration",
            str(RECORD_SECONDS),
            "--nonblocking",
            "--format",
            "raw",
            "--output",
            str(path),
            "--idle" if name == "wall" else "--gil",
        ]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0 or not path.exists():
            errors.append(f"{name}: {(done.stderr or done.stdout).strip()[-300:]}")
    loader.join()
    if errors:
        log("profile     py-spy failed: " + "; ".join(errors))
        return {"markdown": ["py-spy failed: " + "; ".join(errors)], "failed": "py-spy failed"}

    wall, cpu = classify(parse(outputs["wall"])), classify(parse(outputs["cpu"]))
    m = result.get("m")
    lines = [
        f"transfer at {clients} clients under py-spy ({RATE} Hz, non-blocking, {RECORD_SECONDS} s per recording): "
        + (f"{m.rate:.0f} req/s, p50 {m.latency_ms['p50']:.1f} ms while profiled. " if m else "")
        + f"Collapsed stacks: `{outputs['wall'].name}`, `{outputs['cpu'].name}` beside the report (not committed). "
        "Only samples of threads handling a request count. Wall time includes waiting (for PostgreSQL, Redis, the GIL); "
        "Python CPU is the thread holding the GIL.",
    ]
    for title, counts, total, limit in (
        ("wall time by phase of the request", wall["phases"], wall["samples"], 12),
        ("wall time by kind of work", wall["kinds"], wall["samples"], 12),
        ("Python CPU by phase of the request", cpu["phases"], cpu["samples"], 12),
        ("Python CPU by kind of work", cpu["kinds"], cpu["samples"], 12),
        ("wall time by line of project code (innermost, with what it called)", wall["callsites"], wall["samples"], 15),
        ("Python CPU by line of project code (innermost, with what it called)", cpu["callsites"], cpu["samples"], 15),
    ):
        lines += ["", *_table(title, counts, total, limit)]
    log("\n".join(lines))
    return {"server_errors": m.server_errors if m else 0, "markdown": lines}
