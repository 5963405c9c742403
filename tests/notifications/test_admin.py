"""The outbox in the admin: read-only, never deleted, linked to its transaction, and "send again"
for the emails not sent yet."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission
from django.contrib.messages import get_messages
from django.core import mail
from django.test import Client
from django.utils import timezone

from notifications.models import OutboxEmail
from notifications.services import email_enqueue, outbox_email_send, outbox_emails_requeue
from tests.factories import AccountFactory, UserFactory, funded_account, transfer
from transactions.batches import BatchItem, batch_create

OUTBOX = "/admin/notifications/outboxemail/"


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def admin_client(db):
    return logged_in(UserFactory(is_staff=True, is_superuser=True))


@pytest.fixture
def rows(db):
    """One row in each state: pending, sent and failed (a dead letter)."""
    now = timezone.now()
    pending = email_enqueue(to="pending@example.com", subject="Pending", body="...")
    sent = email_enqueue(to="sent@example.com", subject="Sent", body="...")
    failed = email_enqueue(to="failed@example.com", subject="Failed", body="...")
    OutboxEmail.objects.filter(id=sent.id).update(sent_at=now, attempts=1)
    OutboxEmail.objects.filter(id=failed.id).update(
        failed_at=now, attempts=8, last_error="SMTPRecipientsRefused", next_attempt_at=now + timedelta(hours=1)
    )
    return {"pending": pending, "sent": sent, "failed": failed}


def messages_of(response):
    return [(m.level_tag, str(m.message)) for m in get_messages(response.wsgi_request)]


def send_again(client, rows):
    body = {"action": "send_again", "_selected_action": [str(row.id) for row in rows], "index": 0}
    return client.post(OUTBOX, body, follow=True)


def test_the_outbox_is_read_only_and_never_deleted(admin_client, rows):
    row = rows["pending"]

    listing = admin_client.get(OUTBOX)
    detail = admin_client.get(f"{OUTBOX}{row.id}/change/")
    change = admin_client.post(f"{OUTBOX}{row.id}/change/", {"to": "evil@example.com"})
    delete = admin_client.post(f"{OUTBOX}{row.id}/delete/", {"post": "yes"})
    bulk_delete = admin_client.post(
        OUTBOX, {"action": "delete_selected", "_selected_action": [str(row.id)], "post": "yes"}
    )

    assert (listing.status_code, detail.status_code) == (200, 200)
    assert not detail.context["has_change_permission"] and not detail.context["has_delete_permission"]
    assert (change.status_code, delete.status_code) == (403, 403)
    assert bulk_delete.status_code in (200, 302)
    offered = [name for name, _ in listing.context["action_form"].fields["action"].choices]
    assert "delete_selected" not in offered and "send_again" in offered
    assert OutboxEmail.objects.count() == 3
    assert OutboxEmail.objects.get(id=row.id).to == "pending@example.com"


def test_newest_first_by_date(admin_client, rows):
    response = admin_client.get(OUTBOX)

    assert [row.id for row in response.context["cl"].result_list] == [
        rows["failed"].id,
        rows["sent"].id,
        rows["pending"].id,
    ]
    assert response.context["cl"].date_hierarchy == "created_at"


def test_a_ledger_email_links_to_its_transaction(admin_client, user, other_user):
    txn = transfer(funded_account("10.00", owner=user), AccountFactory(owner=other_user), "2.50")
    row = OutboxEmail.objects.get(to=other_user.email)
    link = f'href="/admin/transactions/transaction/{txn.id}/change/"'

    listing = admin_client.get(OUTBOX).content.decode()
    detail = admin_client.get(f"{OUTBOX}{row.id}/change/").content.decode()

    assert link in listing and link in detail
    # In the list, free text is cut to one line (the whole of it on hover).
    assert f'<span class="ledger-cut" title="{other_user.email}">' in listing
    assert f">{txn.id}<" in detail  # the full id on the detail page
    assert "2.50 INR" in detail  # the amount as the API shows it, with its currency


def test_a_batch_summary_not_sent_yet_shows_the_body_it_will_be_sent_with(admin_client, user, other_user):
    source, target = funded_account("10.00", owner=user), AccountFactory(owner=other_user)
    written = batch_create(
        initiator=user,
        items=[BatchItem(source.id, target.id, Decimal("2.50"))],
        atomic=True,
        idempotency_key="admin-batch",
    )
    row = OutboxEmail.objects.get(to=other_user.email)

    detail = admin_client.get(f"{OUTBOX}{row.id}/change/").content.decode()

    assert row.body == ""
    assert f"2.50 INR credited to your account {target.id} from account {source.id}" in detail
    assert f"({written.batch_id})" in detail


@pytest.mark.parametrize("count", [1, 50])
def test_the_list_sends_a_fixed_number_of_queries(admin_client, django_assert_max_num_queries, count):
    for n in range(count):
        email_enqueue(to=f"u{n}@example.com", subject="s", body="Transaction: 00000000-0000-0000-0000-000000000000\n")

    with django_assert_max_num_queries(6):
        response = admin_client.get(OUTBOX)

    assert response.context["cl"].result_count == count


def test_send_again_requeues_unsent_rows_and_refuses_sent_ones(admin_client, rows, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    sent_before = OutboxEmail.objects.get(id=rows["sent"].id)

    response = send_again(admin_client, rows.values())

    failed, pending = (OutboxEmail.objects.get(id=rows[state].id) for state in ("failed", "pending"))
    assert messages_of(response) == [
        ("error", f"Not sent again, already sent: #{rows['sent'].id}."),
        ("success", f"Queued to send again within seconds: #{rows['pending'].id}, #{rows['failed'].id}."),
    ]
    # The dead letter is due again with a fresh count of attempts; its last error stays to read.
    assert (failed.failed_at, failed.attempts, failed.last_error) == (None, 0, "SMTPRecipientsRefused")
    due = set(OutboxEmail.objects.due(timezone.now()).values_list("id", flat=True))
    assert due == {failed.id, pending.id}
    sent = OutboxEmail.objects.get(id=rows["sent"].id)
    assert (sent.sent_at, sent.attempts) == (sent_before.sent_at, sent_before.attempts)
    # The relay's send path takes them from here.
    assert outbox_email_send(outbox_id=failed.id) and outbox_email_send(outbox_id=pending.id)
    assert sorted(m.to[0] for m in mail.outbox) == ["failed@example.com", "pending@example.com"]


def test_send_again_needs_the_change_permission(db, rows):
    viewer = UserFactory(is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_outboxemail"))
    client = logged_in(viewer)

    listing = client.get(OUTBOX)
    forced = send_again(client, [rows["failed"]])

    assert listing.status_code == 200 and listing.context["action_form"] is None
    assert forced.status_code == 200
    assert OutboxEmail.objects.get(id=rows["failed"].id).failed_at is not None


def test_requeue_never_touches_a_sent_row(rows):
    # The service's own guard, whoever calls it: a sent email is never sent twice.
    sent_before = OutboxEmail.objects.get(id=rows["sent"].id)

    assert outbox_emails_requeue(outbox_ids=[rows["sent"].id]) == []

    assert OutboxEmail.objects.get(id=rows["sent"].id).next_attempt_at == sent_before.next_attempt_at
    assert not OutboxEmail.objects.due(timezone.now()).filter(id=rows["sent"].id).exists()
