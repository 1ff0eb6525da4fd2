"""Svix's official Python SDK (pinned in requirements.txt), unchanged, driving a real Kanca.

Run by conformance/run, which starts the server and sets KANCA_URL and KANCA_TOKEN. Each
check prints `ok <name>` or `FAIL <name>: <why>`; the last line is
`python: N passed, M failed`. Deliveries go to a receiver in this process and are verified
with the SDK's own `Webhook.verify`, as a consumer would.
"""

import http.server
import json
import os
import sys
import threading
import time
import traceback
from datetime import datetime, timedelta, timezone

from svix.api import (
    ApplicationIn,
    ApplicationListOptions,
    ApplicationPatch,
    BulkExpungeContentsIn,
    BulkReplayIn,
    EndpointHeadersIn,
    EndpointHeadersPatchIn,
    EndpointIn,
    EndpointListOptions,
    EndpointPatch,
    EndpointSecretRotateIn,
    EndpointUpsertIn,
    EventExampleIn,
    EventTypeImportOpenApiIn,
    EventTypeIn,
    EventTypeListOptions,
    EventTypePatch,
    EventTypeUpsertIn,
    MessageAttemptListAttemptedMessagesOptions,
    MessageAttemptListByEndpointOptions,
    MessageAttemptListByMsgOptions,
    MessageGetOptions,
    MessageIn,
    MessageListOptions,
    MessagePrecheckIn,
    OperationalWebhookEndpointIn,
    OperationalWebhookEndpointListOptions,
    OperationalWebhookEndpointSecretIn,
    OperationalWebhookEndpointUpsertIn,
    RecoverIn,
    ReplayIn,
    Svix,
    SvixOptions,
)
from svix.api.errors.http_error import HttpError
from svix.api.errors.http_validation_error import HTTPValidationError
from svix.webhooks import Webhook

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
RUN = str(int(time.time() * 1000))

passed = 0
failed = 0


def check(name):
    """Runs the decorated function at once as one named check."""

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


def raises(status, fn):
    """Calls fn and returns the SDK's exception, which must carry `status`."""
    try:
        fn()
    except (HttpError, HTTPValidationError) as e:
        expect(e.status_code == status, f"expected {status}, got {e.status_code}: {e}")
        return e
    raise AssertionError(f"expected an error with status {status}, got none")


class Receiver:
    """An HTTP server that records every request and answers `self.status`."""

    def __init__(self):
        self.requests = []
        self.status = 200
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                receiver.requests.append((dict(self.headers.items()), body))
                self.send_response(receiver.status)
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


def list_all(page_fn, limit=2):
    """Every item of a paged list, following the iterator; checks that paging ends."""
    items, iterator, pages = [], None, 0
    while True:
        page = page_fn(limit, iterator)
        items.extend(page.data)
        pages += 1
        expect(pages < 100, "paging never ends")
        if page.done:
            return items, pages
        iterator = page.iterator


svix = Svix(os.environ["KANCA_TOKEN"], SvixOptions(server_url=os.environ["KANCA_URL"], retry_schedule=[]))
receiver = Receiver()
state = {}


@check("health.get")
def _():
    svix.health.get()


@check("application: create, get (id and uid), get_or_create")
def _():
    app = svix.application.create(ApplicationIn(name="Billing", uid=f"billing-{RUN}", metadata={"team": "pay"}))
    expect(app.id.startswith("app_"), app)
    expect(app.metadata == {"team": "pay"}, app)
    expect(svix.application.get(app.id) == app, "get by id")
    expect(svix.application.get(f"billing-{RUN}").id == app.id, "get by uid")
    same = svix.application.get_or_create(ApplicationIn(name="Billing", uid=f"billing-{RUN}"))
    expect(same.id == app.id, "get_or_create finds it")
    state["app"] = app.id


