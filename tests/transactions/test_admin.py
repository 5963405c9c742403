"""The transaction admin: a read-only ledger shown as the API shows it, newest first, linked both
ways and searchable by owner; reversal through a confirmation page; CSV export of what a list shows."""

import csv
import io
import re
import uuid
from decimal import Decimal

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.messages import get_messages
from django.test import Client

from ledger_project.admin_display import short_id
from tests.concurrency import run_concurrently
from tests.factories import AccountFactory, UserFactory, account_fund, funded_account, transfer
from transactions.admin_reverse import EXPIRED_FORM_MESSAGE, NOT_SYSTEM_USER_MESSAGE
from transactions.exceptions import AlreadyReversedError, NotReversibleError
from transactions.models import LedgerEntry, Transaction
from transactions.services import transaction_reverse, transfer_create

from .state import assert_ledger_ok, balances

TRANSACTIONS = "/admin/transactions/transaction/"
ENTRIES = "/admin/transactions/ledgerentry/"


def logged_in(user, **kwargs) -> Client:
    client = Client(**kwargs)
    client.force_login(user)
    return client


@pytest.fixture
def operator(db):
    """A superuser who is also a system user: sees everything and may reverse."""
    return UserFactory(is_staff=True, is_superuser=True, is_system=True)


@pytest.fixture
def admin_client(operator):
    return logged_in(operator)


@pytest.fixture
def staff_client(db):
    """A superuser who is not a system user: sees everything, may not reverse."""
    return logged_in(UserFactory(is_staff=True, is_superuser=True))


@pytest.fixture
def completed(user, other_user):
    """A COMPLETED 40.00 INR transfer from user's account (100.00 funded) to other_user's empty one."""
    source = funded_account("100.00", owner=user)
    target = AccountFactory(owner=other_user)
    return transfer_create(
        initiator=user, from_account_id=source.id, to_account_id=target.id, amount=Decimal("40"), idempotency_key="k"
    ).transaction


def messages_of(response):
    return [(m.level_tag, str(m.message)) for m in get_messages(response.wsgi_request)]


def text_of(response) -> str:
    return response.content.decode()


def change_url(transaction_id) -> str:
    return f"{TRANSACTIONS}{transaction_id}/change/"


def reverse_url(transaction_id) -> str:
    return f"{TRANSACTIONS}{transaction_id}/reverse/"


def account_url(account) -> str:
    return f"/admin/accounts/account/{account.id}/change/"


def listed_ids(response) -> list:
    return [obj.pk for obj in response.context["cl"].result_list]


# --- Money as the API shows it (issue 12, item 1) ------------------------------------------------


def test_amounts_and_balances_show_as_the_api_shows_them(admin_client, user, other_user):
    source = funded_account("99999.00", owner=user)
    target = funded_account("50050.00", owner=other_user)
    txn = transfer(source, target, "99999.00")
    entry = txn.entries.get(type="CREDIT")

    pages = {
        "transactions": admin_client.get(TRANSACTIONS),
        "transaction": admin_client.get(change_url(txn.id)),
        "entries": admin_client.get(ENTRIES),
        "entry": admin_client.get(f"{ENTRIES}{entry.id}/change/"),
    }

    for name, page in pages.items():
        assert page.status_code == 200, name
        assert "99999.00 INR" in text_of(page), name
        assert "9999900" not in text_of(page), name
    # The inline and the entries show each balance after, with its currency.
    for name in ("transaction", "entries", "entry"):
        assert "150049.00 INR" in text_of(pages[name]), name  # the receiver's balance after
    assert "0.00 INR" in text_of(pages["transaction"])  # the sender's


# --- A constant number of queries per page (item 2) --------------------------------------------


def transfers_between_many_owners(count: int):
    """`count` transfers, each between two accounts of their own: a list of them names 2 × count
    accounts and owners, what made the old list send a query per cell."""
    for _ in range(count):
        transfer(funded_account("10.00"), AccountFactory(), "1.00")


@pytest.mark.parametrize("url", [TRANSACTIONS, ENTRIES])
@pytest.mark.parametrize("rows", [1, 50])
def test_a_list_page_sends_a_fixed_number_of_queries(admin_client, django_assert_max_num_queries, url, rows):
    transfers_between_many_owners(rows)

    with django_assert_max_num_queries(7):
        response = admin_client.get(url)

    assert response.status_code == 200
    assert response.context["cl"].result_count >= rows


