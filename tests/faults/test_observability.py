"""Metrics and logs of the shipped web: gunicorn as configured (deploy/gunicorn.conf.py, two
worker processes) behind nginx as configured (deploy/nginx/), on 127.0.0.1 only.

/metrics adds up every worker's requests whichever serves the scrape, and is the public's 404
through nginx; the request id is nginx's, never the client's; every log line is JSON, the access
line carries the request id, and no password or token reaches the log.
"""

import json
import re
from http.client import HTTPConnection

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.factories import PASSWORD, UserFactory

from . import processes
from .proxy import SHIPPED_GUNICORN, SHIPPED_THREADS, SHIPPED_WORKERS, nginx_proxy

pytestmark = pytest.mark.django_db(transaction=True)

# Prometheus would sit on this network; the test itself, on the loopback, is "the public".
PROMETHEUS_NETWORK, PROMETHEUS_ADDRESS = "10.0.0.0/8", "10.9.9.9"


@pytest.fixture(scope="module")
def log_file(tmp_path_factory):
    return tmp_path_factory.mktemp("web") / "web.log"


@pytest.fixture(scope="module")
def web(django_db_setup, log_file):
    sizes = ("--workers", str(SHIPPED_WORKERS), "--threads", str(SHIPPED_THREADS))
    env = processes.service_env(
        TRUSTED_PROXY_COUNT=1, METRICS_ALLOWED_NETWORKS=PROMETHEUS_NETWORK, LOG_LEVEL="INFO", THROTTLE_LOGIN="1000/min"
    )
    with log_file.open("w") as log, processes.gunicorn(*SHIPPED_GUNICORN, *sizes, env=env, log=log) as client:
        yield client


@pytest.fixture(scope="module")
def edge(web):
    with nginx_proxy(web.port) as client:
        yield client


def get(port, path, headers=None):
    conn = HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path, headers=headers or {})
        response = conn.getresponse()
        return response.status, response, response.read()
    finally:
        conn.close()


def requests_counted(body: bytes) -> float:
    return sum(
        sample.value
        for family in text_string_to_metric_families(body.decode())
        for sample in family.samples
        if sample.name == "django_http_requests_total_by_method_total" and sample.labels["method"] == "GET"
    )


def test_every_worker_is_counted_whichever_serves_the_scrape(web):
    as_prometheus = {"X-Forwarded-For": PROMETHEUS_ADDRESS}  # gunicorn trusts its caller as the proxy
    before = requests_counted(get(web.port, "/metrics", as_prometheus)[2])

    for _ in range(60):  # a new connection each: both workers take some
        assert get(web.port, "/api/health")[0] == 200

    # Each scrape is one more GET; whichever worker answers, it counts all of them.
    for scrape in range(1, 9):
        status, _, body = get(web.port, "/metrics", as_prometheus)
        assert status == 200
        assert requests_counted(body) >= before + 60 + scrape, f"scrape {scrape} saw only its worker's requests"


def test_through_nginx_the_public_gets_a_404_whatever_it_forwards(web, edge):
    forged = {"X-Forwarded-For": PROMETHEUS_ADDRESS}

    status, response, body = get(edge.port, "/metrics", forged)

    assert (status, json.loads(body)) == (404, {"message": "Not found.", "code": "not_found"})
    # The same header straight to gunicorn (its trusted proxy's place) is believed: nginx made the difference.
    assert get(web.port, "/metrics", forged)[0] == 200


def test_the_request_id_is_the_proxys_never_the_clients(web, edge):
    _, response, _ = get(edge.port, "/api/health", {"X-Request-Id": "client-chosen-id-1234"})
    assert re.fullmatch(r"[0-9a-f]{32}", response.getheader("X-Request-Id"))

    # Straight to gunicorn the caller is in the proxy's place: a sane id is kept, any other replaced.
    assert get(web.port, "/api/health", {"X-Request-Id": "lb-7f3a-0001"})[1].getheader("X-Request-Id") == "lb-7f3a-0001"
    for insane in ["short", "x" * 129, "id with spaces 123", "<script>alert(1)</script>"]:
        kept = get(web.port, "/api/health", {"X-Request-Id": insane})[1].getheader("X-Request-Id")
        assert re.fullmatch(r"[0-9a-f]{32}", kept), insane


def test_log_lines_are_json_with_the_request_id_and_no_secret(web, edge, log_file):
    user = UserFactory()
    conn = HTTPConnection("127.0.0.1", edge.port, timeout=10)
    login = json.dumps({"email": user.email, "password": PASSWORD})
    conn.request("POST", "/api/auth/login", body=login, headers={"Content-Type": "application/json"})
    response = conn.getresponse()
    token = json.loads(response.read())["token"]
    login_id = response.getheader("X-Request-Id")
    wrong = json.dumps({"email": user.email, "password": "wrong-" + PASSWORD})
    conn.request("POST", "/api/auth/login", body=wrong, headers={"Content-Type": "application/json"})
    assert conn.getresponse().read() and True
    conn.close()
    # The token in a header, and in a query string (which the API ignores, but a log could keep).
    _, me, _ = get(edge.port, "/api/auth/me", {"Authorization": f"Bearer {token}"})
    assert me.status == 200
    _, unknown, _ = get(
        edge.port, f"/api/nowhere?token={token}&password={PASSWORD}", {"Authorization": f"Bearer {token}x"}
    )
    assert unknown.status == 404
    last = get(edge.port, "/api/health")[1].getheader("X-Request-Id")

    processes.wait_for(lambda: last in log_file.read_text(), what="the last request's line in the log")
    text = log_file.read_text()
    lines = [json.loads(line) for line in text.splitlines() if line.strip()]  # each line is one JSON object

    assert PASSWORD not in text and token not in text and token.split(".")[2] not in text
    access = [line for line in lines if line.get("logger") == "gunicorn.access"]
    by_id = {line.get("request_id"): line for line in access}
    assert by_id[login_id]["path"] == "/api/auth/login" and by_id[login_id]["status"] == "200"
    assert by_id[unknown.getheader("X-Request-Id")]["path"] == "/api/nowhere"
    # Django's own line about the 404 carries the same id as gunicorn's.
    django_404 = [line for line in lines if line.get("logger") == "django.request" and "/api/nowhere" in line["event"]]
    assert django_404 and django_404[0]["request_id"] == unknown.getheader("X-Request-Id")