@check("application: list with pagination")
def _():
    for i in range(3):
        svix.application.create(ApplicationIn(name=f"page {i}", uid=f"page-{i}-{RUN}"))
    apps, pages = list_all(lambda limit, it: svix.application.list(ApplicationListOptions(limit=limit, iterator=it)))
    uids = {a.uid for a in apps}
    expect({f"page-{i}-{RUN}" for i in range(3)} <= uids, uids)
    expect(pages >= 2, f"{pages} page(s)")


@check("application: upsert (update), patch, delete, 404")
def _():
    app = svix.application.create(ApplicationIn(name="Temp", uid=f"temp-{RUN}"))
    up = svix.application.upsert(app.id, ApplicationIn(name="Temp 2", uid=f"temp-{RUN}"))
    expect(up.name == "Temp 2" and up.id == app.id, up)
    patched = svix.application.patch(app.id, ApplicationPatch(metadata={"k": "v"}))
    expect(patched.metadata == {"k": "v"} and patched.name == "Temp 2", patched)
    svix.application.delete(app.id)
    e = raises(404, lambda: svix.application.get(app.id))
    # upsert of what does not exist creates it, keyed by the uid in the path.
    made = svix.application.upsert(f"upserted-{RUN}", ApplicationIn(name="Upserted"))
    expect(made.uid == f"upserted-{RUN}", made)
    ep = svix.endpoint.upsert(made.id, f"ep-up-{RUN}", EndpointUpsertIn(url=receiver.url))
    expect(ep.uid == f"ep-up-{RUN}", ep)
    expect(e.code == "not_found", e)


@check("application: 409 on a taken uid, 422 on a bad one")
def _():
    raises(409, lambda: svix.application.create(ApplicationIn(name="Dup", uid=f"billing-{RUN}")))
    e = raises(422, lambda: svix.application.create(ApplicationIn(name="Bad", uid="no spaces allowed")))
    expect(e.detail and e.detail[0].msg, e)


@check("event_type: create, get, list with pagination, upsert, patch, delete (archive)")
def _():
    names = [f"invoice{RUN}.paid", f"invoice{RUN}.void", f"invoice{RUN}.sent"]
    example = {"invoiceId": "inv_1", "amount": 100}
    schema = {"1": {"type": "object", "examples": [example]}}
    for n in names:
        svix.event_type.create(EventTypeIn(name=n, description=f"{n} happened", schemas=schema))
    got = svix.event_type.get(names[0])
    expect(got.name == names[0] and got.schemas == schema, got)
    types, pages = list_all(lambda limit, it: svix.event_type.list(EventTypeListOptions(limit=limit, iterator=it)))
    expect(set(names) <= {t.name for t in types} and pages >= 2, (pages, [t.name for t in types]))
    up = svix.event_type.upsert(names[1], EventTypeUpsertIn(description="voided"))
    expect(up.description == "voided", up)
    patched = svix.event_type.patch(names[1], EventTypePatch(description="voided!"))
    expect(patched.description == "voided!", patched)
    svix.event_type.delete(names[2])
    archived = svix.event_type.get(names[2])
    expect(archived.archived, archived)
    raises(409, lambda: svix.event_type.create(EventTypeIn(name=names[0], description="again")))
    raises(404, lambda: svix.event_type.get(f"nope{RUN}.nope"))
    state["event_type"] = names[0]


@check("endpoint: create, get, list with pagination, upsert, patch")
def _():
    app = state["app"]
    ep = svix.endpoint.create(
        app,
        EndpointIn(url=receiver.url, event_types=[state["event_type"]], secret=SECRET, throttle_rate=50,
                   metadata={"m": "1"}, uid=f"ep-{RUN}"),
    )
    expect(ep.id.startswith("ep_") and ep.event_types == [state["event_type"]] and ep.throttle_rate == 50, ep)
    expect(svix.endpoint.get(app, f"ep-{RUN}").id == ep.id, "get by uid")
    for i in range(2):
        svix.endpoint.create(app, EndpointIn(url=f"{receiver.url}/{i}", disabled=True))
    eps, pages = list_all(lambda limit, it: svix.endpoint.list(app, EndpointListOptions(limit=limit, iterator=it)))
    expect(len(eps) == 3 and pages == 2, (len(eps), pages))
    # Read, modify, write back: the filter must survive.
    current = svix.endpoint.get(app, ep.id)
    up = svix.endpoint.upsert(
        app,
        ep.id,
        EndpointUpsertIn(url=current.url, description="updated", event_types=current.event_types,
                         throttle_rate=current.throttle_rate, metadata=current.metadata, uid=current.uid),
    )
    expect(up.description == "updated" and up.event_types == [state["event_type"]], up)
    patched = svix.endpoint.patch(app, ep.id, EndpointPatch(metadata={"m": "2"}))
    expect(patched.metadata == {"m": "2"} and patched.event_types == [state["event_type"]], patched)
    state["ep"] = ep.id


