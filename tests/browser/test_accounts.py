"""Customers, their accounts and entries, and the trail that freezing leaves."""

from playwright.sync_api import expect

from accounts.models import Account

from .admin_pages import choose_action, search, submit
from .conftest import OPERATOR_EMAIL

USERS = "/admin/authn/user/"
ACCOUNTS = "/admin/accounts/account/"


def test_find_a_customer_by_email(operator_page, scene):
    page = operator_page
    page.goto(USERS)

    search(page, scene.bob.email)

    rows = page.locator("#result_list tbody tr")
    expect(rows).to_have_count(1)
    expect(rows).to_contain_text(scene.bob.email)
    rows.get_by_role("link", name=scene.bob.email).click()
    expect(page.locator("#id_email")).to_have_value(scene.bob.email)
    expect(page.locator("#id_name")).to_have_value("Bob Customer")


def test_open_an_account_and_follow_its_entries(operator_page, scene):
    page = operator_page
    account = scene.alice_account
    page.goto(ACCOUNTS)
    search(page, scene.alice.email)

    rows = page.locator("#result_list tbody tr")
    expect(rows).to_have_count(1)
    expect(rows).to_contain_text("749.50 INR")
    rows.locator(f'a[href*="/accounts/account/{account.id}/"]').first.click()

    expect(page.locator("#content")).to_contain_text(str(account.id))  # the full id on the detail page
    expect(page.locator("#content")).to_contain_text("749.50 INR")
    page.locator(f'a[href*="ledgerentry/?account__id__exact={account.id}"]').first.click()

    entries = page.locator("#result_list tbody tr")
    expect(entries).to_have_count(2)  # the funding's credit and the payment's debit, nobody else's
    expect(entries.filter(has_text="CREDIT")).to_contain_text("1000.00 INR")
    payment_entry = entries.filter(has_text="DEBIT")
    expect(payment_entry).to_contain_text("250.50 INR")
    expect(payment_entry).to_contain_text("749.50 INR")  # balance after

    payment_entry.locator(f'a[href*="/transactions/transaction/{scene.payment.id}/"]').click()
    expect(page.locator("#content")).to_contain_text(str(scene.payment.id))
    expect(page.locator("#content")).to_contain_text("250.50 INR")


def account_action(page, account, action, reason):
    """Run a changelist action on one account through its reason page. Neither the page alone
    nor a submission without a reason may change the account."""
    status_before = account.status
    page.goto(ACCOUNTS)
    page.locator(f'input.action-select[value="{account.id}"]').check()
    choose_action(page, action)
    with page.expect_navigation():
        page.get_by_role("button", name="Go").click()
    field = page.locator("[name=reason]")
    expect(field).to_be_visible()
    # Past the browser's own `required` check: the server must refuse an empty reason as well.
    field.evaluate("e => e.removeAttribute('required')")
    submit(field)
    account.refresh_from_db()
    assert account.status == status_before, f"{action} without a reason"
    expect(field).to_be_visible()  # asked again

    field.fill(reason)
    submit(field)
    expect(page.locator("ul.messagelist")).to_be_visible()


def test_freeze_and_unfreeze_with_a_reason_leave_a_trail(operator_page, scene):
    page = operator_page
    account = scene.bob_account

    account_action(page, account, "Freeze", "Card reported stolen by the customer")
    account.refresh_from_db()
    assert account.status == Account.Status.FROZEN
    account_action(page, account, "Unfreeze", "Customer confirmed by phone")
    account.refresh_from_db()
    assert account.status == Account.Status.ACTIVE

    page.goto(f"{ACCOUNTS}{account.id}/change/")
    page.locator("a.historylink").click()
    history = page.locator("#change-history")
    expect(history).to_contain_text("Card reported stolen by the customer")
    expect(history).to_contain_text("Customer confirmed by phone")
    expect(history).to_contain_text(OPERATOR_EMAIL)
