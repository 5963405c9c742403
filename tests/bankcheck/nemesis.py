"""The bank check's nemesis: it kills web backends of the scratch database mid-request."""

import random
import threading

import psycopg

CHECKER_APPLICATION_NAME = "bank-check"  # the checker's own PostgreSQL sessions; the nemesis spares them


class Nemesis(threading.Thread):
    """Every `interval` seconds, terminate one random client backend of the scratch database,
    preferring one that is busy (a request in flight) so the kill lands inside a request.
    It connects to the maintenance database, so its own session is never a candidate."""

    def __init__(self, stack, interval: float, seed: str):
        super().__init__(daemon=True)
        self.stack, self.interval = stack, interval
        self.rng = random.Random(seed)
        self.stop_event = threading.Event()
        self.kills = self.busy_kills = 0
        self.error = ""

    def run(self):
        query = """
            SELECT pid, state FROM pg_stat_activity
            WHERE datname = %s AND backend_type = 'client backend'
              AND pid <> pg_backend_pid() AND application_name <> %s
        """
        try:
            with psycopg.connect(autocommit=True, **self.stack.admin_conninfo()) as conn:
                while not self.stop_event.wait(self.interval):
                    backends = conn.execute(query, [self.stack.database, CHECKER_APPLICATION_NAME]).fetchall()
                    busy = [row for row in backends if row[1] in ("active", "idle in transaction")]
                    if not backends:
                        continue
                    pid, state = self.rng.choice(busy or backends)
                    if conn.execute("SELECT pg_terminate_backend(%s)", [pid]).fetchone()[0]:
                        self.kills += 1
                        self.busy_kills += state in ("active", "idle in transaction")
        except psycopg.Error as exc:
            self.error = str(exc).strip()
