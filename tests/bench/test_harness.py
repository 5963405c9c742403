"""The bench harness's own checks (bench/run.py), cheaply: the full run is `make bench-smoke`."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from authn.services import tokens_issue
from bench.run import SQL, script_statements, transfer_round_trips
from bench.seed import World
from tests.factories import AccountFactory, funded_account

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.django_db(transaction=True)  # the transfer's own BEGIN and COMMIT, as under gunicorn
def test_a_transfer_makes_as_many_round_trips_as_the_sql_ceiling_script(user, other_user):
    # The bench refuses to measure sql_ceiling when these differ: the script must follow the hot path.
    source, target = funded_account("100.00", owner=user), AccountFactory(owner=other_user)
    users = [(tokens_issue(user=user)[0], [str(source.id)]), (tokens_issue(user=other_user)[0], [str(target.id)])]
    world = World("", users, "", "", "", 0, 0)

    trips = transfer_round_trips(world)

    assert ("BEGIN" in trips, trips[-1]) == (True, "COMMIT")
    assert len(trips) == script_statements(SQL / "transfer.sql"), trips


@pytest.mark.django_db(transaction=True)
def test_a_batch_makes_as_many_round_trips_as_the_sql_batch_script(user, other_user):
    # Its ceiling is the same conversation with PostgreSQL, whatever the batch's size.
    source, target = funded_account("100.00", owner=user), AccountFactory(owner=other_user)
    users = [(tokens_issue(user=user)[0], [str(source.id)]), (tokens_issue(user=other_user)[0], [str(target.id)])]
    world = World("", users, "", "", "", 0, 0)

    trips = transfer_round_trips(world, batch_size=100)

    assert ("BEGIN" in trips, trips[-1]) == (True, "COMMIT")
    assert len(trips) == script_statements(SQL / "sql_batch.sql"), trips


def test_sql_minimal_is_the_eight_round_trip_transfer():
    assert script_statements(SQL / "minimal.sql") == 8


def test_the_bench_stops_before_it_seeds_when_a_tool_is_missing(tmp_path):
    # A PATH with everything the bench runs but wrk.
    for tool in filter(shutil.which, ("git", "pgbench")):
        (tmp_path / tool).symlink_to(shutil.which(tool))
    database = "ledger_bench_never_created"
    result = subprocess.run(
        [sys.executable, "bench/run.py", "--smoke", "--database", database],
        cwd=ROOT,
        env={**os.environ, "PATH": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stdout.startswith("bench: ERROR (wrk") and "not found" in result.stdout, result.stdout
