"""A request whose database connection is lost is run again inside the request on a new
connection (ledger_project/db_retry.py): a write with its idempotency key, so that a commit that
landed before the connection broke is answered, never applied twice; a GET as it is.

The connection is broken for real: the backend terminated (pg_terminate_backend) while the
request waits on a lock, or the socket closed right after a real COMMIT.
"""

import threading

import psycopg
import pytest
from django.db import OperationalError, connection, connections, transaction

from ledger_project.db_retry import connection_lost, retry_while_lost
from tests.factories import AccountFactory, funded_account
from tests.transactions.requests import TRANSACTIONS, transfer_body
from transactions.audit import ledger_verify
from transactions.models import Transaction

from . import processes
from .processes import connect, lock_waiter_pid, wait_for

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def accounts(user):
    return funded_account("100.00", owner=user), AccountFactory()


def transactions_with_key(key):
    return Transaction.objects.filter(idempotency__key=key).count()


def killed_while_waiting(table: str, send):
    """`send()` in a thread, blocked by a lock on `table`; its backend terminated mid-request, then
    the lock released: what `send()` answered."""
    blocker = connect()
    blocker.execute(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE")
    outcome = {}

    def run():
        try:
            outcome["response"] = send()
        finally:
            connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()
    try:
        processes.terminate_backend(wait_for(lock_waiter_pid, what="the request to block mid-way"))
    finally:
        blocker.rollback()
        blocker.close()
        thread.join()
    return outcome["response"]


def test_a_transfer_whose_backend_is_killed_mid_way_is_retried_in_the_request_and_written_once(auth_client, accounts):
    source, target = accounts
    body = transfer_body(source, target, "10.00", key="killed")
    # Blocked on its last insert (the outbox), after it claimed the key, locked both accounts and
    # wrote the transaction, entries and balances: all rolled back with the connection.
    response = killed_while_waiting(
        "notifications_outboxemail", lambda: auth_client.post(TRANSACTIONS, body, format="json")
    )

    assert response.status_code == 201, response.content
    assert "Idempotent-Replayed" not in response.headers
    assert transactions_with_key("killed") == 1
    source.refresh_from_db()
    assert source.balance == 90_00
    assert auth_client.post(TRANSACTIONS, body, format="json").status_code == 200  # a client's own retry replays
    assert transactions_with_key("killed") == 1
    assert ledger_verify().ok


def test_a_connection_lost_right_after_its_commit_is_answered_from_the_stored_write(auth_client, accounts, monkeypatch):
    source, target = accounts
    body = transfer_body(source, target, "10.00", key="after-commit")
    commits = []
    real_commit = type(connections["default"])._commit

    def commit_then_lose(self):
        # The COMMIT reaches the server and is durable; the answer is lost with the connection,
        # as when the server is shut down right then. Once.
        real_commit(self)
        commits.append("committed")
        if len(commits) == 1:
            self.connection.close()
            with self.wrap_database_errors:
                raise psycopg.OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(type(connections["default"]), "_commit", commit_then_lose)
    response = auth_client.post(TRANSACTIONS, body, format="json")
    monkeypatch.undo()

    # The retry found the key claimed by its own first attempt: the write's answer, written once.
    assert response.status_code == 201, response.content
    assert "Idempotent-Replayed" not in response.headers
    assert response.json()["transaction"]["id"] == str(Transaction.objects.get(idempotency__key="after-commit").id)
    assert response.json()["balances"]
    assert transactions_with_key("after-commit") == 1
    source.refresh_from_db()
    assert source.balance == 90_00
    replay = auth_client.post(TRANSACTIONS, body, format="json")
    assert replay.status_code == 200 and replay.headers["Idempotent-Replayed"] == "true"
    assert ledger_verify().ok


def test_a_read_whose_backend_is_killed_mid_way_is_run_again(auth_client, accounts):
    source, _ = accounts
    response = killed_while_waiting("accounts_account", lambda: auth_client.get("/api/accounts"))

    assert response.status_code == 200, response.content
    assert [account["id"] for account in response.json()["accounts"]] == [str(source.id)]


def test_retries_spent_answer_503_and_write_nothing(auth_client, accounts, settings):
    settings.DB_RETRY_SECONDS = 0
    source, target = accounts
    body = transfer_body(source, target, "10.00", key="spent")
    response = killed_while_waiting(
        "notifications_outboxemail", lambda: auth_client.post(TRANSACTIONS, body, format="json")
    )

    assert response.status_code == 503
    assert response.json()["code"] == "service_unavailable"
    assert transactions_with_key("spent") == 0


def lost_error() -> OperationalError:
    try:
        try:
            raise psycopg.OperationalError("server closed the connection unexpectedly")
        except psycopg.Error as exc:
            raise OperationalError(str(exc)) from exc
    except OperationalError as exc:
        return exc


def test_only_a_lost_connection_is_retried_and_never_inside_an_outer_atomic_block():
    def timeout_error():
        try:
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL statement_timeout = '1ms'; SELECT pg_sleep(0.1)")
        except OperationalError as exc:
            return exc

    assert connection_lost(lost_error())
    assert not connection_lost(timeout_error())  # a statement timeout: the statement, not the connection

    calls = []

    def fails_once():
        calls.append(1)
        if len(calls) == 1:
            raise lost_error()
        return "done"

    assert retry_while_lost(fails_once, what="test") == "done" and len(calls) == 2
    calls.clear()

    def times_out():
        calls.append(1)
        raise timeout_error()

    with pytest.raises(OperationalError):
        retry_while_lost(times_out, what="test")
    assert len(calls) == 1  # a timeout is the statement's: sent again it would wait again
    calls.clear()
    with pytest.raises(OperationalError), transaction.atomic():
        retry_while_lost(fails_once, what="test")
    assert len(calls) == 1


def test_a_batch_whose_backend_is_killed_mid_way_is_retried_in_the_request_and_written_once(auth_client, accounts):
    source, target = accounts
    body = {
        "idempotencyKey": "killed-batch",
        "transfers": [{"fromAccount": str(source.id), "toAccount": str(target.id), "amount": "10.00"}] * 2,
    }
    # Blocked on the batch's events insert, after its claim, its locks and its other rows.
    response = killed_while_waiting(
        "events_event", lambda: auth_client.post("/api/transactions/batch", body, format="json")
    )

    assert response.status_code == 201, response.content
    assert "Idempotent-Replayed" not in response.headers
    assert Transaction.objects.filter(batch__idempotency__key="killed-batch").count() == 2
    source.refresh_from_db()
    assert source.balance == 80_00
    assert ledger_verify().ok
