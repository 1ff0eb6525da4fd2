"""Svix's Python SDK `ingest` module (pinned in requirements.txt) against a real Kanca: sources,
their endpoints and token rotation, then signed requests posted to each source's ingestUrl.

Run by conformance/run, which sets KANCA_URL and KANCA_TOKEN. Standard Webhooks requests are
signed with the SDK's own `Webhook.sign` (the library Svix-scheme providers use); GitHub,
Stripe and Slack requests with the formulas their documentation gives (their own signing
libraries are JavaScript: conformance/js/ingest.mjs). Each check prints `ok <name>` or
`FAIL <name>: <why>`; the last line is `ingest-python: N passed, M failed`.
"""

import hashlib
import hmac
import http.server
import json
import os
import sys
import threading
import time
import traceback
import urllib.error
import urllib.request
from datetime import datetime, timezone

from svix.api import (
    IngestEndpointHeadersIn,
    IngestEndpointIn,
    IngestEndpointSecretIn,
    IngestEndpointUpsertIn,
    IngestSourceIn,
    Svix,
    SvixOptions,
)
from svix.api.errors.http_error import HttpError
from svix.api.errors.http_validation_error import HTTPValidationError
from svix.models import (
    CronConfig,
    GithubConfig,
    SlackConfig,
    StripeConfig,
    SvixConfig,
    ZoomConfig,
)
from svix.webhooks import Webhook

RUN = str(int(time.time() * 1000))
passed = 0
failed = 0


def check(name):
    def run(fn):
        global passed, failed
        try:
            fn()
            passed += 1
            print(f"ok {name}", flush=True)
        except Exception as e:  # noqa: BLE001 - every failure is reported, then counted
            failed += 1
            print(f"FAIL {name}: {type(e).__name__}: {e}", flush=True)
            traceback.print_exc(limit=3, file=sys.stdout)
        return fn

    return run


def expect(cond, what):
    if not cond:
        raise AssertionError(what)


def eventually(what, probe, timeout=15.0):
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}; last seen {last!r}")


