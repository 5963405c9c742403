"""A reversal through its confirmation page, and a CSV export of a filtered list."""

import csv

from playwright.sync_api import expect

from accounts.models import Account
from transactions.models import Transaction

from .admin_pages import search, submit

TRANSACTIONS = "/admin/transactions/transaction/"
REASON = "Sent to the wrong customer; refund agreed with support"


def test_reverse_one_transaction_with_a_reason(operator_page, scene):
    page = operator_page
    payment = scene.payment
    page.goto(f"{TRANSACTIONS}{payment.id}/change/")

    with page.expect_navigation():
        page.get_by_role("link", name="Reverse…").click()
    # What will move, before anything does.
    content = page.locator("#content")
    expect(content).to_contain_text("250.50 INR")
    expect(content).to_contain_text(str(scene.bob_account.id)[:8])
    expect(content).to_contain_text(str(scene.alice_account.id)[:8])
    assert not Transaction.objects.filter(reverses=payment).exists()

    reason = page.locator("[name=reason]")
    # Past the browser's own `required` check: the server must refuse an empty reason as well.
    reason.evaluate("e => e.removeAttribute('required')")
    submit(reason)
    assert not Transaction.objects.filter(reverses=payment).exists(), "reversed without a reason"
    expect(reason).to_be_visible()  # asked again

    reason.fill(REASON)
    submit(reason)

    reversal = Transaction.objects.get(reverses=payment)
    assert (reversal.status, reversal.reason, reversal.amount) == ("COMPLETED", REASON, payment.amount)
    expect(page.locator("ul.messagelist")).to_contain_text(str(reversal.id)[:8])
    assert Account.objects.get(id=scene.bob_account.id).balance == 0
    assert Account.objects.get(id=scene.alice_account.id).balance == 100000

    # Linked both ways: the original to its reversal and back.
    page.goto(f"{TRANSACTIONS}{payment.id}/change/")
    page.locator(f'a[href*="/transaction/{reversal.id}/"]').first.click()
    expect(page.locator("#content")).to_contain_text(REASON)
    expect(page.locator(f'#content a[href*="/transaction/{payment.id}/"]').first).to_be_visible()


def export_csv(page):
    """Click the changelist's "Export CSV" and return the downloaded file's rows."""
    with page.expect_download() as download:
        page.get_by_role("link", name="Export CSV").click()
    with open(download.value.path(), newline="", encoding="utf-8") as file:
        return list(csv.reader(file))


def test_export_the_filtered_transactions_as_csv(operator_page, scene):
    page = operator_page
    page.goto(TRANSACTIONS)
    search(page, scene.bob.email)  # Bob's only transaction is the payment; Alice's funding is not his
    expect(page.locator("#result_list tbody tr")).to_have_count(1)

    header, *rows = export_csv(page)

    assert header[:6] == ["id", "created_at", "kind", "status", "amount", "currency"], header
    assert len(rows) == 1, rows  # what the list showed, not the whole ledger
    row = dict(zip(header, rows[0], strict=True))
    assert (row["id"], row["amount"], row["currency"]) == (str(scene.payment.id), "250.50", "INR"), row
