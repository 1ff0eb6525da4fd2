"""Slack's Bolt for Python, `slack_bolt.App` (pinned in requirements.txt), as a real app against
a real Kanca: Events API (`message`, `app_mention`), a slash command with `ack()` and a delayed
`respond()`, and a button click (`block_actions`) that replaces its message. The app is
unchanged Bolt code; only its Web API client points at Kanca (`base_url=f"{URL}/api/"`).

Run by conformance/run, which sets KANCA_URL and KANCA_TOKEN. The Slack app is made first
through Kanca's management API (plain HTTP with the admin token); then Bolt's own development
server (`app.start`) listens on a free 127.0.0.1 port, Kanca is told its request URLs, and a
person's actions are driven through the admin API while the app answers. Each check prints
`ok <name>` or `FAIL <name>: <why>`; the last line is `bolt-python: N passed, M failed`.
"""

import json
import logging
import os
import re
import socket
import sys
import threading
import time
import traceback
import urllib.error
import urllib.parse
import urllib.request

from slack_bolt import App
from slack_sdk import WebClient

URL = os.environ["KANCA_URL"].rstrip("/")
ADMIN = os.environ["KANCA_TOKEN"]
RUN = str(int(time.time() * 1000))[-8:]
COMMAND = f"/deploy-{RUN}"
logging.basicConfig(level=logging.WARNING, format="bolt-python app: %(levelname)s %(name)s: %(message)s")
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


class AdminError(Exception):
    def __init__(self, method, path, status, body):
        super().__init__(f"{method} {path}: {status} {body}")
        self.status = status
        self.body = body