@pytest.mark.parametrize("rows", [1, 50])
def test_a_detail_page_sends_a_fixed_number_of_queries(admin_client, django_assert_max_num_queries, rows):
    transfers_between_many_owners(rows)
    txn = Transaction.objects.filter(kind="TRANSFER").first()
    reversal = transaction_reverse(initiator=UserFactory(is_system=True), transaction_id=txn.id, idempotency_key="r")
    entry = txn.entries.first()

    for url in (change_url(txn.id), change_url(reversal.transaction.id), f"{ENTRIES}{entry.id}/change/"):
        with django_assert_max_num_queries(5):
            assert admin_client.get(url).status_code == 200


# --- Newest first, by date (item 3) -------------------------------------------------------------


def test_newest_first_with_a_date_hierarchy(admin_client, user, other_user):
    source = funded_account("100.00", owner=user)
    target = AccountFactory(owner=other_user)
    first, second, third = (transfer(source, target, "1.00") for _ in range(3))

    transactions = admin_client.get(TRANSACTIONS, {"kind": "TRANSFER"})
    entries = admin_client.get(ENTRIES, {"account__id__exact": target.id})
    year = admin_client.get(TRANSACTIONS, {"created_at__year": third.created_at.year})

    assert listed_ids(transactions) == [third.id, second.id, first.id]
    assert [entry.transaction_id for entry in entries.context["cl"].result_list] == [third.id, second.id, first.id]
    assert transactions.context["cl"].date_hierarchy == entries.context["cl"].date_hierarchy == "created_at"
    assert third.id in listed_ids(year)


# --- Links both ways, short ids in lists, search by owner (items 8 and 12) ---------------------


def test_a_transaction_links_to_its_accounts_entries_and_reversal(admin_client, operator, completed):
    reversal = transaction_reverse(initiator=operator, transaction_id=completed.id, idempotency_key="x").transaction
    page = text_of(admin_client.get(change_url(completed.id)))

    assert f'href="{account_url(completed.from_account)}"' in page
    assert f'href="{account_url(completed.to_account)}"' in page
    assert completed.from_account.owner.email in page and completed.to_account.owner.email in page
    for entry in completed.entries.all():
        assert f'href="{ENTRIES}{entry.id}/change/"' in page
    assert f'href="{change_url(reversal.id)}"' in page  # to the reversal...
    assert f'href="{change_url(completed.id)}"' in text_of(admin_client.get(change_url(reversal.id)))  # ...and back
    assert str(completed.id) in page  # full ids on the detail page


def test_the_list_links_reversals_both_ways_with_short_ids(admin_client, operator, completed):
    reversal = transaction_reverse(initiator=operator, transaction_id=completed.id, idempotency_key="x").transaction

    page = text_of(admin_client.get(TRANSACTIONS))

    assert re.search(rf'by <a href="{change_url(reversal.id)}" title="{reversal.id}">{short_id(reversal.id)}</a>', page)
    assert re.search(
        rf'of <a href="{change_url(completed.id)}" title="{completed.id}">{short_id(completed.id)}</a>', page
    )
    assert f">{completed.id}<" not in page  # no full id as text in a list


