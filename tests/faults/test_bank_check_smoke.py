"""The bank check (bench/bank_check.py), briefly: its own gunicorn on a scratch database, 4 clients
for 5 s with the nemesis killing a backend every second, then every check. About 15 s; the real
run is `make bank-check` (60 s, 32 clients)."""

import subprocess
import sys
import uuid
from pathlib import Path

from bench.stack import Stack

ROOT = Path(__file__).resolve().parents[2]


def test_bank_check_passes_with_backends_killed():
    # A database of its own, so two suites running at once never drop each other's.
    database = f"ledger_bankcheck_smoke_{uuid.uuid4().hex[:8]}"
    command = [
        sys.executable, str(ROOT / "bench" / "bank_check.py"),
        "--seconds", "5", "--clients", "4", "--nemesis", "--nemesis-interval", "1",
        "--database", database, "--seed", "smoke",
    ]
    try:
        result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
    finally:
        stack = Stack(database=database)
        stack.database_drop()
        stack.log_path.unlink(missing_ok=True)

    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "bank check: PASS" in result.stdout.splitlines(), output
    assert "nemesis     " in result.stdout, output
