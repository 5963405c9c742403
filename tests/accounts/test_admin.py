"""The accounts admin as an operator uses it: money as the API shows it, a constant number of
queries, newest first, actions that ask why and leave a trail, links to what an account touches,
and bad input from the browser answered in words (never a 500)."""

import re
import uuid
from datetime import timedelta

import pytest
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.messages import get_messages
from django.test import Client
from django.utils import timezone

from accounts.exceptions import AccountNotEmptyError
from accounts.models import Account
from ledger_project.admin_actions import (
    ACTION_MAX_OBJECTS,
    FILTER_INVALID,
    SELECTION_EMPTY,
    SELECTION_INVALID,
    SELECTION_TOO_LARGE,
)
from tests.factories import AccountFactory, UserFactory, funded_account, transfer

CHANGELIST = "/admin/accounts/account/"
CHANGE_PAGE = CHANGELIST + "{id}/change/"
HISTORY_PAGE = CHANGELIST + "{id}/history/"
ACTIVE, FROZEN, CLOSED = Account.Status.ACTIVE, Account.Status.FROZEN, Account.Status.CLOSED
# Session, operator, two counts, the page, the date hierarchy's two, the currency filter:
# whatever the page size.
LIST_MAX_QUERIES = 8
CHANGE_PAGE_MAX_QUERIES = 6


@pytest.fixture
def operator(db):
    return UserFactory(is_staff=True, is_superuser=True, email="operator@ledger.local")


@pytest.fixture
def admin_client(operator):
    client = Client(raise_request_exception=False)
    client.force_login(operator)
    return client


def run_action(admin_client, action, accounts, reason=None, **extra):
    """Post an action as the changelist does; with a reason, as its confirmation page does."""
    body = {"action": action, "_selected_action": [str(getattr(a, "id", a)) for a in accounts], **extra}
    if reason is None:
        body["index"] = 0
    else:
        body.update(confirm="yes", reason=reason)
    return admin_client.post(CHANGELIST, body, follow=True)


def messages_of(response):
    return [str(m) for m in get_messages(response.wsgi_request)]


def statuses(accounts):
    return dict(Account.objects.filter(id__in=[a.id for a in accounts]).values_list("id", "status"))


# --- 1. money as the API shows it, sortable by balance -----------------------------------------


def test_balances_read_as_the_api_shows_them(admin_client):
    account = funded_account("500.50")
    AccountFactory(currency="BDT")

    listing = admin_client.get(CHANGELIST)
    detail = admin_client.get(CHANGE_PAGE.format(id=account.id))

    assert b"500.50 INR" in listing.content
    assert b"0.00 BDT" in listing.content
    assert b"500.50 INR" in detail.content
    assert b"50050" not in listing.content


def test_accounts_sort_by_balance(admin_client):
    amounts = ["20.00", "3.00", "100.00"]
    for amount in amounts:
        funded_account(amount)
    column = admin_client.get(CHANGELIST).context["cl"].list_display.index("balance_display")

    ascending = admin_client.get(CHANGELIST, {"o": column, "is_system__exact": 0})
    descending = admin_client.get(CHANGELIST, {"o": f"-{column}", "is_system__exact": 0})

    assert [a.balance for a in ascending.context["cl"].result_list] == [300, 2000, 10000]
    assert [a.balance for a in descending.context["cl"].result_list] == [10000, 2000, 300]


# --- 2. a constant number of queries ------------------------------------------------------------


@pytest.mark.parametrize("rows", [1, 50])
def test_the_list_costs_the_same_queries_at_any_size(admin_client, django_assert_max_num_queries, rows):
    for _ in range(rows):
        AccountFactory()

    with django_assert_max_num_queries(LIST_MAX_QUERIES):
        response = admin_client.get(CHANGELIST)

    assert response.status_code == 200
    assert len(response.context["cl"].result_list) == rows


def test_the_change_page_costs_a_constant_number_of_queries(admin_client, django_assert_max_num_queries):
    account = funded_account("10.00")
    for _ in range(5):
        transfer(account, AccountFactory(), "1.00")

    with django_assert_max_num_queries(CHANGE_PAGE_MAX_QUERIES):
        response = admin_client.get(CHANGE_PAGE.format(id=account.id))

    assert response.status_code == 200


# --- 3. newest first, with a date hierarchy -----------------------------------------------------


