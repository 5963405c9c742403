"""A reversal through its confirmation page, and a CSV export of a filtered list."""

import csv
import io
import re

from playwright.sync_api import expect

from accounts.models import Account
from transactions.models import Transaction

from .test_accounts import choose_action, search, submit

TRANSACTIONS = "/admin/transactions/transaction/"
REASON = "Sent to the wrong customer; refund agreed with support"


def test_reverse_one_transaction_with_a_reason(operator_page, scene):
    page = operator_page
    payment = scene.payment
    page.goto(f"{TRANSACTIONS}{payment.id}/change/")

    with page.expect_navigation():
        page.locator(f'a[href$="/transaction/{payment.id}/reverse/"]').click()
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
    expect(reason).to_be_visible()  # asked again
    assert not Transaction.objects.filter(reverses=payment).exists()

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
    """Start the changelist's CSV export (a button or link, or an action on every row shown)
    and return the downloaded file's rows."""
    button = page.locator("#content").get_by_role("link", name=re.compile("csv", re.I))
    with page.expect_download() as download:
        if button.count():
            button.first.click()
        else:
            page.locator("#action-toggle").check()
            choose_action(page, "Export")
            page.get_by_role("button", name="Go").click()
    with open(download.value.path(), newline="", encoding="utf-8-sig") as file:
        return list(csv.reader(io.StringIO(file.read())))


def test_export_the_filtered_transactions_as_csv(operator_page, scene):
    page = operator_page
    page.goto(TRANSACTIONS)
    search(page, scene.bob.email)  # Bob's only transaction is the payment; Alice's funding is not his
    expect(page.locator("#result_list tbody tr")).to_have_count(1)

    header, *rows = export_csv(page)

    assert "amount" in [column.lower() for column in header], header
    assert len(rows) == 1, rows
    row = dict(zip([column.lower() for column in header], rows[0], strict=True))
    assert row["amount"] in ("250.50", "250.50 INR"), row
    assert "INR" in rows[0] or row["amount"].endswith("INR"), row
    assert str(scene.payment.id) in rows[0], row