@check("endpoint: secret, rotate with grace, headers")
def _():
    app, ep = state["app"], state["ep"]
    expect(svix.endpoint.get_secret(app, ep).key == SECRET, "the chosen secret")
    rotated = svix.endpoint.rotate_secret(app, ep, EndpointSecretRotateIn(grace_period_seconds=3600))
    expect(rotated.key.startswith("whsec_") and rotated.key != SECRET, rotated)
    expect(svix.endpoint.get_secret(app, ep).key == rotated.key, "the new secret is current")
    state["new_secret"] = rotated.key
    raises(422, lambda: svix.endpoint.rotate_secret(app, ep, EndpointSecretRotateIn(grace_period_seconds=8 * 86400)))
    svix.endpoint.set_headers(app, ep, EndpointHeadersIn(headers={"x-one": "1", "x-two": "2"}))
    svix.endpoint.patch_headers(app, ep, EndpointHeadersPatchIn(headers={"x-three": "3"}, delete_headers=["x-two"]))
    headers = svix.endpoint.get_headers(app, ep)
    expect(headers.headers == {"x-one": "1", "x-three": "3"}, headers)


@check("endpoint: 404 and 422")
def _():
    app = state["app"]
    raises(404, lambda: svix.endpoint.get(app, "ep_nope"))
    e = raises(422, lambda: svix.endpoint.create(app, EndpointIn(url="not a url")))
    expect(e.detail[0].msg and e.detail[0].loc, e)


@check("message: create, signed delivery verified with Webhook.verify (old and new secret)")
def _():
    app = state["app"]
    before = len(receiver.requests)
    msg = svix.message.create(
        app, MessageIn(event_type=state["event_type"], event_id=f"evt-{RUN}", payload={"invoiceId": "inv_9"})
    )
    expect(msg.id.startswith("msg_") and msg.event_id == f"evt-{RUN}", msg)
    headers, body = receiver.wait_for(before + 1)[before]
    expect(json.loads(body) == {"invoiceId": "inv_9"}, body)
    for secret in (SECRET, state["new_secret"]):
        Webhook(secret).verify(body, headers)
    state["msg"] = msg.id
    expect(headers.get("x-one") == "1", headers)


@check("message: 409 on a reused eventId, get by id and eventId, list with pagination")
def _():
    app = state["app"]
    raises(409, lambda: svix.message.create(app, MessageIn(event_type=state["event_type"], event_id=f"evt-{RUN}",
                                                             payload={})))
    expect(svix.message.get(app, f"evt-{RUN}").id == state["msg"], "get by eventId")
    # SDK v2 asks for no payload unless told (`with_content=false`), as Svix documents.
    expect(svix.message.get(app, state["msg"]).payload == {}, "without content")
    got = svix.message.get(app, state["msg"], MessageGetOptions(with_content=True))
    expect(got.payload == {"invoiceId": "inv_9"}, got)
    for i in range(2):
        svix.message.create(app, MessageIn(event_type=state["event_type"], payload={"n": i}))
    msgs, pages = list_all(lambda limit, it: svix.message.list(app, MessageListOptions(limit=limit, iterator=it)))
    expect(len(msgs) == 3 and pages == 2, (len(msgs), pages))
    raises(404, lambda: svix.message.get(app, "msg_nope"))
    e = raises(422, lambda: svix.message.create(app, MessageIn(event_type="bad name!", payload={})))
    expect(e.detail[0].msg, e)