def test_newest_first_with_a_date_hierarchy(admin_client):
    old, new = AccountFactory(), AccountFactory()
    Account.objects.filter(id=old.id).update(created_at=timezone.now() - timedelta(days=400))

    response = admin_client.get(CHANGELIST)
    this_year = admin_client.get(CHANGELIST, {"created_at__year": timezone.now().year})

    assert [a.id for a in response.context["cl"].result_list] == [new.id, old.id]
    assert response.context["cl"].date_hierarchy == "created_at"
    assert [a.id for a in this_year.context["cl"].result_list] == [new.id]


# --- 5. the action trail ------------------------------------------------------------------------


def test_freeze_asks_for_a_reason_first_and_changes_nothing(admin_client):
    account = AccountFactory()

    response = run_action(admin_client, "account_freeze_action", [account])

    assert response.status_code == 200
    assert "admin/action_reason.html" in [t.name for t in response.templates]
    assert account.owner.email.encode() in response.content
    assert statuses([account]) == {account.id: ACTIVE}
    assert not LogEntry.objects.exists()


@pytest.mark.parametrize("reason", ["", "   ", "a\x07bell", "x" * 501])
def test_without_a_valid_reason_the_form_comes_back_and_nothing_changes(admin_client, reason):
    account = AccountFactory()

    response = run_action(admin_client, "account_freeze_action", [account], reason=reason)

    assert response.status_code == 200
    assert response.context["form"].errors["reason"]
    assert statuses([account]) == {account.id: ACTIVE}
    assert not LogEntry.objects.exists()


def test_freeze_with_a_reason_is_logged_and_shown_in_the_history(admin_client, operator):
    account = AccountFactory()

    response = run_action(admin_client, "account_freeze_action", [account], reason="Card reported stolen")

    assert statuses([account]) == {account.id: FROZEN}
    assert response.redirect_chain[-1][0] == CHANGELIST
    entry = LogEntry.objects.get()
    assert (entry.user, entry.object_id, entry.action_flag) == (operator, str(account.id), CHANGE)
    assert entry.content_type.model_class() is Account
    assert entry.get_change_message() == "Frozen. Reason: Card reported stolen"
    assert timezone.now() - entry.action_time < timedelta(minutes=1)
    history = admin_client.get(HISTORY_PAGE.format(id=account.id))
    assert b"Frozen. Reason: Card reported stolen" in history.content
    assert operator.email.encode() in history.content


@pytest.mark.parametrize(
    "action, before, after, done",
    [
        ("account_freeze_action", ACTIVE, FROZEN, "Frozen"),
        ("account_unfreeze_action", FROZEN, ACTIVE, "Unfrozen"),
        ("account_close_action", FROZEN, CLOSED, "Closed"),
    ],
)
def test_status_actions_change_each_selected_account_and_log_each(admin_client, action, before, after, done):
    accounts = AccountFactory.create_batch(2, status=before)
    untouched = AccountFactory(status=before)

    run_action(admin_client, action, accounts, reason="Ticket 42")

    assert set(statuses(accounts).values()) == {after}
    assert statuses([untouched]) == {untouched.id: before}
    logged = LogEntry.objects.values_list("object_id", "change_message")
    assert sorted(logged) == sorted((str(a.id), f"{done}. Reason: Ticket 42") for a in accounts)


def test_a_failed_action_logs_nothing_and_says_why(admin_client):
    empty, funded = AccountFactory(), funded_account("1.00")

    response = run_action(admin_client, "account_close_action", [empty, funded], reason="Customer left")

    assert statuses([empty, funded]) == {empty.id: CLOSED, funded.id: ACTIVE}
    assert list(LogEntry.objects.values_list("object_id", flat=True)) == [str(empty.id)]
    assert any(m.endswith(AccountNotEmptyError.message) and str(funded.id)[:8] in m for m in messages_of(response))


def test_an_action_the_status_refuses_logs_nothing(admin_client):
    closed = AccountFactory(status=CLOSED)

    response = run_action(admin_client, "account_unfreeze_action", [closed], reason="Try")

    assert statuses([closed]) == {closed.id: CLOSED}
    assert not LogEntry.objects.exists()
    assert any("cannot become" in m for m in messages_of(response))


# --- 8. links from an account -------------------------------------------------------------------


def test_an_account_links_to_its_entries_transactions_and_owner(admin_client):
    account = funded_account("10.00")
    other = AccountFactory()
    transfer(account, other, "2.00")

    page = admin_client.get(CHANGE_PAGE.format(id=account.id)).content.decode()

    entries = f"/admin/transactions/ledgerentry/?account__id__exact={account.id}"
    transactions = f"/admin/transactions/transaction/?q={account.id}"
    assert f'href="{entries}"' in page
    assert f'href="{transactions}"' in page
    assert f'href="/admin/authn/user/{account.owner_id}/change/"' in page
    assert str(account.id) in page  # the full id on the detail page
    listed = admin_client.get(entries).context["cl"].result_list
    assert {e.account_id for e in listed} == {account.id} and len(listed) == 2
    assert admin_client.get(transactions).context["cl"].result_count == 2


