"""The service's data for the benchmark, made through its own services on the scratch database.

- a system user (system_user_ensure) whose INR funding account every funding debits;
- the pool: `users` users with `per_user` INR accounts each (account_open), each funded through
  funding_create. Users are inserted through the ORM with one precomputed password hash (login is
  not measured; a thousand Argon2 hashes take minutes); tokens come from tokens_issue;
- a reader with three accounts for the reads: `small` (funded `small_entries` times), `big` and its
  `partner` (funded through the service, then `big_entries - 1` transfers between them in bulk
  SQL: big_ledger_load). ledger_verify() must pass afterwards, or seeding fails.
"""

import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import psycopg

CURRENCY = "INR"
POOL_FUNDING = Decimal("100000.00")  # per pool account: far more than any run moves (0.01..0.99 each)
BIG_FUNDING = Decimal("1000000.00")
BULK_AMOUNT = Decimal("1.00")


SQL = Path(__file__).resolve().parent / "sql"


def sql_statements(name: str) -> list[str]:
    """The statements of a file in bench/sql/, split on semicolons (the files keep none in comments)."""
    return [statement for statement in (SQL / name).read_text().split(";") if statement.strip()]


class SeedError(RuntimeError):
    """The seeded data is not what the benchmark needs (verify_ledger failed, say)."""


@dataclass
class World:
    system_token: str
    users: list[tuple[str, list[str]]]  # (access token, the user's account ids)
    reader_token: str
    small_account_id: str
    big_account_id: str
    small_entries: int
    big_entries: int
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def accounts(self) -> int:
        return sum(len(accounts) for _, accounts in self.users)

    def users_file_text(self, users=None) -> str:
        """What the wrk scripts read: one line per user (of `users`, default all), its token then its accounts."""
        return "".join(f"{token} {' '.join(accounts)}\n" for token, accounts in users or self.users)


@contextmanager
def timed(timings: dict, name: str, log):
    start = time.monotonic()
    yield
    timings[name] = time.monotonic() - start
    log(f"  {name}: {timings[name]:.1f} s")


def world_seed(*, conninfo: dict, users: int, per_user: int, small_entries: int, big_entries: int, log=print) -> World:
    """Seed everything; Django must be set up on the stack's database (stack.env)."""
    from django.contrib.auth.hashers import make_password
    from django.db import connections, transaction

    from accounts.services import account_open
    from authn.models import User
    from authn.services import system_user_ensure, tokens_issue
    from transactions.audit import ledger_verify
    from transactions.services import funding_create

    timings: dict[str, float] = {}
    with timed(timings, "system user", log):
        system, _, _ = system_user_ensure(email="bench-system@example.com", name="Bench System")

    with timed(timings, f"{users:,} users (ORM, one precomputed password hash)", log):
        password = make_password("bench-user-password-never-used-to-log-in")
        # Zero-padded, so that ordering by email keeps each user's accounts together (bench_pick).
        people = [
            User(email=f"bench-user-{i:06d}@example.com", name=f"Bench User {i}", password=password)
            for i in range(users)
        ]
        reader = User(email="bench-reader@example.com", name="Bench Reader", password=password)
        User.objects.bulk_create([*people, reader], batch_size=1000)

    with timed(timings, f"{users * per_user:,} accounts (account_open)", log):
        pool = []
        for start in range(0, users, 100):
            with transaction.atomic():  # one commit per hundred users, not per account
                for user in people[start : start + 100]:
                    pool.append((user, [account_open(owner=user, currency=CURRENCY) for _ in range(per_user)]))
        small, big, partner = (account_open(owner=reader, currency=CURRENCY) for _ in range(3))

    with timed(timings, f"{users * per_user:,} fundings of {POOL_FUNDING} (funding_create)", log):
        for _, accounts in pool:
            for account in accounts:
                funding_create(
                    initiator=system,
                    to_account_id=account.id,
                    amount=POOL_FUNDING,
                    idempotency_key=f"bench-fund-{account.id}",
                )
        for i in range(small_entries):
            funding_create(
                initiator=system, to_account_id=small.id, amount=Decimal("10.00"), idempotency_key=f"bench-small-{i}"
            )
        for account in (big, partner):
            funding_create(
                initiator=system,
                to_account_id=account.id,
                amount=BIG_FUNDING,
                idempotency_key=f"bench-big-{account.id}",
            )

    connections.close_all()
    with timed(timings, f"{big_entries - 1:,} transfers big <-> partner (bulk SQL)", log):
        big_ledger_load(
            conninfo, big=str(big.id), partner=str(partner.id), initiator=str(reader.id), count=big_entries - 1
        )

    with timed(timings, "VACUUM ANALYZE", log), psycopg.connect(autocommit=True, **conninfo) as conn:
        conn.execute("VACUUM ANALYZE")
        conn.execute("CHECKPOINT")

    with timed(timings, "verify_ledger", log):
        report = ledger_verify()
        connections.close_all()
    if not report.ok:
        raise SeedError(f"verify_ledger failed after seeding:\n{report.summary()}")
    log(f"  {report.summary()}")
    with psycopg.connect(**conninfo) as conn:
        entries = conn.execute(
            "SELECT count(*) FROM transactions_ledgerentry WHERE account_id = %s", [big.id]
        ).fetchone()[0]
    if entries != big_entries:
        raise SeedError(f"the big account has {entries} entries, not {big_entries}")

    with timed(timings, "tokens (tokens_issue)", log):
        world = World(
            system_token=tokens_issue(user=system)[0],
            users=[(tokens_issue(user=user)[0], [str(a.id) for a in accounts]) for user, accounts in pool],
            reader_token=tokens_issue(user=reader)[0],
            small_account_id=str(small.id),
            big_account_id=str(big.id),
            small_entries=small_entries,
            big_entries=big_entries,
        )
    world.timings = timings
    return world


