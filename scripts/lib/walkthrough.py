"""The README's walkthrough, through a client generated from openapi/openapi.json.

Usage: PYTHONPATH=<dir holding datahog_client> python walkthrough.py http://127.0.0.1:8080

A vehicle lookup, an increment read back, and a webhook submitted with a local receiver as
its callback, read back by id until it is delivered. Exits non-zero on the first surprise.
"""

import datetime
import http.server
import os
import sys
import threading
import time

from datahog_client import AuthenticatedClient, Client
from datahog_client.api.counters import get_counter, increment
from datahog_client.api.vehicles import get_vehicle_state
from datahog_client.api.webhooks import get_webhook, submit_webhook
from datahog_client.models import (
    IncrementRequest,
    ProviderName,
    SubmitWebhook,
    WebhookStatus,
)

DELIVERY_DEADLINE_SECONDS = 60


def expect(condition, what):
    if not condition:
        sys.exit(f"walkthrough: {what}")


class Receiver(http.server.BaseHTTPRequestHandler):
    """Acknowledges every callback and remembers the webhook ids it got."""

    received = []

    def do_POST(self):
        self.rfile.read(int(self.headers.get("content-length", 0)))
        Receiver.received.append(self.headers.get("webhook-id"))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


def main(base):
    # A key only when the server wants one (DATAHOG_API_KEY); the embedded demo is open.
    key = os.environ.get("DATAHOG_API_KEY")
    client = AuthenticatedClient(base_url=base, token=key) if key else Client(base_url=base)

    at = datetime.datetime(2022, 9, 12, 12, 41, 41, tzinfo=datetime.timezone.utc)
    state = get_vehicle_state.sync_detailed(3, client=client, at=at)
    expect(state.status_code == 200, f"vehicle lookup answered {state.status_code}")
    expect(state.parsed.vehicle.id == 3, f"vehicle lookup: {state.parsed}")
    print(f"vehicle 3 at {at.isoformat()}: {state.parsed.state}")

    accepted = increment.sync_detailed(client=client, body=IncrementRequest(key="walkthrough", value=3))
    expect(accepted.status_code == 202, f"increment answered {accepted.status_code}")
    counter = get_counter.sync_detailed("walkthrough", client=client)
    expect(counter.status_code == 200, f"counter read answered {counter.status_code}")
    expect(counter.parsed.value >= 3, f"counter: {counter.parsed}")
    print(f"counter walkthrough: {counter.parsed.value} ({counter.parsed.pending} pending)")

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    callback = f"http://127.0.0.1:{server.server_address[1]}/hook"
    body = SubmitWebhook(provider=[ProviderName.GAS, ProviderName.INTERNET], callback_url=callback)
    submitted = submit_webhook.sync_detailed(client=client, body=body)
    expect(submitted.status_code == 202, f"webhook submission answered {submitted.status_code}")
    webhook_id = submitted.parsed.id
    expect(submitted.headers.get("location") == f"/v1/webhooks/{webhook_id}", "Location header")

    deadline = time.monotonic() + DELIVERY_DEADLINE_SECONDS
    while True:
        webhook = get_webhook.sync_detailed(webhook_id, client=client)
        expect(webhook.status_code == 200, f"webhook read answered {webhook.status_code}")
        if webhook.parsed.status == WebhookStatus.DELIVERED:
            break
        expect(time.monotonic() < deadline, f"webhook not delivered in time: {webhook.parsed}")
        time.sleep(0.5)
    expect(webhook_id in Receiver.received, "the receiver got the callback")
    print(f"webhook {webhook_id}: delivered after {len(webhook.parsed.delivery.attempts)} attempt(s)")
    server.shutdown()


if __name__ == "__main__":
    main(sys.argv[1])
