import pytest

from events.models import Event
from webhooks.services import webhook_endpoint_create

from .receiver import receiver as _receiver


@pytest.fixture
def receiver():
    with _receiver() as running:
        yield running


@pytest.fixture
def endpoint_of(db):
    """make(user, url, events=...) -> (endpoint, secret), through the service."""

    def make(user, url, events=("*",), description=""):
        return webhook_endpoint_create(user=user, url=url, events=list(events), description=description)

    return make


def event_for(user, type="transaction.completed", data=None) -> Event:
    return Event.objects.create(user=user, type=type, data=data or {"id": "t1", "amount": "10.00"})
