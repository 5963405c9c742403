"""Broken function level authorization (OWASP API5): functions above the caller's role refuse.

Minting money (initial-funds), reversing transactions and the admin belong to system users and
operators. An ordinary customer tries each on their own behalf: funding their own account,
clawing back a payment they made, and the admin pages and actions, with a session or a token.
"""

from decimal import Decimal

import pytest
from django.test import Client

from accounts.models import Account
from authn.exceptions import NotSystemUserError
from authn.services import tokens_issue
from tests.conftest import bearer_client
from tests.factories import PASSWORD, AccountFactory, UserFactory, funded_account
from transactions.models import Transaction
from transactions.services import transfer_create

ADMIN_PAGES = [
    "/admin/",
    "/admin/authn/user/",
    "/admin/accounts/account/",
    "/admin/transactions/transaction/",
    "/admin/transactions/ledgerentry/",
    "/admin/notifications/outboxemail/",
]


@pytest.fixture
def payment(user, other_user):
    """The customer paid someone 40.00 and would like it back."""
    source = funded_account("100.00", owner=user)
    return transfer_create(
        initiator=user,
        from_account_id=source.id,
        to_account_id=AccountFactory(owner=other_user).id,
        amount=Decimal("40"),
        idempotency_key="paid",
    ).transaction


def _ledger_state():
    return list(Transaction.objects.values_list("id", "status")), list(Account.objects.values_list("id", "balance"))


@pytest.mark.parametrize(
    "path, body",
    [
        (
            "/api/transactions/system/initial-funds",
            lambda p: {"toAccount": str(p.from_account_id), "amount": "1000000"},
        ),
        ("/api/transactions/{id}/reverse", lambda p: {"reason": "I changed my mind"}),
    ],
    ids=["fund-own-account", "claw-back-own-payment"],
)
def test_a_customer_cannot_mint_or_reverse(user, payment, path, body):
    before = _ledger_state()

    response = bearer_client(user).post(
        path.format(id=payment.id), {**body(payment), "idempotencyKey": "mine"}, format="json"
    )

    assert response.status_code == 403
    assert response.json() == {"message": NotSystemUserError.message, "code": "not_system_user"}
    assert _ledger_state() == before


def _session(user):
    browser = Client()
    browser.force_login(user)
    return browser


def _token_only(user):
    access, _ = tokens_issue(user=user)
    return Client(HTTP_AUTHORIZATION=f"Bearer {access}")


@pytest.mark.parametrize("login", [_session, _token_only], ids=["session", "bearer-token"])
@pytest.mark.parametrize("page", ADMIN_PAGES)
def test_the_admin_turns_a_customer_away(user, login, page):
    response = login(user).get(page)

    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


def test_a_customer_cannot_log_in_to_the_admin(user):
    browser = Client()

    browser.post("/admin/login/", {"username": user.email, "password": PASSWORD})

    assert browser.get("/admin/").status_code == 302


@pytest.mark.parametrize(
    "changelist, action",
    [("/admin/accounts/account/", "account_freeze_action"), ("/admin/transactions/transaction/", "reverse_selected")],
)
@pytest.mark.parametrize("role", ["customer", "staff-without-permissions"])
def test_admin_actions_refuse_callers_without_the_role(payment, changelist, action, role):
    caller = UserFactory(is_staff=role != "customer")
    target = payment.to_account_id if "account" in changelist else payment.id
    before = _ledger_state()

    response = _session(caller).post(changelist, {"action": action, "_selected_action": [str(target)], "index": 0})

    assert response.status_code == (302 if role == "customer" else 403)
    assert _ledger_state() == before
    assert Account.objects.get(id=payment.to_account_id).status == Account.Status.ACTIVE
