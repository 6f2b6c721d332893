"""Drives the console in headless Chromium against a running platform (see scripts/console-test).

Reads BASE (the api's origin), ADMIN_KEY, ATTEMPTS (delivery attempts before parking),
CHROMIUM and SHOTS (the screenshot folder) from the environment. Prints one line per step
and ends with "N passed, N failed".
"""

import json
import os
import re
import sys
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

from playwright.sync_api import expect, sync_playwright

BASE = os.environ["BASE"].rstrip("/")
ADMIN_KEY = os.environ["ADMIN_KEY"]
ATTEMPTS = int(os.environ["ATTEMPTS"])
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
SHOTS = os.environ["SHOTS"]
# Every wait has a deadline; nothing here is timed for speed.
WAIT_S = 60

CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


class Receiver:
    """A callback receiver on loopback that answers 500 until told to answer 200."""

    def __init__(self):
        self.status = 500
        self.received = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("content-length", 0))
                body = self.rfile.read(length)
                receiver.received.append((self.headers.get("webhook-id"), receiver.status))
                answer = json.dumps({"ok": receiver.status == 200}).encode()
                self.send_response(receiver.status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)
                del body

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"


def call(method, path, key=None, body=None):
    """The API's JSON answer to one request, or raises with the answer."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(BASE + path, data=data, method=method)
    if key:
        request.add_header("Authorization", f"Bearer {key}")
    if data is not None:
        request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=20) as response:
        text = response.read()
        return json.loads(text) if text else None


def wait_for(what, check):
    """Polls `check` until it returns something truthy, within the deadline."""
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


def status_of(key, webhook_id):
    return call("GET", f"/v1/webhooks/{webhook_id}", key)["status"]


def waiting_for(key, webhook_id):
    return call("GET", f"/v1/webhooks/{webhook_id}", key).get("waitingFor")


# Two webhooks submitted with it while their receiver host is paused are delivered in order.
ORDERING_KEY = "customer-42"


# Workers read pauses and limits again once a second: a change made through the api is in
# force everywhere after this.
SETTINGS_REFRESH_S = 2


class Run:
    def __init__(self):
        self.passed = 0
        self.failed = 0
        self.console_errors = []
        self.outside = []
        self.expected_errors = 0

    def step(self, name, fn):
        try:
            fn()
            self.passed += 1
            print(f"ok   {name}", flush=True)
        except Exception as error:  # noqa: BLE001 - every failure is reported and counted
            self.failed += 1
            print(f"FAIL {name}: {error}", flush=True)
            raise


def main():
    os.makedirs(SHOTS, exist_ok=True)
    run = Run()
    receiver = Receiver()

    # Two tenants, made by the operator.
    tenant_a = call("POST", "/v1/admin/tenants", ADMIN_KEY, {"name": "acme"})
    tenant_b = call("POST", "/v1/admin/tenants", ADMIN_KEY, {"name": "globex"})
    key_a, key_b = tenant_a["key"]["key"], tenant_b["key"]["key"]

    # Three webhooks of tenant A parked by a receiver answering 500, a stream, a counter.
    ids = []
    for _ in range(3):
        accepted = call("POST", "/v1/webhooks", key_a, {"provider": ["gas"], "callbackUrl": receiver.url})
        ids.append(accepted["id"])
    for webhook_id in ids:
        wait_for(f"{webhook_id} parked", lambda w=webhook_id: status_of(key_a, w) == "parked")
    stream = call("POST", "/v1/streams", key_a, {"provider": "gas", "intervalSeconds": 2})
    call("POST", "/v1/increment", key_a, {"key": "page-views", "value": 5})
    call("POST", "/v1/increment", key_a, {"key": "page-clicks", "value": 2})
    wait_for("a complete stream batch", lambda: any(
        b["status"] == "complete" for b in call("GET", f"/v1/streams/{stream['id']}/batches", key_a)["items"]))
    wait_for("the counters flushed", lambda: call("GET", "/v1/counters?prefix=page", key_a)["total"] == 2)
    print(f"setup: tenants {tenant_a['id']} and {tenant_b['id']}, parked {', '.join(ids)}", flush=True)

    expect.set_options(timeout=WAIT_S * 1000)
    origin = urlsplit(BASE)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        context = browser.new_context(viewport={"width": 1280, "height": 860})

        def guard(route):
            url = urlsplit(route.request.url)
            if (url.scheme, url.netloc) != (origin.scheme, origin.netloc) and url.scheme not in ("data", "blob"):
                run.outside.append(route.request.url)
                route.abort()
            else:
                route.continue_()

        context.route("**/*", guard)
        page = context.new_page()
        page.set_default_timeout(WAIT_S * 1000)
        page.on("console", lambda m: m.type == "error" and run.console_errors.append(m.text))
        page.on("pageerror", lambda e: run.console_errors.append(f"page error: {e}"))

        def shot(name):
            page.screenshot(path=os.path.join(SHOTS, f"{name}.png"), full_page=True)

        def nav(name):
            page.get_by_role("navigation").get_by_role("link", name=name).click()

        def row(name):
            """The table row whose cell reads `name` exactly."""
            return page.get_by_role("row").filter(has=page.get_by_role("cell", name=name, exact=True))

        def fits():
            """The page is no wider than the screen (wide tables scroll inside their panel)."""
            wide = page.evaluate("() => document.documentElement.scrollWidth - document.documentElement.clientWidth")
            assert wide <= 0, f"{page.url} is {wide}px wider than the screen"

        def expected_error(status):
            """Drops the console error Chromium logs for a request answered `status` on purpose
            (it may come seconds after the page showed the answer)."""
            deadline = time.monotonic() + 20
            while not any(status in t for t in run.console_errors) and time.monotonic() < deadline:
                page.wait_for_timeout(50)
            run.console_errors[:] = [e for e in run.console_errors if status not in e]

        def set_limits(dialog, at_once, per_second):
            dialog.get_by_label("Max at once").fill(at_once)
            dialog.get_by_label("Max per second").fill(per_second)
            dialog.get_by_role("button", name="Save limits").click()

        def sign_in(key):
            page.get_by_label("API key").fill(key)
            page.get_by_role("button", name="Sign in").click()
            expect(page.get_by_role("heading", name="Overview")).to_be_visible()

        def signin_page():
            page.goto(BASE + "/")
            assert page.url == BASE + "/console/", page.url
            expect(page.get_by_label("API key")).to_be_visible()
            expect(page.get_by_text("takes an empty key")).to_be_visible()
            shot("01-sign-in")

        def bad_key():
            page.get_by_label("API key").fill("dh_not_a_key")
            page.get_by_role("button", name="Sign in").click()
            expect(page.get_by_role("alert")).to_contain_text("not accepted")
            shot("02-sign-in-bad-key")
            # Chromium logs the 401 of this one request as a console error, and may deliver
            # that message after the alert shows (seconds after, on a loaded machine): wait
            # for it, or it lands after the clear.
            deadline = time.monotonic() + 20
            while not any("401" in t for t in run.console_errors) and time.monotonic() < deadline:
                page.wait_for_timeout(50)
            run.expected_errors = len(run.console_errors)
            for text in run.console_errors:
                assert "401" in text, text
            run.console_errors.clear()

        def overview():
            sign_in(key_a)
            parked = page.locator("a.tile.parked .value")
            expect(parked).to_have_text("3")
            page.evaluate("window.__sameDocument = true")
            first = page.locator(".updated").inner_text()
            page.wait_for_function(
                "(first) => document.querySelector('.updated').innerText !== first", arg=first)
            assert page.evaluate("window.__sameDocument === true"), "the overview reloaded the page"
            expect(page.locator(".chart svg")).to_be_visible()
            shot("03-overview")

        def parked_list():
            nav("Webhooks")
            page.get_by_label("Status").select_option("parked")
            page.get_by_role("button", name="Apply").click()
            for webhook_id in ids:
                expect(page.get_by_role("link", name=webhook_id)).to_be_visible()
            shot("04-webhooks-parked")

        def redeliver_one():
            receiver.status = 200
            page.get_by_role("link", name=ids[0]).click()
            expect(page.locator("#webhook-status")).to_have_text("parked")
            expect(page.locator("#attempts > li")).to_have_count(ATTEMPTS)
            shot("05-webhook-parked")
            page.get_by_role("button", name="Redeliver", exact=True).click()
            expect(page.locator("#webhook-status")).to_have_text("delivered")
            expect(page.locator("#attempts > li")).to_have_count(ATTEMPTS + 1)
            expect(page.locator("#attempts > li").last).to_contain_text("HTTP 200")
            shot("06-webhook-delivered")

        def redeliver_all():
            page.goto(BASE + "/console/#/webhooks?status=parked")
            for webhook_id in ids[1:]:
                expect(page.get_by_role("link", name=webhook_id)).to_be_visible()
            page.get_by_role("button", name="Redeliver all matching").click()
            dialog = page.get_by_role("dialog")
            expect(dialog).to_contain_text("Redeliver 2 webhooks?")
            shot("07-redeliver-all-confirm")
            dialog.get_by_role("button", name="Redeliver 2").click()
            expect(page.get_by_role("status").filter(has_text="queued for redelivery")).to_contain_text("2 webhooks")
            for webhook_id in ids[1:]:
                wait_for(f"{webhook_id} delivered", lambda w=webhook_id: status_of(key_a, w) == "delivered")
            page.get_by_role("button", name="Apply").click()
            expect(page.get_by_text("No webhook matches.")).to_be_visible()
            shot("08-webhooks-none-parked")

        def stop_and_start():
            nav("Streams")
            page.get_by_role("link", name=stream["id"]).click()
            expect(page.locator("#stream-status")).to_have_text("active")
            expect(page.get_by_text("No complete batch yet.")).to_have_count(0)
            page.get_by_role("button", name="Stop").click()
            expect(page.locator("#stream-status")).to_have_text("stopped")
            assert call("GET", f"/v1/streams/{stream['id']}", key_a)["status"] == "stopped"
            shot("09-stream-stopped")
            page.get_by_role("button", name="Start").click()
            expect(page.locator("#stream-status")).to_have_text("active")
            assert call("GET", f"/v1/streams/{stream['id']}", key_a)["status"] == "active"
            shot("10-stream-active")

        def counters():
            nav("Counters")
            page.get_by_label("Key starts with").fill("page-v")
            page.get_by_role("button", name="Search").click()
            expect(page.get_by_role("link", name="page-views")).to_be_visible()
            expect(page.get_by_role("link", name="page-clicks")).to_have_count(0)
            expect(page.locator(".tile .value").nth(2)).to_have_text("5")
            expect(page.get_by_text("Last flush")).to_be_visible()
            shot("11-counters")

        def providers():
            nav("Providers")
            expect(page.get_by_role("cell", name="gas", exact=True)).to_be_visible()
            expect(row("gas")).to_contain_text("unlimited")
            # Pausing and limiting a provider is the operator's.
            expect(page.get_by_role("button", name="Pause gas")).to_have_count(0)
            shot("12-providers")

        def receivers():
            nav("Receivers")
            expect(page.get_by_role("heading", name="Receivers")).to_be_visible()
            page.get_by_label("Host", exact=True).fill("127.0.0.1")
            page.get_by_role("button", name="Pause host", exact=True).click()
            host = row("127.0.0.1")
            expect(host).to_contain_text("paused since")
            expect(page.get_by_role("button", name="Resume 127.0.0.1")).to_be_visible()
            time.sleep(SETTINGS_REFRESH_S)
            # Collected, then held by the pause without spending an attempt.
            held = call("POST", "/v1/webhooks", key_a, {"provider": ["gas"], "callbackUrl": receiver.url})["id"]
            expect(host).to_contain_text("1 waiting: paused 1")
            webhook = call("GET", f"/v1/webhooks/{held}", key_a)
            assert webhook["status"] == "delivering" and webhook["delivery"]["attempts"] == [], webhook
            # Two with one ordering key: the first held by the pause, the second by the first.
            ordered = [call("POST", "/v1/webhooks", key_a, {
                "provider": ["gas"], "callbackUrl": receiver.url, "orderingKey": ORDERING_KEY})["id"] for _ in range(2)]
            for webhook_id, why in zip(ordered, ["receiver_paused", "ordering"]):
                wait_for(f"{webhook_id} waiting for {why}", lambda w=webhook_id, y=why: waiting_for(key_a, w) == y)
            expect(host).to_contain_text("2 waiting: paused 2")
            page.goto(BASE + f"/console/#/webhooks/{held}")
            expect(page.locator("#webhook-status")).to_have_text("delivering")
            expect(page.locator("#waiting")).to_contain_text("Waiting without spending an attempt: receiver 127.0.0.1 is paused")
            expect(page.locator("#waiting")).to_have_class(re.compile(r"\bwarn\b"))
            expect(page.locator("#attempts > li")).to_have_count(1)
            expect(page.locator("#attempts > li.next")).to_contain_text("Next check")
            expect(page.locator("#ordering-key")).to_have_count(0)
            shot("13-webhook-waiting-receiver-paused")
            page.goto(BASE + f"/console/#/webhooks/{ordered[1]}")
            expect(page.locator("#ordering-key")).to_have_text(ORDERING_KEY)
            expect(page.locator("#waiting")).to_contain_text(
                f"an earlier webhook with ordering key {ORDERING_KEY} is not delivered or parked yet")
            shot("14-webhook-waiting-ordering")
            nav("Overview")
            flow = page.locator("#flow")
            expect(flow).to_contain_text("Paused: 1 receiver host")
            expect(flow).to_have_class(re.compile(r"\bwarn\b"))
            expect(page.locator("#waiting")).to_contain_text("3 waiting without spending an attempt")
            expect(page.locator("#waiting")).to_contain_text("receiver paused 2 · ordering key 1")
            shot("15-overview-receiver-paused")
            nav("Receivers")
            shot("16-receivers-paused")
            # A limit out of range is refused with the API's reason; the dialog stays open.
            page.get_by_role("button", name="Set limits of 127.0.0.1").click()
            dialog = page.get_by_role("dialog")
            set_limits(dialog, "0", "")
            expect(dialog.get_by_role("alert")).to_contain_text("must be from 1")
            expected_error("422")
            set_limits(dialog, "2", "5")
            expect(dialog).to_have_count(0)
            expect(host).to_contain_text("2 at once · 5/s")
            page.get_by_role("button", name="Resume 127.0.0.1").click()
            expect(page.get_by_role("button", name="Pause 127.0.0.1")).to_be_visible()
            for webhook_id in [held, *ordered]:
                wait_for(f"{webhook_id} delivered", lambda w=webhook_id: status_of(key_a, w) == "delivered")
                assert len(call("GET", f"/v1/webhooks/{webhook_id}", key_a)["delivery"]["attempts"]) == 1
            # One at a time, in submission order.
            delivered = [w for w, status in receiver.received if status == 200 and w in ordered]
            assert delivered == ordered, delivered
            expect(host).not_to_contain_text("paused since")
            expect(host).to_contain_text("none")
            shot("17-receivers-resumed")
            page.goto(BASE + f"/console/#/webhooks/{ordered[1]}")
            expect(page.locator("#webhook-status")).to_have_text("delivered")
            expect(page.locator("#ordering-key")).to_have_text(ORDERING_KEY)
            expect(page.locator("#waiting")).to_have_count(0)

        def phone():
            page.set_viewport_size({"width": 390, "height": 844})
            nav("Overview")
            # The three redelivered, and the three the receiver's pause held.
            expect(page.locator("a.tile.delivered .value")).to_have_text("6")
            # Nothing paused, nothing waiting: no line about it.
            expect(page.locator("#flow")).to_have_count(0)
            fits()
            shot("18-overview-phone")
            nav("Webhooks")
            expect(page.get_by_role("link", name=ids[0])).to_be_visible()
            fits()
            shot("19-webhooks-phone")
            nav("Providers")
            expect(page.get_by_role("cell", name="gas", exact=True)).to_be_visible()
            fits()
            nav("Receivers")
            expect(row("127.0.0.1")).to_be_visible()
            fits()
            shot("20-receivers-phone")
            page.set_viewport_size({"width": 1280, "height": 860})

        def other_tenant():
            page.get_by_role("button", name="Sign out").click()
            expect(page.get_by_label("API key")).to_be_visible()
            sign_in(key_b)
            expect(page.locator("a.tile.delivered .value")).to_have_text("0")
            nav("Webhooks")
            expect(page.get_by_text("No webhook matches.")).to_be_visible()
            for webhook_id in ids:
                expect(page.get_by_text(webhook_id)).to_have_count(0)
            page.goto(BASE + f"/console/#/webhooks/{ids[0]}")
            expect(page.get_by_role("alert")).to_contain_text(re.compile("no webhook", re.IGNORECASE))
            run.console_errors[:] = [e for e in run.console_errors if "404" not in e]
            shot("21-other-tenant")
            # The first tenant's pause and limits are its own.
            nav("Receivers")
            expect(page.get_by_text("No host is paused or limited")).to_be_visible()
            expect(page.get_by_role("cell", name="127.0.0.1", exact=True)).to_have_count(0)

        def admin():
            page.goto(BASE + "/console/#/overview")
            page.get_by_role("button", name="Sign out").click()
            sign_in(ADMIN_KEY)
            expect(page.locator("a.tile.delivered .value")).to_have_text("6")
            page.get_by_label("Tenant").select_option(tenant_b["id"])
            expect(page.locator("a.tile.delivered .value")).to_have_text("0")
            page.get_by_label("Tenant").select_option("")
            expect(page.locator("a.tile.delivered .value")).to_have_text("6")
            shot("22-admin-overview")
            # Every tenant's webhooks in one list say whose each is; one tenant's need not.
            nav("Webhooks")
            expect(page.get_by_role("columnheader", name="Tenant")).to_be_visible()
            page.get_by_label("Tenant").select_option(tenant_b["id"])
            expect(page.get_by_role("columnheader", name="Tenant")).to_have_count(0)
            page.get_by_label("Tenant").select_option("")
            expect(page.get_by_role("columnheader", name="Tenant")).to_be_visible()
            nav("Overview")
            page.emulate_media(color_scheme="dark")
            shot("23-admin-overview-dark")
            page.emulate_media(color_scheme="light")

        def admin_receivers():
            nav("Receivers")
            host = row("127.0.0.1")
            expect(host).to_contain_text(tenant_a["id"])
            expect(host).to_contain_text("2 at once · 5/s")
            expect(page.get_by_role("columnheader", name="Tenant", exact=True)).to_be_visible()
            # Read only: a receiver's settings are its tenant's.
            expect(page.get_by_role("button", name="Pause 127.0.0.1")).to_have_count(0)
            expect(page.get_by_role("button", name="Pause host")).to_have_count(0)
            shot("24-admin-receivers")

        def admin_providers():
            nav("Providers")
            gas = row("gas")
            page.get_by_role("button", name="Pause gas").click()
            expect(gas).to_contain_text("paused since")
            time.sleep(SETTINGS_REFRESH_S)
            # Accepted and held: the collection waits for the provider, spending nothing.
            held = call("POST", "/v1/webhooks", key_a, {"provider": ["gas"], "callbackUrl": receiver.url})["id"]
            expect(gas).to_contain_text("1 waiting: paused 1")
            assert status_of(key_a, held) == "collecting"
            shot("25-admin-provider-paused")
            nav("Overview")
            expect(page.locator("#flow")).to_contain_text("Paused: provider gas")
            expect(page.locator("#waiting")).to_contain_text("1 waiting without spending an attempt: provider paused 1")
            expect(row("gas")).to_contain_text("paused")
            shot("26-admin-overview-provider-paused")
            page.goto(BASE + f"/console/#/webhooks/{held}")
            expect(page.locator("#webhook-status")).to_have_text("collecting")
            expect(page.locator("#waiting")).to_contain_text("Waiting without spending an attempt: provider gas is paused")
            nav("Providers")
            page.get_by_role("button", name="Set limits of gas").click()
            dialog = page.get_by_role("dialog")
            set_limits(dialog, "3", "2.5")
            expect(dialog).to_have_count(0)
            expect(gas).to_contain_text(re.compile(r"3 at once · 2[.,]5/s"))
            page.get_by_role("button", name="Resume gas").click()
            expect(page.get_by_role("button", name="Pause gas")).to_be_visible()
            expect(gas).not_to_contain_text("paused since")
            wait_for(f"{held} delivered", lambda: status_of(key_a, held) == "delivered")
            # Limits cleared: the dialog opens with them, emptied is unlimited.
            page.get_by_role("button", name="Set limits of gas").click()
            expect(dialog.get_by_label("Max at once")).to_have_value("3")
            set_limits(dialog, "", "")
            expect(dialog).to_have_count(0)
            expect(gas).to_contain_text("unlimited")
            shot("27-admin-provider-resumed")

        try:
            for name, fn in [
                ("/ redirects to the console's sign-in page", signin_page),
                ("a bad key gets a clear message", bad_key),
                ("a tenant's overview refreshes itself without a reload", overview),
                ("the parked webhooks are listed", parked_list),
                ("Redeliver delivers a parked webhook; the new attempt is in its timeline", redeliver_one),
                ("Redeliver all matching counts, asks, and redelivers the other two", redeliver_all),
                ("a stream stops and starts", stop_and_start),
                ("counters are found by key prefix with their value", counters),
                ("providers show their health", providers),
                ("a tenant pauses a receiver host, sees the webhooks it holds and why, limits it and resumes it;"
                 " an ordering key's two go in order", receivers),
                ("the pages fit a phone", phone),
                ("another tenant sees none of the first's webhooks", other_tenant),
                ("the admin key sees every tenant and can pick one", admin),
                ("the admin key sees every tenant's receiver hosts, read only", admin_receivers),
                ("the admin key pauses, limits and resumes a provider; the held collection goes on", admin_providers),
            ]:
                run.step(name, fn)
            run.step("no request left the api's origin", lambda: _assert_empty(run.outside, "requests elsewhere"))
            run.step("the pages logged no console errors", lambda: _assert_empty(run.console_errors, "console errors"))
        except Exception:  # noqa: BLE001 - the step printed it
            shot("failure")
        finally:
            browser.close()
    print(f"{run.passed} passed, {run.failed} failed")
    return 1 if run.failed else 0


def _assert_empty(items, what):
    if items:
        raise AssertionError(f"{what}: {items}")


if __name__ == "__main__":
    sys.exit(main())