def admin(method, path, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(URL + path, data=data, method=method)
    req.add_header("authorization", f"Bearer {ADMIN}")
    req.add_header("content-type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            text = r.read()
            return json.loads(text) if text else None
    except urllib.error.HTTPError as e:
        raise AdminError(method, path, e.code, e.read().decode(errors="replace")) from None


def poll(what, fn, seconds=15.0):
    """Calls fn every 100 ms until it returns something truthy; fails after `seconds`."""
    deadline = time.monotonic() + seconds
    last = None
    while True:
        last = fn()
        if last and last[0]:
            return last[0]
        if time.monotonic() > deadline:
            raise AssertionError(f"after {seconds:.0f} s, no {what}; last seen: {last[1] if last else None}")
        time.sleep(0.1)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def messages(channel):
    listed = admin("GET", f"/api/v1/channels/{channel}/messages?order=ascending&limit=100")
    return listed["data"]


def bot_message(channel, match):
    """(the first bot message whose text matches, every message seen) for poll()."""
    seen = messages(channel)
    found = [m for m in seen if m.get("postedBy", {}).get("kind") == "bot" and match(m.get("text") or "")]
    return (found[0] if found else None, [(m.get("postedBy"), m.get("text")) for m in seen])


# ---------------------------------------------------------------------------------------------
# The Slack app in Kanca, then the Bolt app with its token and signing secret.

slack_app = admin("POST", "/api/v1/slack-apps", {"name": f"bolt-py-{RUN}"})
channel = admin("POST", "/api/v1/channels", {"name": f"bolt-py-{RUN}"})
CHANNEL = channel["id"]
port = free_port()
request_url = f"http://127.0.0.1:{port}/slack/events"
# Every event that got past Bolt's built-in middleware (so not the app's own, which
# `IgnoringSelfEvents` drops), in arrival order.
seen_events = []

# The bot token rides on the client: given `token=` too, Bolt warns that it ignores it.
app = App(
    signing_secret=slack_app["signingSecret"],
    client=WebClient(token=slack_app["botToken"], base_url=f"{URL}/api/"),
)


@app.use
def record_events(body, next):
    if body.get("event"):
        seen_events.append(body["event"])
    next()


@app.message("hello")
def say_hi(message, say):
    say(f"Hi <@{message['user']}>!")


@app.message("button please")
def offer_button(say):
    say(
        text="Approve the deploy?",
        blocks=[
            {"type": "section", "text": {"type": "mrkdwn", "text": "Approve the deploy?"}},
            {
                "type": "actions",
                "elements": [
                    {
                        "type": "button",
                        "action_id": "approve",
                        "text": {"type": "plain_text", "text": "Approve"},
                        "value": "v1",
                    }
                ],
            },
        ],
    )


@app.event("app_mention")
def mentioned(event, say):
    said = re.sub(r"^\s*<@[^>]+>\s*", "", event["text"])
    say(f"mentioned: {said}")


@app.command(COMMAND)
def deploy(ack, respond, command):
    ack("Deploying…")
    respond(text=f"Deployed {command['text']}", response_type="in_channel")
    respond("only you see this")


@app.action("approve")
def approve(ack, respond, body):
    ack()
    respond(replace_original=True, text=f"Approved by <@{body['user']['id']}>")


# Every other message event (a mention is also a `message`): handled, so Bolt answers 200
# rather than its 404 for unhandled requests.
@app.event("message")
def other_messages():
    pass


threading.Thread(
    target=app.start, kwargs={"port": port, "http_server_logger_enabled": False}, daemon=True
).start()
for _ in range(100):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        break
    except OSError:
        time.sleep(0.05)

state = {}


@check("PATCH with Bolt's URL: url_verification answered, events.verified")
def _():
    r = admin(
        "PATCH",
        f"/api/v1/slack-apps/{slack_app['id']}",
        {
            "events": {"requestUrl": request_url, "eventTypes": ["message.channels", "app_mention"]},
            "slashCommands": [
                {"command": COMMAND, "url": request_url, "description": "Deploy", "usageHint": "[env]"}
            ],
            "interactivityUrl": request_url,
        },
    )
    expect(r["events"]["verified"] is True, r)
    expect(r["events"]["requestUrl"] == request_url, r)
    expect([c["command"] for c in r["slashCommands"]] == [COMMAND], r)
    expect(r["interactivityUrl"] == request_url, r)


@check("message + say(): a person's `hello bolt` gets `Hi <@U…>!`")
def _():
    posted = admin("POST", f"/api/v1/channels/{CHANNEL}/messages", {"user": "alice", "text": "hello bolt"})
    hi = poll("`Hi <@` bot message", lambda: bot_message(CHANNEL, lambda t: t.startswith("Hi <@")))
    expect(re.fullmatch(r"Hi <@U[A-Z0-9]+>!", hi["text"]), hi)
    events = [e for e in seen_events if e.get("type") == "message" and e.get("ts") == posted["ts"]]
    expect(events and hi["text"] == f"Hi <@{events[0]['user']}>!", (hi, events))


@check("app_mention: `<@bot> status` gets `mentioned: status`")
def _():
    text = f"<@{slack_app['botUserId']}> status"
    admin("POST", f"/api/v1/channels/{CHANNEL}/messages", {"user": "alice", "text": text})
    m = poll("`mentioned:` bot message", lambda: bot_message(CHANNEL, lambda t: t.startswith("mentioned:")))
    expect(m["text"] == "mentioned: status", m)


@check("slash command: ack() answers at once, respond() posts in_channel and ephemeral")
def _():
    r = admin(
        "POST", f"/api/v1/channels/{CHANNEL}/commands", {"user": "alice", "command": COMMAND, "text": "prod"}
    )
    expect(r["command"] == COMMAND and r["status"] == 200, r)
    expect(r["text"] == "Deploying…", r)
    expect(r["responseType"] in (None, "ephemeral"), r)
    # `message` is null, or the ephemeral message shown to alice only.
    expect(r.get("message") is None or r["message"].get("text") == "Deploying…", r)
    poll("`Deployed prod` bot message", lambda: bot_message(CHANNEL, lambda t: t == "Deployed prod"))

    def ephemeral():
        got = admin("GET", f"/api/v1/channels/{CHANNEL}/ephemeral?user=alice")["data"]
        return (any(e.get("text") == "only you see this" for e in got), [e.get("text") for e in got])

    poll("`only you see this` in alice's ephemeral messages", ephemeral)
    in_channel = [m.get("text") for m in messages(CHANNEL)]
    expect("Deploying…" not in in_channel and "only you see this" not in in_channel, in_channel)
    try:
        admin("POST", f"/api/v1/channels/{CHANNEL}/commands", {"user": "alice", "command": "/nope", "text": ""})
        raise AssertionError("an unknown command was accepted")
    except AdminError as e:
        expect(e.status == 404 and json.loads(e.body).get("code") == "command_not_found", str(e))


@check("button: block_actions reaches app.action, respond(replace_original) edits the message")
def _():
    admin("POST", f"/api/v1/channels/{CHANNEL}/messages", {"user": "alice", "text": "button please"})
    offer = poll("bot message with the button", lambda: bot_message(CHANNEL, lambda t: t == "Approve the deploy?"))
    kinds = [b.get("type") for b in offer.get("blocks") or []]
    expect(kinds == ["section", "actions"], offer)
    r = admin(
        "POST",
        f"/api/v1/channels/{CHANNEL}/messages/{offer['ts']}/actions",
        {"user": "alice", "actionId": "approve"},
    )
    expect(r["status"] == 200, r)

    def replaced():
        same = [m for m in messages(CHANNEL) if m["ts"] == offer["ts"]]
        return (same and (same[0].get("text") or "").startswith("Approved by <@"), same)

    poll("`Approved by <@` on the button's message", replaced)
    try:
        admin(
            "POST",
            f"/api/v1/channels/{CHANNEL}/messages/{offer['ts']}/actions",
            {"user": "alice", "actionId": "no-such-button"},
        )
        raise AssertionError("an unknown action was accepted")
    except AdminError as e:
        expect(e.status == 404 and json.loads(e.body).get("code") == "action_not_found", str(e))


@check("no loop: the app's own messages reach none of its listeners, one `Hi`")
def _():
    time.sleep(1.0)  # room for any late (looping) delivery
    his = [m for m in messages(CHANNEL) if (m.get("text") or "").startswith("Hi <@")]
    expect(len(his) == 1, [m.get("text") for m in his])
    own = [
        e
        for e in seen_events
        if e.get("bot_id") == slack_app["botId"] or e.get("user") == slack_app["botUserId"]
    ]
    expect(not own, own)


try:
    admin("DELETE", f"/api/v1/slack-apps/{slack_app['id']}")
except AdminError as e:
    print(f"bolt-python: cleanup: {e}", flush=True)
# Bolt's development server is http.server's HTTPServer; it has no public stop.
server = getattr(getattr(app, "_development_server", None), "_server", None)
if server is not None:
    server.shutdown()
print(f"bolt-python: {passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
