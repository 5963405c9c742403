"""The throughput cost of synchronous replication (README, "High availability"): a primary and a
streaming standby of the bench's own, on free 127.0.0.1 ports under a temporary directory, for
the transfer_sync_replica and transfer_async_replica scenarios (bench/run.py).

One pair serves both scenarios, flipped between runs by `synchronous_standby_names` (`'*'`, or
empty) and a reload, so the two run on the same seed, server and cache: the difference is the
commit's wait for the standby's flush (synchronous_commit = on, fsync on, as deployed), which is
what make ha-up's formation pays. As root the servers run as `postgres` (PostgreSQL refuses root),
as tests/faults/processes.py runs its servers.

    python -m bench.replica seed USERS PER_USER   # in a stack's environment: the wrk users file
"""

import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

from tests.faults.processes import PostgreSQL, _postgresql_bindir, _server_owner, free_port


class ReplicaError(RuntimeError):
    """The pair could not be started here (no server binaries, no user to run them as)."""


# Settings of both servers: the shared server's durability; a cluster name, so that a backend's
# process title reads as bench/procstat.py expects ("postgres: <cluster>: <user> <database> ...").
SERVER = {"cluster_name": "bench-replica", "max_connections": 100, "shared_buffers": "128MB"}


class ReplicatedPair:
    def __init__(self, log):
        self.log = log
        bindir = _postgresql_bindir()
        if bindir is None:
            raise ReplicaError("no PostgreSQL server binaries (initdb, pg_basebackup) on this machine")
        try:
            self.owner = _server_owner()
        except BaseException as exc:  # pytest.skip's exception, raised when there is no postgres user
            raise ReplicaError("running as root with no `postgres` user to run a PostgreSQL server as") from exc
        self.root = Path(tempfile.mkdtemp(prefix="ledger-bench-replica-"))
        homes = []
        for name in ("primary", "standby"):
            home = self.root / name
            home.mkdir()
            homes.append(home)
        if self.owner:
            import shutil

            for path in (self.root, *homes):
                shutil.chown(path, self.owner["user"], self.owner["group"])
        self.primary = PostgreSQL(bindir, homes[0], free_port(), SERVER)
        self.standby = PostgreSQL(bindir, homes[1], free_port(), SERVER)
        self.database_url = f"postgres://postgres@127.0.0.1:{self.primary.port}/postgres"

    def start(self):
        try:
            self._start()
        except subprocess.CalledProcessError as exc:
            output = (exc.stderr or b"").decode(errors="replace")[-1500:]
            raise ReplicaError(f"{' '.join(map(str, exc.cmd[:2]))} failed: {output}") from exc

    def _start(self):
        started = time.monotonic()
        self.primary.run("initdb", "-D", self.primary.datadir, "-U", "postgres", "--auth=trust")
        self.primary.start()
        # initdb's pg_hba.conf lets a trusted local replication connection in (127.0.0.1).
        self.standby.run(
            "pg_basebackup",
            "-h",
            "127.0.0.1",
            "-p",
            self.primary.port,
            "-U",
            "postgres",
            "-D",
            self.standby.datadir,
            "--write-recovery-conf",
            "--checkpoint=fast",
            "--wal-method=stream",
        )
        self.standby.start()
        self.wait_state("async")
        self.log(
            f"replica     primary 127.0.0.1:{self.primary.port}, streaming standby 127.0.0.1:{self.standby.port} "
            f"under {self.root} ({time.monotonic() - started:.1f} s)"
        )

    def stop(self):
        import shutil

        for server in (self.standby, self.primary):
            if (server.datadir / "postmaster.pid").exists():
                try:
                    server.pg_ctl("stop", "-m", "fast")
                except Exception:  # stopped already, or stuck: immediate
                    server.pg_ctl("stop", "-m", "immediate")
        shutil.rmtree(self.root, ignore_errors=True)

    def synchronous(self, on: bool):
        """Commits wait for the standby's flush (on) or not; returns once the primary's WAL sender
        reports the standby as sync (or async)."""
        with self.primary.connect("postgres") as conn:
            conn.execute(f"ALTER SYSTEM SET synchronous_standby_names = '{'*' if on else ''}'")
            conn.execute("SELECT pg_reload_conf()")
        self.wait_state("sync" if on else "async")

    def wait_state(self, state: str, timeout: float = 60.0):
        deadline = time.monotonic() + timeout
        seen = None
        while time.monotonic() < deadline:
            with self.primary.connect("postgres") as conn:
                seen = conn.execute("SELECT state, sync_state FROM pg_stat_replication").fetchall()
            if seen == [("streaming", state)]:
                return
            time.sleep(0.2)
        raise ReplicaError(f"the standby is not streaming as {state} after {timeout:g} s: {seen}")


@contextmanager
def replicated_pair(log=print):
    pair = ReplicatedPair(log)
    try:
        pair.start()
        yield pair
    finally:
        pair.stop()


def seed(users: int, per_user: int):
    """The bench's pool (bench/seed.py) on the stack's database; prints the wrk users file."""
    import django

    django.setup()
    from django.db import connection

    from bench.seed import world_seed

    settings = connection.settings_dict
    conninfo = {
        "host": settings["HOST"],
        "port": settings["PORT"],
        "user": settings["USER"],
        "dbname": settings["NAME"],
    }
    world = world_seed(
        conninfo=conninfo,
        users=users,
        per_user=per_user,
        small_entries=10,
        big_entries=402,
        log=lambda message: print(message, file=sys.stderr),
    )
    sys.stdout.write(world.users_file_text())


if __name__ == "__main__":
    if sys.argv[1:2] == ["seed"]:
        seed(int(sys.argv[2]), int(sys.argv[3]))
    else:
        sys.exit(__doc__)
