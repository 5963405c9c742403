"""Database connections under load, on a PostgreSQL of the test's own with max_connections=20
(17 for clients once the superuser's reserve is taken): each process's pool bounds what it holds,
so busy web threads never leave the email worker without a connection, and preflight refuses a
set of processes that could not fit."""

import subprocess
import sys
import threading
import time

from django.conf import settings

from . import processes
from .processes import ROOT, wait_for

SERVER = {"max_connections": 20}


def preflight(database_url, **env):
    return subprocess.run(
        [sys.executable, "-m", "ledger_project.preflight"],
        cwd=ROOT,
        env=processes.service_env(DATABASE_URL=database_url, REDIS_URL=settings.CELERY_BROKER_URL, **env),
        capture_output=True,
        text=True,
    )


def test_preflight_refuses_processes_that_could_hold_more_connections_than_the_server_has():
    with processes.postgresql_server(**SERVER) as postgresql:
        # The incident's web: two workers of 16 threads, each thread a connection of its own.
        refused = preflight(postgresql.database_url, WEB_WORKERS=2, WEB_THREADS=16, WORKER_CONCURRENCY=2)
        # The same threads sharing a pool of 4 per worker fit: 2 × 4 + 2 + beat 1 + margin 5 = 16 ≤ 17.
        fits = preflight(
            postgresql.database_url, WEB_WORKERS=2, WEB_THREADS=16, DB_POOL_MAX_SIZE=4, WORKER_CONCURRENCY=2
        )

    assert refused.returncode == 1
    assert refused.stderr.strip() == (
        f"preflight: PostgreSQL at 127.0.0.1:{postgresql.port} has room for 17 connections (max_connections less the reserved "
        "ones), but the service may open 40: web 2 × 16 + worker 2 + beat 1 + margin 5. Lower WEB_WORKERS, "
        "DB_POOL_MAX_SIZE or WORKER_CONCURRENCY, or raise max_connections."
    )
    assert fits.returncode == 0, fits.stderr


def test_web_threads_under_load_never_starve_the_email_worker(tmp_path):
    redis_port = processes.free_port()
    with processes.postgresql_server(**SERVER) as postgresql, processes.redis_server(redis_port):
        env = {
            "DATABASE_URL": postgresql.database_url,
            "REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
            "CACHE_URL": f"redis://127.0.0.1:{redis_port}/1",
            "THROTTLE_REGISTER": "1000/min",
        }
        web_args = ["--workers", "2", "--threads", "16"]
        # 32 clients share 4 source accounts: their lock waits measure this machine's load, not
        # what is under test, so they get the suite's longer lock timeout.
        web_env = {"DB_POOL_MAX_SIZE": 4, "DB_LOCK_TIMEOUT_MS": settings.DB_LOCK_TIMEOUT_MS, **env}
        with (
            processes.web_service(*web_args, **web_env) as web,
            processes.celery_worker(
                "--beat",
                "--schedule",
                str(tmp_path / "beat-schedule"),
                DB_POOL_MAX_SIZE=1,
                EMAIL_URL=f"filemail:///{tmp_path}",
                **env,
            ),
        ):
            customers = processes.customers_seed(web, database_url=postgresql.database_url, count=4)
            statuses, peak = load(web, customers, clients=32, seconds=5, postgresql=postgresql)
            # The load has stopped; every email, the welcome and funding ones included, leaves.
            with postgresql.connect() as conn:

                def unsent():
                    return conn.execute(
                        "SELECT count(*) FROM notifications_outboxemail WHERE sent_at IS NULL"
                    ).fetchone()[0]

                wait_for(lambda: unsent() == 0, timeout=60, what="the worker to send every email")
                rows = conn.execute("SELECT count(*) FROM notifications_outboxemail").fetchone()[0]

    assert set(statuses) == {201}, f"answers under load: {sorted(set(statuses))}"
    assert len(processes.emails_in(tmp_path)) == rows
    # Two web pools of 4 and the worker's 1, whatever the 32 threads and clients want.
    assert peak <= 2 * 4 + 1, f"{peak} connections at the peak"


def load(web, customers, *, clients, seconds, postgresql):
    """`clients` threads sending transfers for `seconds`; returns every status and the most client
    connections PostgreSQL had open at once (sampled)."""
    statuses, stop = [], time.monotonic() + seconds

    def client(n):
        token, source, target = customers[n % len(customers)]
        for i in range(10_000):
            if time.monotonic() > stop:
                return
            body = {"fromAccount": source, "toAccount": target, "amount": "0.01", "idempotencyKey": f"load-{n}-{i}"}
            statuses.append(web.request("POST", "/api/transactions", token=token, body=body, timeout=30)[0])

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    for thread in threads:
        thread.start()
    peak = 0
    with postgresql.connect("postgres") as monitor:
        while any(thread.is_alive() for thread in threads):
            count = monitor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = 'ledger' AND backend_type = 'client backend'"
            ).fetchone()[0]
            peak = max(peak, count)
            time.sleep(0.05)
    for thread in threads:
        thread.join()
    return statuses, peak