@check("message: deliverAt is accepted and pending")
def _():
    app, ep = state["app"], state["ep"]
    at = datetime.now(timezone.utc) + timedelta(hours=1)
    msg = svix.message.create(app, MessageIn(event_type=state["event_type"], payload={"later": True}, deliver_at=at))
    dests = svix.message_attempt.list_attempted_destinations(app, msg.id).data
    expect(len(dests) == 1 and dests[0].id == ep and int(dests[0].status) == 1 and dests[0].next_attempt, dests)


@check("message_attempt: list by msg and endpoint, get, destinations, attempted messages")
def _():
    app, ep, msg = state["app"], state["ep"], state["msg"]

    def settled():
        a = svix.message_attempt.list_by_msg(app, msg, MessageAttemptListByMsgOptions()).data
        return a if a else None

    attempts = eventually("an attempt", settled)
    expect(int(attempts[0].status) == 0 and attempts[0].endpoint_id == ep, attempts)
    got = svix.message_attempt.get(app, msg, attempts[0].id)
    expect(got.id == attempts[0].id and got.response_status_code == 200, got)
    by_ep = svix.message_attempt.list_by_endpoint(app, ep, MessageAttemptListByEndpointOptions(limit=1))
    expect(len(by_ep.data) == 1, by_ep)
    dests = svix.message_attempt.list_attempted_destinations(app, msg).data
    expect(dests[0].id == ep and int(dests[0].status) == 0, dests)
    attempted, _pages = list_all(
        lambda limit, it: svix.message_attempt.list_attempted_messages(
            app, ep, MessageAttemptListAttemptedMessagesOptions(limit=limit, iterator=it)
        )
    )
    expect(msg in {m.id for m in attempted}, [m.id for m in attempted])


@check("message_attempt: resend; endpoint: recover, stats, send_example")
def _():
    app, ep, msg = state["app"], state["ep"], state["msg"]
    before = len(receiver.requests)
    svix.message_attempt.resend(app, msg, ep)
    receiver.wait_for(before + 1)
    recovered = svix.endpoint.recover(app, ep, RecoverIn(since=datetime.now(timezone.utc) - timedelta(hours=1)))
    expect(recovered.id, recovered)
    stats = svix.endpoint.get_stats(app, ep)
    expect(stats.success >= 1, stats)
    before = len(receiver.requests)
    svix.endpoint.send_example(app, ep, EventExampleIn(event_type=state["event_type"]))
    headers, body = receiver.wait_for(before + 1)[before]
    expect(json.loads(body) == {"invoiceId": "inv_1", "amount": 100}, body)
    Webhook(state["new_secret"]).verify(body, headers)


@check("message: precheck, expunge_content, bulk_expunge_content; attempt: expunge_content; endpoint: get_attempt_stats")
def _():
    app, ep = state["app"], state["ep"]
    et = state["event_type"]
    expect(svix.message.precheck(app, MessagePrecheckIn(event_type=et)).active is True, "precheck active")
    msg = svix.message.create(app, MessageIn(event_type=et, payload={"secret": "s3cr3t"}))

    def attempted():
        a = svix.message_attempt.list_by_msg(app, msg.id, MessageAttemptListByMsgOptions()).data
        return a if a else None

    attempt = eventually("an attempt", attempted)[0]
    svix.message.expunge_content(app, msg.id)
    got = svix.message.get(app, msg.id)
    expect("s3cr3t" not in json.dumps(got.payload), got.payload)
    svix.message_attempt.expunge_content(app, msg.id, attempt.id)
    expect(svix.message_attempt.get(app, msg.id, attempt.id).response == "", "response expunged")
    out = svix.message.bulk_expunge_content(app, BulkExpungeContentsIn(ids=[msg.id, "msg_nope"]))
    expect(str(out.results[msg.id]) == "expunged" and str(out.results["msg_nope"]) == "not-found", out)
    stats = svix.endpoint.get_attempt_stats(app, ep)
    expect(stats.success >= 1 and stats.fail >= 0, stats)
    raises(404, lambda: svix.message.expunge_content(app, "msg_nope"))


