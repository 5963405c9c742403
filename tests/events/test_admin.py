"""Events in the admin: listed by type, user and date, read-only, never deleted by hand."""

import pytest
from django.test import Client

from events.models import Event
from tests.factories import AccountFactory, UserFactory, funded_account, transfer

EVENTS = "/admin/events/event/"

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client():
    client = Client()
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    return client


def test_the_list_filters_by_type_and_shows_each_event_read_only(admin_client):
    txn = transfer(funded_account("10.00"), AccountFactory(), "1.00")
    event = Event.objects.filter(type="transaction.completed", data__id=str(txn.id)).first()

    listing = admin_client.get(EVENTS, {"type__exact": "transaction.completed"})
    page = admin_client.get(f"{EVENTS}{event.id}/change/")

    assert listing.status_code == 200 and str(event.id) in listing.content.decode()
    assert admin_client.get(EVENTS, {"type__exact": "hold.created"}).content.decode().count(str(event.id)) == 0
    assert page.status_code == 200 and str(txn.id) in page.content.decode()
    assert 'name="_save"' not in page.content.decode()


def test_nothing_is_added_changed_or_deleted_by_hand(admin_client):
    account = AccountFactory()
    event = Event.objects.create(user=account.owner, type="account.created", data={"id": str(account.id)})

    assert admin_client.get(f"{EVENTS}add/").status_code == 403
    assert admin_client.post(f"{EVENTS}{event.id}/delete/", {"post": "yes"}).status_code == 403
    assert Event.objects.filter(id=event.id).exists()


def test_the_list_sends_a_fixed_number_of_queries(admin_client, django_assert_max_num_queries):
    owner = AccountFactory().owner
    Event.objects.bulk_create([Event(user=owner, type="account.created", data={}) for _ in range(40)])
    # Session, user, the page (users joined), the date hierarchy and the type filter: whatever its size.
    with django_assert_max_num_queries(8):
        assert admin_client.get(EVENTS).status_code == 200
