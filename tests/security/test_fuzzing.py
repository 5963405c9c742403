"""Schema-driven fuzzing: schemathesis generates requests, valid and invalid, for every operation
of the service's own OpenAPI schema and sends them through the WSGI app in this process.

Every answer must be documented (status, content type, body schema, headers), no answer may be a
5xx, schema-violating input must be refused, an operation that needs a token must refuse a
request without one, and the ledger's invariants (verify_ledger) must hold after every write.
The caller holds real tokens: a customer who owns funded accounts, and a system user for the two
system operations.

One check is left out: `positive_data_acceptance` expects every schema-valid request to succeed,
but the contract answers many of them with a 400 that no schema can express (an unknown
fromAccount is `invalid_account`, a weak password fails the validators, a cursor must be one the
API issued).
"""

import uuid
from decimal import Decimal

import pytest
import schemathesis
from django.core import signals
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from authn.services import tokens_issue
from ledger_project.wsgi import application
from tests.factories import AccountFactory, SystemUserFactory, UserFactory, account_fund, funded_account
from tests.transactions.state import assert_ledger_ok
from transactions.services import transfer_create

# 25 generated cases per operation, plus schemathesis's boundary ("coverage") cases and a probe of
# every undocumented method: about a minute on two cores. Derandomized, so a failure reproduces
# and CI cannot turn red by luck; no deadline, a slow machine is not a failure.
FUZZ_SETTINGS = settings(
    max_examples=50, deadline=None, derandomize=True, database=None, suppress_health_check=list(HealthCheck)
)
SYSTEM_OPERATIONS = ("/api/transactions/system/initial-funds", "/api/transactions/{transaction_id}/reverse")
AMOUNTS = ["0.01", "1", "12.50", 40]

# What the running test's ledger holds, by parameter or field name (filled by `fuzzing`).
KNOWN_IDS = {}


@pytest.fixture
def ledger(db):
    """Money in the ledger: the customer's funded accounts, another customer's, a completed
    transfer between them and a funding."""
    customer, stranger, system = UserFactory(), UserFactory(), SystemUserFactory()
    mine = funded_account("10000.00", owner=customer)
    spare = AccountFactory(owner=customer)
    dollars = AccountFactory(owner=customer, currency="USD")
    account_fund(dollars, "500.00", system=system)
    theirs = funded_account("300.00", owner=stranger)
    transfer = transfer_create(
        initiator=customer, from_account_id=mine.id, to_account_id=theirs.id, amount=Decimal("50"), idempotency_key="k"
    ).transaction
    funding = account_fund(spare, "25.00", system=system)
    return {
        "customer": customer,
        "system": system,
        "account_ids": [str(a.id) for a in (mine, spare, dollars, theirs)],
        "transaction_ids": [str(t.id) for t in (transfer, funding)],
    }


@pytest.fixture
def fuzzing(ledger, settings):
    # Throttling has its own tests; here the fuzzer must get past it to reach the code behind.
    settings.THROTTLE_RATES = {**settings.THROTTLE_RATES, "login": "10000/min", "register": "10000/min"}
    accounts = ledger["account_ids"]
    KNOWN_IDS.update({"account_id": accounts, "account": accounts, "transaction_id": ledger["transaction_ids"]})
    # Transfers from the customer's INR accounts, to any account. Hypothesis favours the first of
    # a list, so the first pair (mine -> theirs) is a valid transfer.
    mine, spare, dollars, theirs = accounts
    KNOWN_IDS.update({"fromAccount": [mine, spare], "toAccount": [theirs, spare, mine, dollars]})
    # Requests run on this thread's database connection, inside the test's transaction; like
    # Django's test client, keep the request signals from closing that connection.
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield ledger
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)
    KNOWN_IDS.clear()


def _is_id(value):
    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return True


def _mostly(alternatives, generated):
    """Three times in four one of `alternatives`, else what the fuzzer generated."""
    return st.one_of(*[st.sampled_from(alternatives)] * 3, st.just(generated))


@st.composite
def _lifelike(draw, case):
    """Nudge generated cases toward requests that get past validation, or nearly every write
    stops there and the ledger is never touched: mostly, a well-formed id becomes one that exists
    and an amount a small one; a write gets an idempotency key if it has none, and mostly loses
    the header when the body has a key too (the two rarely agree). Only schema-valid cases are
    touched, and only with schema-valid values, so they stay valid."""
    if case.meta is not None and case.meta.generation.mode.is_negative:
        return case  # a case built to break the schema stays as built: its checks expect a 4xx
    for values in (case.path_parameters, case.query, case.body):
        if not isinstance(values, dict):
            continue
        for name in KNOWN_IDS.keys() & values.keys():
            if _is_id(values[name]):
                values[name] = draw(_mostly(KNOWN_IDS[name], values[name]))
    if isinstance(case.body, dict) and "amount" in case.body:
        case.body["amount"] = draw(_mostly(AMOUNTS, case.body["amount"]))
        header_key = "Idempotency-Key" in (case.headers or {})
        if "idempotencyKey" not in case.body and not header_key:
            case.body["idempotencyKey"] = draw(st.uuids().map(str))
        elif "idempotencyKey" in case.body and header_key and draw(_mostly([True], False)):
            del case.headers["Idempotency-Key"]
    return case


# Read from the app itself, as a client reads /api/schema/ (that needs no database). The caller's
# real token is sent with every case, so schemathesis generates no Authorization header of its own
# (it still sends each secured operation once without one, expecting a 401).
schema = schemathesis.openapi.from_wsgi(
    "/api/schema/",
    application,
    config=schemathesis.Config.from_dict(
        {"generation": {"with-security-parameters": False}, "checks": {"positive_data_acceptance": {"enabled": False}}}
    ),
)


@schema.hook
def flatmap_case(ctx, case):
    return _lifelike(case)


@schema.parametrize()
@FUZZ_SETTINGS
def test_generated_requests_get_documented_answers_and_leave_the_ledger_balanced(case, fuzzing):
    caller = fuzzing["system"] if case.path in SYSTEM_OPERATIONS else fuzzing["customer"]
    access, _ = tokens_issue(user=caller)  # a fresh token each time: the fuzzer also logs out

    case.call_and_validate(headers={"Authorization": f"Bearer {access}"})

    if case.method.upper() != "GET":
        assert_ledger_ok()