@check("endpoint: replay_missing, bulk_replay")
def _():
    et = state["event_type"]
    since = datetime.now(timezone.utc) - timedelta(minutes=5)
    app = svix.application.create(ApplicationIn(name=f"replay-{RUN}")).id
    svix.message.create(app, MessageIn(event_type=et, payload={"replayed": True}))
    late_rx = Receiver()
    late = svix.endpoint.create(app, EndpointIn(url=late_rx.url, event_types=[et]))
    out = svix.endpoint.replay_missing(app, late.id, ReplayIn(since=since))
    expect(out.id.startswith("qtask_") and str(out.status) == "finished", out)
    late_rx.wait_for(1)
    eventually("the replayed delivery to end", lambda: svix.message_attempt.list_by_endpoint(
        app, late.id, MessageAttemptListByEndpointOptions()).data or None)
    out = svix.endpoint.bulk_replay(app, late.id, BulkReplayIn(since=since, event_types=[et]))
    expect(str(out.task) == "endpoint.bulk-replay", out)
    late_rx.wait_for(2)
    task = svix.background_task.get(out.id)
    expect(str(task.status) == "finished" and task.data.get("messagesSent") == 1, task)
    purged = svix.message.expunge_all_contents(app)
    expect(svix.background_task.get(purged.id).data.get("messagesPurged") == 1, purged)


@check("event_type: import_openapi; endpoint: transformation get")
def _():
    name = f"imported.t{RUN}"
    spec = {"openapi": "3.1.0", "webhooks": {name: {"post": {
        "description": "From a document",
        "requestBody": {"content": {"application/json": {"schema": {"type": "object"}}}}}}}}
    out = svix.event_type.import_openapi(EventTypeImportOpenApiIn(spec=spec))
    expect(out.data.modified == [name], out)
    expect(svix.event_type.get(name).description == "From a document", "imported")
    t = svix.endpoint.transformation.get(state["app"], state["ep"])
    expect(t.enabled is False, t)


@check("endpoint: delete, then 404")
def _():
    app = state["app"]
    ep = svix.endpoint.create(app, EndpointIn(url=receiver.url))
    svix.endpoint.delete(app, ep.id)
    raises(404, lambda: svix.endpoint.get(app, ep.id))


@check("operational webhook endpoint: create, get, list, upsert, secret, rotate, headers, events, delete")
def _():
    ops = svix.operational_webhook.endpoint
    ops_receiver = Receiver()
    ep = ops.create(OperationalWebhookEndpointIn(url=ops_receiver.url, event_types=["endpoint.created"]))
    expect(ep.id.startswith("ep_") and ep.event_types == ["endpoint.created"], ep)
    expect(ops.get(ep.id).id == ep.id, "get")
    listed = ops.list(OperationalWebhookEndpointListOptions(limit=10))
    expect(ep.id in {e.id for e in listed.data}, listed)
    up = ops.upsert(ep.id, OperationalWebhookEndpointUpsertIn(url=ops_receiver.url, description="ops",
                                                             event_types=["endpoint.created"]))
    expect(up.description == "ops" and up.event_types == ["endpoint.created"], up)
    secret = ops.get_secret(ep.id).key
    rotated = ops.rotate_secret(ep.id, OperationalWebhookEndpointSecretIn(grace_period_seconds=60))
    expect(rotated is None or rotated.key != secret, rotated)
    new_secret = ops.get_secret(ep.id).key
    # An endpoint.created event reaches the operator, signed with the new secret.
    svix.endpoint.create(state["app"], EndpointIn(url=f"{receiver.url}/ops"))
    headers, body = ops_receiver.wait_for(1)[0]
    Webhook(new_secret).verify(body, headers)
    expect(json.loads(body)["type"] == "endpoint.created", body)
    ops.delete(ep.id)
    raises(404, lambda: ops.get(ep.id))


print(f"python: {passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