def test_search_finds_an_account_by_short_id_or_owner_email(admin_client):
    account = AccountFactory(owner=UserFactory(email="ann.lee@example.com"))
    AccountFactory()

    for term in (str(account.id)[:8], "Ann.Lee@example", str(account.id)):
        found = admin_client.get(CHANGELIST, {"q": term}).context["cl"].result_list

        assert [a.id for a in found] == [account.id], term


# --- 12. lists fit: short ids, no wrapping ------------------------------------------------------


def test_the_list_shows_short_ids_on_one_line(admin_client):
    account = AccountFactory()

    page = admin_client.get(CHANGELIST).content.decode()

    assert f'<span title="{account.id}">{str(account.id)[:8]}</span>' in page
    assert not re.search(rf">\s*{account.id}\s*<", page)  # never the full id as text
    assert "accounts/changelist.css" in page


# --- the change page does not save ---------------------------------------------------------------


def test_the_change_page_is_read_only(admin_client):
    account = funded_account("5.00")

    page = admin_client.get(CHANGE_PAGE.format(id=account.id))
    response = admin_client.post(CHANGE_PAGE.format(id=account.id), {"status": "CLOSED", "balance": "0"})

    assert b'name="_save"' not in page.content
    assert response.status_code == 403
    account.refresh_from_db()
    assert (account.status, account.balance) == (ACTIVE, 500)


# --- bad input from the browser -----------------------------------------------------------------


@pytest.mark.parametrize("selected", [["not-a-uuid"], ["1' OR '1'='1"], [""]])
def test_a_forged_selection_is_refused_in_words(admin_client, selected):
    account = AccountFactory()

    for reason in (None, "Forged"):
        response = run_action(admin_client, "account_freeze_action", selected + [str(account.id)], reason=reason)

        assert response.status_code == 200
        assert SELECTION_INVALID in messages_of(response)
    assert statuses([account]) == {account.id: ACTIVE}
    assert not LogEntry.objects.exists()


def test_an_unknown_id_changes_nothing(admin_client):
    response = run_action(admin_client, "account_freeze_action", [uuid.uuid4()], reason="Gone")

    assert SELECTION_EMPTY.format(name="accounts") in messages_of(response)
    assert not LogEntry.objects.exists()


def test_a_selection_over_the_cap_is_refused(admin_client):
    accounts = AccountFactory.create_batch(ACTION_MAX_OBJECTS + 1)

    # "Select all N accounts": the page's ticked boxes, and the flag that means every one.
    response = run_action(admin_client, "account_freeze_action", accounts[:3], select_across=1)

    assert SELECTION_TOO_LARGE.format(limit=ACTION_MAX_OBJECTS, name="accounts") in messages_of(response)
    assert set(statuses(accounts).values()) == {ACTIVE}


@pytest.mark.parametrize(
    "query",
    [
        "created_at__year=99999",
        "created_at__year=0",
        "created_at__year=abc",
        "created_at__gte=yesterday",
        "balance__gt=99999999999999999999",
        "owner__id__exact=not-a-uuid",
        "id=42",
        "status__exact=NOPE",
        "o=99",
        "p=abc",
    ],
)
def test_a_bad_filter_is_never_a_500(admin_client, query):
    AccountFactory()

    response = admin_client.get(f"{CHANGELIST}?{query}", follow=True)

    assert response.status_code in (200, 400), response.status_code
    if response.redirect_chain:
        assert FILTER_INVALID in messages_of(response)


@pytest.mark.parametrize("page", [CHANGE_PAGE, HISTORY_PAGE])
@pytest.mark.parametrize("forged", ["not-a-uuid", str(uuid.uuid4())])
def test_a_forged_object_id_is_a_redirect_with_a_message(admin_client, page, forged):
    response = admin_client.get(page.format(id=forged), follow=True)

    assert response.status_code == 200
    assert any("doesn’t exist" in m for m in messages_of(response))


@pytest.mark.parametrize(
    "path",
    [
        CHANGELIST,
        CHANGE_PAGE,
        "/admin/authn/user/",
        "/admin/authn/user/{owner}/change/",
        "/admin/notifications/outboxemail/",
    ],
)
def test_admin_pages_render(admin_client, path):
    account = funded_account("500.50")

    response = admin_client.get(path.format(id=account.id, owner=account.owner_id))

    assert response.status_code == 200
