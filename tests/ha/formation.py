"""The pg_auto_failover formation of `make ha-up` (deploy/ha/up.sh), as the HA check drives it:
where it is (ha.env), what the monitor says, and the faults: a node lost, a node back, a switchover.

Every process here was started by deploy/ha/up.sh or by this module, and is found by the ids they
recorded in the run directory: a node's supervisor by its process group (<node>.pid), its
postmaster by postmaster.pid.
"""

import os
import shlex
import signal
import subprocess
import time
from pathlib import Path

import psycopg

PRIMARY_STATES = {"single", "primary", "wait_primary"}


class FormationError(RuntimeError):
    """The formation is not there, or did not reach the state asked for in time."""


def ha_env(ha_dir: str) -> dict[str, str]:
    path = Path(ha_dir) / "ha.env"
    if not path.exists():
        raise FormationError(f"{path} is missing: start the formation with `make ha-up` (as root)")
    values = {}
    for line in path.read_text().splitlines():
        if line and not line.startswith("#") and "=" in line:
            name, _, value = line.partition("=")
            values[name] = shlex.split(value)[0] if value else ""
    return values


class Formation:
    def __init__(self, ha_dir: str, user: str = "postgres"):
        self.dir = Path(ha_dir)
        self.env = ha_env(ha_dir)
        self.user = user
        self.database_url = self.env["DATABASE_URL"]
        major = sorted(os.listdir("/usr/lib/postgresql"), key=int)[-1]
        self.path = f"/usr/lib/postgresql/{major}/bin:/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin"

    # --- what the monitor says -----------------------------------------------------------------

    def states(self) -> dict[str, tuple[str, str]]:
        """node name -> (reported state, goal state)."""
        with psycopg.connect(self.env["HA_MONITOR_URI"], connect_timeout=2, autocommit=True) as conn:
            rows = conn.execute("SELECT nodename, reportedstate, goalstate FROM pgautofailover.node").fetchall()
        return {name: (str(reported), str(goal)) for name, reported, goal in rows}

    def primary(self) -> str | None:
        """The node the monitor has as the one that takes writes (reported and goal agree)."""
        for name, (reported, goal) in self.states().items():
            if reported in PRIMARY_STATES and goal == reported:
                return name
        return None

    def other(self, node: str) -> str:
        return "node2" if node == "node1" else "node1"

    def wait_states(self, wanted: dict[str, str], timeout: float) -> float:
        """Wait until every node in `wanted` reports (and is assigned) its state; the seconds it took."""
        start = time.monotonic()
        while True:
            try:
                states = self.states()
            except psycopg.Error:
                states = {}
            if all(states.get(node) == (state, state) for node, state in wanted.items()):
                return time.monotonic() - start
            if time.monotonic() - start > timeout:
                raise FormationError(f"the formation did not reach {wanted} within {timeout:g} s: {states}")
            time.sleep(0.2)

    def wait_synchronous(self, timeout: float = 120.0):
        """A primary with its standby in sync again (the formation as ha-up leaves it)."""
        start = time.monotonic()
        while time.monotonic() - start < timeout:
            states = self.states()
            if sorted(state for state, goal in states.values() if state == goal) == ["primary", "secondary"]:
                return
            time.sleep(0.5)
        raise FormationError(f"no primary with a secondary within {timeout:g} s: {self.states()}")

    # --- faults ---------------------------------------------------------------------------------

    def node_kill(self, node: str):
        """The node lost as a machine is: SIGKILL to its pg_autoctl supervisor (its whole process
        group, so nothing restarts the server), then to its postmaster and the postmaster's children.
        A postmaster killed alone is restarted in a second by its supervisor (a crash recovery on
        the same node, no failover), which tests nothing a failover manager is for."""
        pgid = int((self.dir / f"{node}.pid").read_text().split()[0])
        postmaster = int((self.dir / node / "postmaster.pid").read_text().split()[0])
        children = subprocess.run(
            ["ps", "-o", "pid=", "--ppid", str(postmaster)], capture_output=True, text=True, check=False
        ).stdout.split()
        for kill in (lambda: os.killpg(pgid, signal.SIGKILL), lambda: os.kill(postmaster, signal.SIGKILL)):
            try:
                kill()
            except ProcessLookupError:
                pass
        for pid in children:
            try:
                os.kill(int(pid), signal.SIGKILL)
            except ProcessLookupError:
                pass

    def node_start(self, node: str):
        """`pg_autoctl run` for a node again, as deploy/ha/up.sh starts it (as the server's owner, in
        a session of its own recorded in <node>.pid, so that make ha-down stops it)."""
        log = (self.dir / f"{node}.log").open("a")
        process = subprocess.Popen(
            ["runuser", "-u", self.user, "--", "env", f"PATH={self.path}", f"HOME={self.dir}"]
            + ["pg_autoctl", "run", "--pgdata", str(self.dir / node)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        (self.dir / f"{node}.pid").write_text(f"{process.pid}\n")

    def switchover(self) -> str:
        """pg_auto_failover's planned failover; its output."""
        result = subprocess.run(
            ["runuser", "-u", self.user, "--", "env", f"PATH={self.path}", f"HOME={self.dir}"]
            + ["pg_autoctl", "perform", "switchover", "--pgdata", str(self.dir / "monitor"), "--wait", "120"],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise FormationError(f"pg_autoctl perform switchover failed: {result.stderr[-1500:]}")
        return result.stderr + result.stdout
