from django.db.models import Q, QuerySet

from authn.models import User

from .exceptions import EventNotFoundError
from .models import Event


def event_list(*, user: User, type: str | None = None, after: Event | None = None) -> QuerySet[Event]:
    """The user's events (newest first, by the pagination's ordering). `type` is exact, or a family
    ending in `.*` ("transaction.*"); `after` keeps only the events newer than that one of the
    user's, in the list's own order (created_at, then id): what a client catching up has not seen."""
    queryset = Event.objects.filter(user=user)
    if type and type.endswith(".*"):
        queryset = queryset.filter(type__startswith=type[:-1])
    elif type:
        queryset = queryset.filter(type=type)
    if after is not None:
        queryset = queryset.filter(Q(created_at__gt=after.created_at) | Q(created_at=after.created_at, id__gt=after.id))
    return queryset


def event_get(*, user: User, event_id) -> Event:
    """The user's own event; anyone else's is indistinguishable from a missing one."""
    event = Event.objects.filter(user=user, id=event_id).first()
    if event is None:
        raise EventNotFoundError()
    return event