@pytest.mark.parametrize("url", [TRANSACTIONS, ENTRIES])
def test_list_cells_are_short_enough_for_one_line(admin_client, operator, completed, url):
    # With the stylesheet's nowrap, a 1440 px screen holds every column (checked in a browser:
    # the transactions table is 791 px wide beside both sidebars) as long as no cell grows:
    # short ids, times to the minute, owners' emails only on hover.
    transaction_reverse(initiator=operator, transaction_id=completed.id, idempotency_key="x")
    transfer(completed.from_account, AccountFactory(), "1000.00")  # declined: a failure reason

    page = text_of(admin_client.get(url))

    body = page.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    cells = [re.sub(r"<[^>]+>", "", cell).strip() for cell in re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", body, re.S)]
    assert cells and max(map(len, cells)) <= 20, max(cells, key=len)
    assert "transactions/admin_lists.css" in page


def test_an_entry_links_to_its_transaction_and_account(admin_client, completed):
    entry = completed.entries.get(type="DEBIT")

    listing = text_of(admin_client.get(ENTRIES))
    page = text_of(admin_client.get(f"{ENTRIES}{entry.id}/change/"))

    for text in (listing, page):
        assert f'href="{change_url(completed.id)}"' in text
        assert f'href="{account_url(entry.account)}"' in text
    assert f">{completed.id}<" in page and f">{entry.account_id}<" in page


@pytest.mark.parametrize("side", ["from_account", "to_account"])
def test_search_transactions_by_owner_email_or_name(admin_client, completed, side):
    owner = getattr(completed, side).owner
    unrelated = transfer(funded_account("5.00"), AccountFactory(), "1.00")

    for term in (owner.email, owner.email.upper(), owner.name):
        found = listed_ids(admin_client.get(TRANSACTIONS, {"q": term}))
        assert completed.id in found, term
        assert unrelated.id not in found, term


def test_search_transactions_by_id_or_its_first_characters(admin_client, completed):
    others = {t.id for t in Transaction.objects.exclude(id=completed.id)}

    by_short_id = listed_ids(admin_client.get(TRANSACTIONS, {"q": short_id(completed.id)}))
    by_id = listed_ids(admin_client.get(TRANSACTIONS, {"q": str(completed.id)}))
    # An account's page links its transactions as ?q=<account id> (the accounts admin).
    by_account = listed_ids(admin_client.get(TRANSACTIONS, {"q": str(completed.to_account_id)}))

    assert completed.id in by_short_id and not others & set(by_id)
    assert by_id == [completed.id]
    assert set(by_account) == {completed.id}


def test_search_entries_by_owner_email_and_filter_by_account(admin_client, completed):
    receiver = completed.to_account

    by_email = admin_client.get(ENTRIES, {"q": receiver.owner.email})
    # An account's page links its entries as ?account__id__exact=<account id> (the accounts admin).
    by_account = admin_client.get(ENTRIES, {"account__id__exact": receiver.id})

    assert {e.account_id for e in by_email.context["cl"].result_list} == {receiver.id}
    assert by_account.status_code == 200 and "e" not in by_account.wsgi_request.GET
    assert [e.id for e in by_account.context["cl"].result_list] == [completed.entries.get(type="CREDIT").id]


@pytest.mark.parametrize(
    "params",
    [
        {"q": "zz-not-an-id"},
        {"q": "'; select 1; --"},
        {"q": "\u00e9" * 300},
        {"q": "\u202e"},
        {"q": "f" * 40},
        {"account__id__exact": "not-a-uuid"},
        {"created_at__year": "2026", "created_at__month": "13"},
        {"created_at__year": "2026", "created_at__month": "2", "created_at__day": "31"},
        {"created_at__year": "99999"},
        {"o": "99"},
        {"p": "abc"},
        {"kind__exact": "NOPE"},
    ],
)
def test_odd_searches_and_filters_are_never_a_500(admin_client, completed, params):
    for url in (
        TRANSACTIONS,
        ENTRIES,
        "/admin/notifications/outboxemail/",
        f"{TRANSACTIONS}export/",
        f"{ENTRIES}export/",
    ):
        response = admin_client.get(url, params)
        assert response.status_code in (200, 302), (url, response.status_code)
        if response.streaming:
            b"".join(response.streaming_content)  # an export fails, if at all, while it streams


# --- Read-only ----------------------------------------------------------------------------------


def test_detail_pages_are_view_only(admin_client, completed):
    entry = completed.entries.first()

    for url in (change_url(completed.id), f"{ENTRIES}{entry.id}/change/"):
        response = admin_client.get(url)
        assert response.status_code == 200
        assert not response.context["has_change_permission"]
        assert not response.context["has_delete_permission"]


@pytest.mark.parametrize("url", [f"{TRANSACTIONS}add/", f"{ENTRIES}add/"])
def test_nothing_can_be_added(admin_client, url):
    assert admin_client.get(url).status_code == 403
    assert admin_client.post(url, {}).status_code == 403
    assert not Transaction.objects.exists()


def test_nothing_can_be_changed_or_deleted(admin_client, completed):
    entry = completed.entries.first()

    change = admin_client.post(change_url(completed.id), {"status": "FAILED", "amount": 1})
    delete = admin_client.post(f"{TRANSACTIONS}{completed.id}/delete/", {"post": "yes"})
    delete_entry = admin_client.post(f"{ENTRIES}{entry.id}/delete/", {"post": "yes"})

    assert (change.status_code, delete.status_code, delete_entry.status_code) == (403, 403, 403)
    completed.refresh_from_db()
    assert (completed.status, completed.amount) == ("COMPLETED", 40_00)
    assert LedgerEntry.objects.filter(id=entry.id).exists()


def test_the_admin_is_for_staff_only(user, completed):
    browser = logged_in(user)

    for url in (TRANSACTIONS, reverse_url(completed.id), f"{TRANSACTIONS}export/"):
        response = browser.get(url)
        assert response.status_code == 302
        assert "/admin/login/" in response["Location"]
    browser.post(reverse_url(completed.id), {"reason": "mine now", "nonce": str(uuid.uuid4())})
    assert Transaction.objects.get(id=completed.id).status == "COMPLETED"


# --- Reversal: one transaction, a confirmation page, a reason (items 6 and 7) ------------------


def confirmation_form(client, txn) -> dict:
    """Load the confirmation page and return the form it offers, filled in with a reason."""
    response = client.get(reverse_url(txn.id))
    assert response.status_code == 200
    return {"reason": "Customer dispute #42", "nonce": str(response.context["form"].initial["nonce"])}


def reversals_of(txn):
    return Transaction.objects.filter(reverses=txn)


def test_the_change_page_offers_reversal_to_system_users_only(admin_client, staff_client, completed):
    button = f'href="{reverse_url(completed.id)}"'

    assert button in text_of(admin_client.get(change_url(completed.id)))
    assert button not in text_of(staff_client.get(change_url(completed.id)))


def test_the_confirmation_page_shows_what_will_move(admin_client, completed):
    response = admin_client.get(reverse_url(completed.id))
    page = text_of(response)

    assert response.status_code == 200
    assert "40.00 INR" in page
    receiver, sender = completed.to_account, completed.from_account
    # The receiver is debited from 40.00 to 0.00, the sender credited from 60.00 to 100.00.
    rows = re.findall(r"<tr>\s*<th scope=\"row\">(.*?)</th>(.*?)</tr>", page, re.S)
    assert [label for label, _ in rows] == ["Debited (the original receiver)", "Credited (the original sender)"]
    assert str(receiver.id) in rows[0][1] and "40.00 INR" in rows[0][1] and "0.00 INR" in rows[0][1]
    assert str(sender.id) in rows[1][1] and "60.00 INR" in rows[1][1] and "100.00 INR" in rows[1][1]
    assert receiver.owner.email in rows[0][1] and sender.owner.email in rows[1][1]
    assert 'name="reason"' in page and 'name="nonce"' in page and "csrfmiddlewaretoken" in page
    assert Transaction.objects.get(id=completed.id).status == "COMPLETED"  # a GET changes nothing


def test_reverse_with_a_reason(admin_client, operator, completed):
    form = confirmation_form(admin_client, completed)

    response = admin_client.post(reverse_url(completed.id), form, follow=True)

    assert response.redirect_chain == [(change_url(completed.id), 302)]
    reversal = reversals_of(completed).get()
    assert (reversal.kind, reversal.status, reversal.initiator) == ("REVERSAL", "COMPLETED", operator)
    assert reversal.reason == "Customer dispute #42"
    assert reversal.idempotency.key == f"admin-reverse:{completed.id}:{form['nonce']}"
    assert Transaction.objects.get(id=completed.id).status == "REVERSED"
    assert balances(completed.from_account, completed.to_account) == [100_00, 0]
    assert messages_of(response) == [
        (
            "success",
            f'Reversed: 40.00 INR moved back by <a href="{change_url(reversal.id)}" title="{reversal.id}">'
            f"{reversal.id}</a>.",
        )
    ]
    # The trail: the original's history says who reversed it, when and why.
    log = LogEntry.objects.get(object_id=str(completed.id))
    assert log.user == operator and "Customer dispute #42" in log.get_change_message()
    assert_ledger_ok()


def test_the_same_form_posted_twice_reverses_once(admin_client, completed):
    form = confirmation_form(admin_client, completed)

    admin_client.post(reverse_url(completed.id), form, follow=True)
    again = admin_client.post(reverse_url(completed.id), form, follow=True)

    reversal = reversals_of(completed).get()
    assert reversal.status == "COMPLETED"
    [(level, message)] = messages_of(again)
    assert level == "success" and str(reversal.id) in message and "submitted already" in message
    assert LogEntry.objects.filter(object_id=str(completed.id)).count() == 1
    assert_ledger_ok()


def test_a_new_page_cannot_reverse_twice(admin_client, completed):
    first, second = confirmation_form(admin_client, completed), confirmation_form(admin_client, completed)
    admin_client.post(reverse_url(completed.id), first, follow=True)

    response = admin_client.post(reverse_url(completed.id), second, follow=True)

    assert messages_of(response) == [("error", AlreadyReversedError.message)]
    assert reversals_of(completed).count() == 1
    # And the page itself is no longer offered.
    again = admin_client.get(reverse_url(completed.id), follow=True)
    assert again.redirect_chain == [(change_url(completed.id), 302)]
    assert messages_of(again) == [("error", AlreadyReversedError.message)]


def spend_everything(account):
    transfer(account, AccountFactory(), format(Decimal(account.balance) / 100, ".2f"))


def test_a_declined_reversal_can_be_retried_from_a_new_page(admin_client, completed):
    spend_everything(completed.to_account)  # the receiver spent the 40.00: the reversal is declined
    declined_form = confirmation_form(admin_client, completed)

    declined = admin_client.post(reverse_url(completed.id), declined_form, follow=True)

    attempt = reversals_of(completed).get()
    assert (attempt.status, attempt.failure_reason) == ("FAILED", "insufficient_funds")
    [(level, message)] = messages_of(declined)
    assert level == "error" and message.startswith("Reversal declined: Insufficient funds.")
    assert Transaction.objects.get(id=completed.id).status == "COMPLETED"

    account_fund(completed.to_account, "40.00")
    # The old form replays its decline; a page loaded now carries a new key, and reverses.
    replay = admin_client.post(reverse_url(completed.id), declined_form, follow=True)
    retry = admin_client.post(reverse_url(completed.id), confirmation_form(admin_client, completed), follow=True)

    assert messages_of(replay)[0][1].startswith("Reversal declined:")
    assert messages_of(retry)[0][0] == "success"
    assert list(reversals_of(completed).order_by("created_at").values_list("status", flat=True)) == [
        "FAILED",
        "COMPLETED",
    ]
    assert Transaction.objects.get(id=completed.id).status == "REVERSED"
    assert_ledger_ok()


def test_a_declined_form_posted_twice_is_one_attempt(admin_client, completed):
    spend_everything(completed.to_account)
    form = confirmation_form(admin_client, completed)

    admin_client.post(reverse_url(completed.id), form)
    admin_client.post(reverse_url(completed.id), form)

    assert reversals_of(completed).count() == 1


def test_a_reason_with_a_nul_is_a_form_error(admin_client, completed):
    # PostgreSQL cannot store a NUL: the form refuses it before the service is called.
    form = {**confirmation_form(admin_client, completed), "reason": "dispute\x00"}

    response = admin_client.post(reverse_url(completed.id), form)

    assert response.status_code == 200 and "reason" in response.context["form"].errors
    assert not reversals_of(completed).exists()


@pytest.mark.parametrize("declined", [False, True])
def test_the_same_form_posted_at_once_is_one_attempt(transactional_db, operator, completed, declined):
    # A double click that really races: the posts run at the same moment, each on its own
    # connection; the key's claim makes all but one wait and replay the one outcome.
    if declined:
        spend_everything(completed.to_account)
    form = confirmation_form(logged_in(operator), completed)
    browsers = [logged_in(operator) for _ in range(8)]

    results, errors = run_concurrently(
        [lambda b=b: b.post(reverse_url(completed.id), form, follow=True) for b in browsers], workers=8
    )

    assert errors == [None] * 8
    assert reversals_of(completed).count() == 1
    levels = {messages_of(response)[0][0] for response in results}
    assert levels == ({"error"} if declined else {"success"})
    assert_ledger_ok()


@pytest.mark.parametrize("reason", ["", "   "])
def test_a_reason_is_required(admin_client, completed, reason):
    form = {**confirmation_form(admin_client, completed), "reason": reason}

    response = admin_client.post(reverse_url(completed.id), form)

    assert response.status_code == 200
    assert response.context["form"].errors == {"reason": ["Give the reason for this reversal."]}
    assert not reversals_of(completed).exists()


def test_a_reason_too_long_is_a_form_error(admin_client, completed):
    form = {**confirmation_form(admin_client, completed), "reason": "x" * 501}

    response = admin_client.post(reverse_url(completed.id), form)

    assert response.status_code == 200 and "reason" in response.context["form"].errors
    assert not reversals_of(completed).exists()


@pytest.mark.parametrize("nonce", [None, "", "not-a-uuid", "x" * 300])
def test_a_tampered_form_changes_nothing(admin_client, completed, nonce):
    form = {"reason": "dispute"} if nonce is None else {"reason": "dispute", "nonce": nonce}

    response = admin_client.post(reverse_url(completed.id), form, follow=True)

    assert response.redirect_chain == [(reverse_url(completed.id), 302)]
    assert messages_of(response) == [("error", EXPIRED_FORM_MESSAGE)]
    assert not reversals_of(completed).exists()


def test_only_system_users_may_reverse(staff_client, completed):
    page = staff_client.get(reverse_url(completed.id), follow=True)
    post = staff_client.post(reverse_url(completed.id), {"reason": "dispute", "nonce": str(uuid.uuid4())}, follow=True)

    for response in (page, post):
        assert response.redirect_chain == [(change_url(completed.id), 302)]
        assert messages_of(response) == [("error", NOT_SYSTEM_USER_MESSAGE)]
    assert not reversals_of(completed).exists()
    assert Transaction.objects.get(id=completed.id).status == "COMPLETED"


def test_the_confirmation_needs_the_csrf_token(operator, completed):
    browser = logged_in(operator, enforce_csrf_checks=True)

    response = browser.post(reverse_url(completed.id), {"reason": "dispute", "nonce": str(uuid.uuid4())})

    assert response.status_code == 403
    assert not reversals_of(completed).exists()


@pytest.mark.parametrize("object_id", ["not-a-uuid", "00000000-0000-0000-0000-000000000000", "1' OR '1'='1", "%00"])
def test_a_forged_id_is_a_clear_message(admin_client, completed, object_id):
    for response in (
        admin_client.get(reverse_url(object_id), follow=True),
        admin_client.post(reverse_url(object_id), {"reason": "x", "nonce": str(uuid.uuid4())}, follow=True),
    ):
        assert response.status_code in (200, 400, 404)
        if response.status_code == 200:
            assert response.redirect_chain == [(TRANSACTIONS, 302)]
            assert messages_of(response)[0][0] == "warning"
    assert not reversals_of(completed).exists()


def test_what_cannot_be_reversed_is_not_offered(admin_client, operator, completed):
    spend_everything(completed.to_account)
    failed = transfer(completed.to_account, AccountFactory(), "1.00")
    reversal = transaction_reverse(initiator=operator, transaction_id=completed.id, idempotency_key="declined")
    funding = Transaction.objects.filter(kind="FUNDING").first()
    reversed_funding = transaction_reverse(initiator=operator, transaction_id=funding.id, idempotency_key="f")

    for txn in (failed, reversal.transaction, reversed_funding.transaction):
        response = admin_client.get(reverse_url(txn.id), follow=True)
        assert messages_of(response) == [("error", NotReversibleError.message)], txn.kind
        assert f'href="{reverse_url(txn.id)}"' not in text_of(response)


def test_the_list_action_opens_the_confirmation_page_for_one_transaction(admin_client, staff_client, completed):
    other = Transaction.objects.exclude(id=completed.id).first()

    def action(client, ids):
        body = {"action": "reverse_selected", "_selected_action": [str(i) for i in ids], "index": 0}
        return client.post(TRANSACTIONS, body, follow=True)

    one = action(admin_client, [completed.id])
    two = action(admin_client, [completed.id, other.id])

    assert one.redirect_chain[-1] == (reverse_url(completed.id), 302)
    assert messages_of(two) == [("error", "Select exactly one transaction to reverse.")]
    assert not reversals_of(completed).exists()
    # Neither reversal nor bulk delete is offered to others: no action at all is left.
    assert staff_client.get(TRANSACTIONS).context["action_form"] is None


# --- CSV export of what the list shows ---------------------------------------------------------


def export(client, url, params=None):
    response = client.get(f"{url}export/", params or {})
    assert response.status_code == 200, response.status_code
    assert response.streaming and response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith("attachment; filename=")
    return list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))


