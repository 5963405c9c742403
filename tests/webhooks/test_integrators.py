"""README's receiver example, run as written against a real delivery: it verifies the signature
with standardwebhooks, handles a message once however often it comes, and refuses a forgery."""

import re
import threading
import urllib.error
import urllib.request
from http.server import HTTPServer
from pathlib import Path

import pytest

from webhooks.models import WebhookDelivery
from webhooks.services import event_redeliver, webhook_deliver, webhook_fanout

from .conftest import event_for

pytestmark = pytest.mark.django_db

README = Path(__file__).resolve().parents[2] / "README.md"


def readme_receiver() -> str:
    match = re.search(r"<!-- integrator-receiver -->\n```python\n(.*?)```", README.read_text(), re.DOTALL)
    assert match, "README lost its receiver example"
    return match.group(1)


def test_the_readme_receiver_verifies_deliveries_and_handles_each_event_once(user, endpoint_of, monkeypatch):
    handled = []
    namespace = {"__name__": "integrator_receiver"}
    server = None
    try:
        # The example reads the secret at import, so the endpoint (and its secret) comes first; its
        # URL is set once the example's server has a port.
        endpoint, secret = endpoint_of(user, "http://127.0.0.1:9/placeholder")
        monkeypatch.setenv("LEDGER_WEBHOOK_SECRET", secret)
        exec(compile(readme_receiver(), "README.md", "exec"), namespace)
        namespace["handle"] = lambda event_type, data: handled.append((event_type, data))
        server = HTTPServer(("127.0.0.1", 0), namespace["LedgerWebhook"])
        threading.Thread(target=server.serve_forever, daemon=True).start()
        endpoint.url = f"http://127.0.0.1:{server.server_address[1]}/ledger-hooks"
        endpoint.save()

        event = event_for(user, data={"id": "t1", "amount": "10.00"})
        webhook_fanout()
        assert webhook_deliver(delivery_id=WebhookDelivery.objects.get().id)
        (redelivery,) = event_redeliver(user=user, event_id=event.id)
        assert webhook_deliver(delivery_id=redelivery.id)  # answered 204 again...
        assert handled == [("transaction.completed", {"id": "t1", "amount": "10.00"})]  # ...handled once

        forged = urllib.request.Request(
            endpoint.url,
            data=b'{"type":"transaction.completed","timestamp":"x","data":{}}',
            headers={"webhook-id": "x", "webhook-timestamp": "1", "webhook-signature": "v1,AAAA"},
        )
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(forged, timeout=5)
        assert refused.value.code == 401
    finally:
        if server:
            server.shutdown()
            server.server_close()