class Receiver:
    def __init__(self):
        self.requests = []
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                receiver.requests.append(({k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(200)
                self.send_header("content-length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def wait_for(self, n):
        return eventually(f"{n} request(s)", lambda: self.requests if len(self.requests) >= n else None)


def post(url, body, headers):
    req = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(req) as res:
            return res.status, json.loads(res.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


svix = Svix(os.environ["KANCA_TOKEN"], SvixOptions(server_url=os.environ["KANCA_URL"], retry_schedule=[]))
ingest = svix.ingest
state = {}


@check("source create, get, list, upsert")
def _():
    src = ingest.source.create(IngestSourceIn(name="Generic", uid=f"py-generic-{RUN}", type="generic-webhook"))
    expect(src.id.startswith("src_"), src.id)
    expect(src.ingest_url and "/ingest/" in src.ingest_url, src.ingest_url)
    got = ingest.source.get(f"py-generic-{RUN}")
    expect(got.id == src.id and got.type == "generic-webhook", got)
    listed = ingest.source.list()
    expect(any(s.id == src.id for s in listed.data), listed)
    up = ingest.source.upsert(src.id, IngestSourceIn(name="Generic 2", type="generic-webhook"))
    expect(up.name == "Generic 2", up)
    state["generic"] = up


@check("ingest endpoint create, get, list, upsert, headers, secret rotate")
def _():
    src = state["generic"]
    receiver = Receiver()
    state["receiver"] = receiver
    ep = ingest.endpoint.create(src.id, IngestEndpointIn(url=receiver.url, uid=f"ep-{RUN}", metadata={"a": "b"}))
    expect(ep.url == receiver.url and ep.uid == f"ep-{RUN}", ep)
    expect(ingest.endpoint.get(src.id, f"ep-{RUN}").id == ep.id, "get by uid")
    expect(any(e.id == ep.id for e in ingest.endpoint.list(src.id).data), "listed")
    up = ingest.endpoint.upsert(src.id, ep.id, IngestEndpointUpsertIn(url=receiver.url, description="d"))
    expect(up.description == "d", up)
    ingest.endpoint.set_headers(src.id, ep.id, IngestEndpointHeadersIn(headers={"x-team": "py"}))
    got = ingest.endpoint.get_headers(src.id, ep.id)
    expect(got.headers == {"x-team": "py"}, got)
    before = ingest.endpoint.get_secret(src.id, ep.id).key
    ingest.endpoint.rotate_secret(src.id, ep.id, IngestEndpointSecretIn())
    after = ingest.endpoint.get_secret(src.id, ep.id).key
    expect(before != after and after.startswith("whsec_"), (before, after))
    state["endpoint_secret"] = after


@check("generic request delivered byte for byte, signed by Kanca")
def _():
    src, receiver = state["generic"], state["receiver"]
    body = b'{"hello":  "world"}'
    status, out = post(src.ingest_url, body, {"content-type": "application/json", "x-custom": "1"})
    expect(status == 200, (status, out))
    headers, got = receiver.wait_for(1)[0]
    expect(got == body, got)
    expect(headers.get("x-custom") == "1", headers)
    Webhook(state["endpoint_secret"]).verify(got, headers)


@check("token rotate: the old URL stops at once")
def _():
    src = state["generic"]
    new = ingest.source.rotate_token(src.id)
    expect(new.ingest_url != src.ingest_url, new)
    status, _ = post(src.ingest_url, b"{}", {})
    expect(status == 404, status)
    status, _ = post(new.ingest_url, b"{}", {})
    expect(status == 200, status)


@check("svix source: Webhook.sign accepted, forged and expired refused, replay deduplicated")
def _():
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    src = ingest.source.create(IngestSourceIn(name="Svix", type="svix", config=SvixConfig(secret=secret)))
    receiver = Receiver()
    ingest.endpoint.create(src.id, IngestEndpointIn(url=receiver.url))
    body = '{"type":"invoice.paid"}'
    now = datetime.now(tz=timezone.utc)

    def headers(msg_id, at, sig=None):
        return {
            "webhook-id": msg_id,
            "webhook-timestamp": str(int(at.timestamp())),
            "webhook-signature": sig or Webhook(secret).sign(msg_id, at, body),
            "content-type": "application/json",
        }

    expect(post(src.ingest_url, body.encode(), headers("msg_a", now))[0] == 200, "valid")
    status, out = post(src.ingest_url, body.encode(), headers("msg_a", now))
    expect(status == 200 and out["status"] == "duplicate", out)
    forged = Webhook("whsec_" + "A" * 32).sign("msg_b", now, body)
    expect(post(src.ingest_url, body.encode(), headers("msg_b", now, forged))[0] == 401, "forged")
    old = datetime.fromtimestamp(now.timestamp() - 600, tz=timezone.utc)
    expect(post(src.ingest_url, body.encode(), headers("msg_c", old))[0] == 401, "expired")
    receiver.wait_for(1)
    time.sleep(0.5)
    expect(len(receiver.requests) == 1, receiver.requests)


@check("github source: documented HMAC accepted, forged refused")
def _():
    secret = "It's a Secret to Everybody"
    src = ingest.source.create(IngestSourceIn(name="GitHub", type="github", config=GithubConfig(secret=secret)))
    receiver = Receiver()
    ingest.endpoint.create(src.id, IngestEndpointIn(url=receiver.url))
    body = b"Hello, World!"
    sig = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    ok = {"x-hub-signature-256": sig, "x-github-delivery": f"d-{RUN}", "x-github-event": "push"}
    expect(post(src.ingest_url, body, ok)[0] == 200, "valid")
    bad = dict(ok, **{"x-hub-signature-256": "sha256=" + "0" * 64})
    expect(post(src.ingest_url, body, bad)[0] == 401, "forged")
    headers, got = receiver.wait_for(1)[0]
    expect(got == body and headers.get("x-github-event") == "push", headers)


@check("stripe and slack sources: documented formulas, tolerance enforced")
def _():
    secret = "whsec_py_stripe"
    src = ingest.source.create(IngestSourceIn(name="Stripe", type="stripe", config=StripeConfig(secret=secret)))
    body = json.dumps({"id": f"evt_{RUN}", "type": "charge.succeeded"}).encode()

    def stripe_sig(t):
        return f"t={t},v1=" + hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()

    now = int(time.time())
    expect(post(src.ingest_url, body, {"stripe-signature": stripe_sig(now)})[0] == 200, "stripe valid")
    expect(post(src.ingest_url, body, {"stripe-signature": stripe_sig(now - 400)})[0] == 401, "stripe expired")

    slack_secret = "8f742231b10e8888abcd99yyyzzz85a5"
    src = ingest.source.create(IngestSourceIn(name="Slack", type="slack", config=SlackConfig(secret=slack_secret)))
    form = b"token=x&text=hi"

    def slack_sig(ts):
        return "v0=" + hmac.new(slack_secret.encode(), f"v0:{ts}:".encode() + form, hashlib.sha256).hexdigest()

    ok = {"x-slack-request-timestamp": str(now), "x-slack-signature": slack_sig(now)}
    expect(post(src.ingest_url, form, ok)[0] == 200, "slack valid")
    old = {"x-slack-request-timestamp": str(now - 400), "x-slack-signature": slack_sig(now - 400)}
    expect(post(src.ingest_url, form, old)[0] == 401, "slack expired")


@check("cron: the SDK's CronConfig round-trips and a bad schedule is refused")
def _():
    src = ingest.source.create(
        IngestSourceIn(
            name="Nightly",
            type="cron",
            config=CronConfig(schedule="5 4 * * *", payload='{"job":"nightly"}', content_type="application/json"),
        )
    )
    expect(src.type == "cron", src)
    expect(src.config.schedule == "5 4 * * *", src.config)
    expect(src.config.payload == '{"job":"nightly"}', src.config)
    again = ingest.source.get(src.id)
    expect(again.config.schedule == "5 4 * * *", again.config)
    try:
        ingest.source.create(
            IngestSourceIn(name="Bad", type="cron", config=CronConfig(schedule="every day", payload="{}"))
        )
        raise AssertionError("a bad schedule was accepted")
    except (HttpError, HTTPValidationError) as e:
        expect(e.status_code == 422, e)
    ingest.source.delete(src.id)


@check("unsupported types answer 422, unknown sources 404")
def _():
    try:
        ingest.source.create(IngestSourceIn(name="Zoom", type="zoom", config=ZoomConfig(secret="x")))
        raise AssertionError("zoom was accepted")
    except (HttpError, HTTPValidationError) as e:
        expect(e.status_code == 422, e)
    try:
        ingest.source.get("no-such-source")
        raise AssertionError("found a source that does not exist")
    except HttpError as e:
        expect(e.status_code == 404, e)


@check("source delete")
def _():
    src = state["generic"]
    ingest.source.delete(src.id)
    try:
        ingest.source.get(src.id)
        raise AssertionError("still there")
    except HttpError as e:
        expect(e.status_code == 404, e)


print(f"ingest-python: {passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