def test_the_changelists_offer_the_export_of_what_they_show(admin_client, completed):
    for url in (TRANSACTIONS, ENTRIES):
        page = text_of(admin_client.get(url, {"q": "user", "kind": "TRANSFER"} if url == TRANSACTIONS else {}))
        assert re.search(rf'href="{url}export/\?[^"]*"[^>]*>Export CSV<', page)
    assert f'href="{TRANSACTIONS}export/?kind=TRANSFER&amp;q=user"' in text_of(
        admin_client.get(TRANSACTIONS, {"q": "user", "kind": "TRANSFER"})
    )


def test_export_transactions_as_filtered(admin_client, completed):
    declined = transfer(completed.to_account, AccountFactory(), "999.00")

    everything = export(admin_client, TRANSACTIONS)
    transfers_only = export(admin_client, TRANSACTIONS, {"kind": "TRANSFER", "status": "COMPLETED"})
    by_owner = export(admin_client, TRANSACTIONS, {"q": completed.from_account.owner.email})
    other_year = export(admin_client, TRANSACTIONS, {"created_at__year": 2000})

    assert len(everything) == Transaction.objects.count() == 3
    [row] = transfers_only
    assert row == {
        "id": str(completed.id),
        "created_at": completed.created_at.isoformat(),
        "kind": "TRANSFER",
        "status": "COMPLETED",
        "amount": "40.00",
        "currency": "INR",
        "from_account": str(completed.from_account_id),
        "from_owner_email": completed.from_account.owner.email,
        "to_account": str(completed.to_account_id),
        "to_owner_email": completed.to_account.owner.email,
        "failure_reason": "",
        "reverses": "",
        "reversed_by": "",
        "reason": "",
        "idempotency_key": "k",
        "initiator_email": completed.initiator.email,
    }
    assert {r["id"] for r in by_owner} == {
        str(completed.id),
        str(completed.from_account.entries.get(type="CREDIT").transaction_id),
    }
    assert str(declined.id) in {r["id"] for r in everything}
    assert other_year == []


