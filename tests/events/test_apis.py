"""GET /api/events and /api/events/{id}: the caller's own events only, newest first, cursor pages,
`type` (exact or a family) and `after` filters, and every bad input a 400 (never a 500)."""

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from events.models import Event
from tests.conftest import bearer_client
from tests.factories import UserFactory

EVENTS = "/api/events"

pytestmark = pytest.mark.django_db


def make_events(user, *types, start=None):
    """Events of `user`, one second apart, oldest first."""
    start = start or timezone.now() - timedelta(hours=1)
    return [
        Event.objects.create(
            user=user, type=type, data={"id": str(uuid.uuid4())}, created_at=start + timedelta(seconds=i)
        )
        for i, type in enumerate(types)
    ]


@pytest.fixture
def mine(user):
    return make_events(user, "account.created", "transaction.completed", "hold.created", "transaction.failed")


def ids(response):
    assert response.status_code == 200, response.json()
    return [event["id"] for event in response.json()["events"]]


def test_the_list_is_the_callers_events_newest_first(auth_client, mine, other_user):
    make_events(other_user, "transaction.completed")

    response = auth_client.get(EVENTS)

    assert ids(response) == [str(event.id) for event in reversed(mine)]
    first = response.json()["events"][0]
    assert first == {
        "id": str(mine[-1].id),
        "type": "transaction.failed",
        "createdAt": mine[-1].created_at.isoformat().replace("+00:00", "Z"),
        "data": mine[-1].data,
    }
    assert response.json()["next"] is None


def test_pages_follow_the_cursor_without_gaps_or_repeats(auth_client, mine):
    seen, url = [], f"{EVENTS}?limit=3"
    while url:
        response = auth_client.get(url)
        seen += ids(response)
        url = response.json()["next"]

    assert seen == [str(event.id) for event in reversed(mine)]


def test_events_of_one_instant_page_by_id(auth_client, user):
    now = timezone.now()
    same = [Event.objects.create(user=user, type="transaction.completed", data={}, created_at=now) for _ in range(5)]

    first = auth_client.get(f"{EVENTS}?limit=2")
    rest = []
    url = first.json()["next"]
    while url:
        response = auth_client.get(url)
        rest += ids(response)
        url = response.json()["next"]

    assert ids(first) + rest == sorted((str(e.id) for e in same), reverse=True)


@pytest.mark.parametrize(
    ("type", "expected"),
    [
        ("transaction.completed", ["transaction.completed"]),
        ("transaction.*", ["transaction.failed", "transaction.completed"]),
        ("hold.*", ["hold.created"]),
        ("batch.*", []),
    ],
)
def test_the_type_filter_is_exact_or_a_family(auth_client, mine, type, expected):
    response = auth_client.get(EVENTS, {"type": type})

    assert [event["type"] for event in response.json()["events"]] == expected


def test_after_keeps_only_newer_events(auth_client, mine):
    response = auth_client.get(EVENTS, {"after": str(mine[1].id)})

    assert ids(response) == [str(mine[3].id), str(mine[2].id)]
    assert ids(auth_client.get(EVENTS, {"after": str(mine[3].id)})) == []
    assert ids(auth_client.get(EVENTS, {"after": str(mine[0].id), "type": "hold.*"})) == [str(mine[2].id)]


def test_after_another_users_event_is_the_same_400_as_an_unknown_one(auth_client, mine, other_user):
    (theirs,) = make_events(other_user, "transaction.completed")

    foreign = auth_client.get(EVENTS, {"after": str(theirs.id)})
    unknown = auth_client.get(EVENTS, {"after": str(uuid.uuid4())})

    assert foreign.status_code == unknown.status_code == 400
    assert foreign.json() == unknown.json()
    assert foreign.json()["code"] == "validation_error" and list(foreign.json()["errors"]) == ["after"]


@pytest.mark.parametrize(
    "query",
    [
        {"type": "transaction"},
        {"type": "transaction.%"},
        {"type": "*"},
        {"type": ""},
        {"type": "x" * 5000},
        {"after": "not-a-uuid"},
        {"after": "1"},
        {"limit": "0"},
        {"limit": "201"},
        {"limit": "ten"},
        {"cursor": "forged"},
        {"cursor": "bz0wJnI9MCZwPTIwMjQtMDEtMDErMDAlM0EwMCUzQTAwJTJCMTYlM0EwMA=="},
    ],
)
def test_bad_input_is_a_400_never_a_500(auth_client, mine, query):
    response = auth_client.get(EVENTS, query)

    assert response.status_code == 400, response.content
    assert response.json()["code"] == "validation_error"


def test_another_list_cursor_is_refused(auth_client, user, mine):
    from tests.factories import funded_account

    funded_account("1.00", owner=user)
    for _ in range(2):
        funded_account("1.00", owner=user)
    transactions = auth_client.get("/api/transactions?limit=1").json()
    cursor = transactions["next"].split("cursor=")[1].split("&")[0]

    assert auth_client.get(f"{EVENTS}?cursor={cursor}").status_code == 400


def test_the_detail_shows_the_callers_event(auth_client, mine):
    response = auth_client.get(f"{EVENTS}/{mine[0].id}")

    assert response.status_code == 200
    assert response.json()["event"]["id"] == str(mine[0].id)


@pytest.mark.parametrize("which", ["foreign", "unknown", "malformed"])
def test_the_detail_of_anything_but_ones_own_event_is_404(auth_client, other_user, which):
    (theirs,) = make_events(other_user, "transaction.completed")
    event_id = {"foreign": theirs.id, "unknown": uuid.uuid4(), "malformed": "12345"}[which]

    response = auth_client.get(f"{EVENTS}/{event_id}")

    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


def test_the_routes_need_authentication(client, mine):
    assert client.get(EVENTS).status_code == 401
    assert client.get(f"{EVENTS}/{mine[0].id}").status_code == 401


def test_the_list_sends_a_fixed_number_of_queries(django_assert_max_num_queries, user):
    make_events(user, *["transaction.completed"] * 30)
    api = bearer_client(user)
    # Authentication (one), the page: whatever its size.
    with django_assert_max_num_queries(3):
        assert len(ids(api.get(EVENTS))) == 30


def test_a_real_users_events_read_back_through_the_api(user):
    """End to end: an account opened through the API is listed as its account.created."""
    api = bearer_client(user)
    account = api.post("/api/accounts", {}, format="json").json()["account"]

    (event,) = api.get(EVENTS).json()["events"]

    assert event["type"] == "account.created" and event["data"] == account
    assert api.get(f"{EVENTS}/{event['id']}").json()["event"] == event


def test_a_user_with_no_events_gets_an_empty_page(db):
    assert bearer_client(UserFactory()).get(EVENTS).json() == {"events": [], "next": None}