# --- the big account, in bulk: bench/sql/seed_big_ledger.sql says how ---------------------------------


def big_ledger_load(conninfo: dict, *, big: str, partner: str, initiator: str, count: int) -> None:
    from accounts.money import to_minor
    from transactions.services import Kind, idempotency_fingerprint

    amount = to_minor(BULK_AMOUNT, CURRENCY)
    if count <= 0:
        return
    with psycopg.connect(**conninfo) as conn, conn.transaction():
        conn.execute("SET LOCAL session_replication_role = replica")
        conn.execute("SET LOCAL synchronous_commit = off")
        conn.execute("SET LOCAL maintenance_work_mem = '256MB'")
        balances = dict(
            conn.execute(
                "SELECT id::text, balance FROM accounts_account WHERE id IN (%s, %s) FOR UPDATE", [big, partner]
            ).fetchall()
        )
        # Reserve id ranges; nothing else writes to the scratch database while seeding.
        key_base = conn.execute("SELECT nextval('transactions_idempotencykey_id_seq')").fetchone()[0]
        entry_base = conn.execute("SELECT nextval('transactions_ledgerentry_id_seq')").fetchone()[0]
        t0 = conn.execute("SELECT now()").fetchone()[0]
        params = {
            "big": big,
            "partner": partner,
            "initiator": initiator,
            "count": count,
            "amount": amount,
            "key_base": key_base,
            "entry_base": entry_base,
            "t0": t0,
            # The service's format with %s for the accounts and the amount, filled in by SQL's format().
            "fingerprint": idempotency_fingerprint(Kind.TRANSFER, "%s", "%s", "%s"),
            "big0": balances[big],
            "partner0": balances[partner],
        }
        for statement in sql_statements("seed_big_ledger.sql"):
            conn.execute(statement, params)
        odd = count % 2
        conn.execute(
            "UPDATE accounts_account SET balance = CASE WHEN id = %(big)s THEN %(big0)s - %(moved)s ELSE %(partner0)s + %(moved)s END,"
            " updated_at = %(t1)s WHERE id IN (%(big)s, %(partner)s)",
            {
                **params,
                "moved": odd * amount,
                "t1": conn.execute("SELECT %s::timestamptz + %s * interval '1 microsecond'", [t0, count]).fetchone()[0],
            },
        )
        conn.execute("SELECT setval('transactions_idempotencykey_id_seq', %s)", [key_base + count])
        conn.execute("SELECT setval('transactions_ledgerentry_id_seq', %s)", [entry_base + 2 * count + 1])


# --- limits: what checking them costs (transfer_limited) ---------------------------------------------

# Every limit of API.md set, none near binding at the amounts the wrk scripts move: the usage rows
# are upserted and every check runs, yet no transfer is declined.
BENCH_LIMITS = {
    "overdraft_limit": 100_00,
    "max_balance": 10**15,
    "per_transfer_max": 1_000_00,
    "daily_debit_amount": 10**12,
    "daily_debit_count": 10**9,
    "monthly_debit_amount": 10**13,
}


def limits_set(conninfo: dict, account_ids: list[str]) -> None:
    """BENCH_LIMITS on these accounts, in one statement (an operator would use the admin)."""
    assignments = ", ".join(f"{column} = %({column})s" for column in BENCH_LIMITS)
    with psycopg.connect(autocommit=True, **conninfo) as conn:
        conn.execute(
            f"UPDATE accounts_account SET {assignments} WHERE id = ANY(%(ids)s::uuid[])",
            {**BENCH_LIMITS, "ids": account_ids},
        )


# --- bench_pick: the pool numbered for pgbench ------------------------------------------------------


def pick_table_create(conninfo: dict, world: World) -> None:
    """A helper table of the scratch database only (not the schema's): pgbench picks accounts by
    number, as the Lua scripts pick them from the users file."""
    with psycopg.connect(autocommit=True, **conninfo) as conn:
        for statement in sql_statements("pick_table.sql"):
            conn.execute(statement)
        rows = conn.execute("SELECT count(*) FROM bench_pick").fetchone()[0]
    if rows != world.accounts:
        raise SeedError(f"bench_pick has {rows} rows, the pool {world.accounts} accounts")