def test_export_entries_as_filtered(admin_client, completed):
    receiver = completed.to_account

    rows = export(admin_client, ENTRIES, {"account__id__exact": receiver.id})
    funding_side = export(admin_client, ENTRIES, {"type": "DEBIT", "q": "funder@ledger.local"})

    assert rows == [
        {
            "id": str(completed.entries.get(type="CREDIT").id),
            "created_at": completed.entries.get(type="CREDIT").created_at.isoformat(),
            "transaction": str(completed.id),
            "account": str(receiver.id),
            "owner_email": receiver.owner.email,
            "type": "CREDIT",
            "amount": "40.00",
            "currency": "INR",
            "balance_after": "40.00",
        }
    ]
    # A funding account's negative balance stays a number in the spreadsheet.
    assert [r["balance_after"] for r in funding_side] == ["-100.00"]


def test_export_cells_cannot_run_as_formulas(admin_client, operator):
    owner = UserFactory(email="=cmd|'/c calc'!a1@example.com")
    source = funded_account("10.00", owner=owner)
    target = AccountFactory(owner=UserFactory(email="+tag@example.com"))
    txn = transfer_create(
        initiator=owner,
        from_account_id=source.id,
        to_account_id=target.id,
        amount=Decimal("1"),
        idempotency_key='=HYPERLINK("http://evil.example","x")',
    ).transaction
    transaction_reverse(initiator=operator, transaction_id=txn.id, idempotency_key="r", reason="@SUM(A1:A9)")

    rows = {r["id"]: r for r in export(admin_client, TRANSACTIONS)}
    entries = export(admin_client, ENTRIES, {"q": "+tag@example.com"})

    assert rows[str(txn.id)]["idempotency_key"] == '\'=HYPERLINK("http://evil.example","x")'
    assert rows[str(txn.id)]["from_owner_email"] == "'=cmd|'/c calc'!a1@example.com"
    assert rows[str(txn.id)]["to_owner_email"] == "'+tag@example.com"
    assert {r["reason"] for r in rows.values()} == {"", "'@SUM(A1:A9)"}
    assert {r["owner_email"] for r in entries} == {"'+tag@example.com"}


@pytest.mark.parametrize("params", [{"nonsense": "1"}, {"created_at__year": "abc"}, {"status__in": "x" * 50}])
def test_export_with_a_forged_filter_is_never_a_500(admin_client, completed, params):
    for url in (TRANSACTIONS, ENTRIES):
        response = admin_client.get(f"{url}export/", params)
        assert response.status_code in (200, 302, 400), (url, params, response.status_code)
        if response.status_code == 200:
            b"".join(response.streaming_content)
