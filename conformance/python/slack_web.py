"""Slack's official Python SDK, `slack_sdk.WebClient` (pinned in requirements.txt), against a
real Kanca's Web API: every method Kanca serves, called as a bot would, with the SDK's own
request encoding (JSON for chat.*, forms for the rest, GET for reads) and paging.

Run by conformance/run, which sets KANCA_URL and KANCA_TOKEN. The Slack app and its bot token
are made first through Kanca's management API (`POST /api/v1/slack-apps`, plain HTTP with the
admin token); then only the SDK talks to Kanca. Each check prints `ok <name>` or
`FAIL <name>: <why>`; the last line is `slack-web-python: N passed, M failed`.
"""

import json
import os
import sys
import time
import traceback
import urllib.request
import warnings

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

URL = os.environ["KANCA_URL"].rstrip("/")
ADMIN = os.environ["KANCA_TOKEN"]
RUN = str(int(time.time() * 1000))[-8:]
# `no_text` is checked on purpose; the SDK's advice against an empty `text` is not news here.
warnings.filterwarnings("ignore", message="The top-level `text` argument is missing")
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


def expect_error(call, error):
    try:
        call()
    except SlackApiError as e:
        expect(e.response["error"] == error, f"expected {error}, got {e.response['error']}")
        return
    raise AssertionError(f"expected {error}, the call succeeded")


def admin(method, path, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(URL + path, data=data, method=method)
    req.add_header("authorization", f"Bearer {ADMIN}")
    req.add_header("content-type", "application/json")
    with urllib.request.urlopen(req) as r:
        text = r.read()
        return json.loads(text) if text else None


app = admin("POST", "/api/v1/slack-apps", {"name": f"py-bot-{RUN}"})
client = WebClient(token=app["botToken"], base_url=f"{URL}/api/")
state = {}


@check("auth.test names the bot")
def _():
    r = client.auth_test()
    expect(r["ok"] and r["user_id"] == app["botUserId"], r.data)
    expect(r["bot_id"] == app["botId"] and r["team_id"] == app["teamId"], r.data)


@check("a wrong token is invalid_auth")
def _():
    wrong = WebClient(token="xoxb-0-0-wrong", base_url=f"{URL}/api/")
    expect_error(wrong.auth_test, "invalid_auth")


@check("conversations.create, then name_taken and invalid_name")
def _():
    r = client.conversations_create(name=f"py-{RUN}")
    state["channel"] = r["channel"]["id"]
    expect(r["channel"]["name"] == f"py-{RUN}", r.data)
    expect_error(lambda: client.conversations_create(name=f"py-{RUN}"), "name_taken")
    expect_error(lambda: client.conversations_create(name="Not Valid"), "invalid_name")


@check("conversations.join and conversations.info")
def _():
    r = client.conversations_join(channel=state["channel"])
    expect(r["channel"]["id"] == state["channel"], r.data)
    r = client.conversations_info(channel=state["channel"])
    expect(r["channel"]["is_archived"] is False, r.data)
    expect_error(lambda: client.conversations_info(channel="C0NOSUCH00"), "channel_not_found")


@check("chat.postMessage with text, blocks and a thread")
def _():
    r = client.chat_postMessage(channel=state["channel"], text="hello from slack_sdk")
    state["ts"] = r["ts"]
    expect(r["channel"] == state["channel"] and r["message"]["text"] == "hello from slack_sdk", r.data)
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "*blocks*"}}]
    r = client.chat_postMessage(channel=f"py-{RUN}", text="blocks", blocks=blocks)
    expect(r["message"]["blocks"] == blocks, r.data)
    for i in range(2):
        client.chat_postMessage(channel=state["channel"], text=f"reply {i}", thread_ts=state["ts"])


@check("chat.postMessage refusals: no_text, msg_too_long, channel_not_found")
def _():
    expect_error(lambda: client.chat_postMessage(channel=state["channel"], text=""), "no_text")
    expect_error(
        lambda: client.chat_postMessage(channel=state["channel"], text="x" * 40001), "msg_too_long"
    )
    expect_error(lambda: client.chat_postMessage(channel="nowhere", text="hi"), "channel_not_found")


@check("the bot's messages are in the channel (Kanca's API)")
def _():
    listed = admin("GET", f"/api/v1/channels/{state['channel']}/messages?order=ascending")
    texts = [m["text"] for m in listed["data"]]
    expect(texts[:2] == ["hello from slack_sdk", "blocks"], texts)
    expect(listed["data"][0]["postedBy"]["kind"] == "bot", listed["data"][0])


@check("chat.update")
def _():
    r = client.chat_update(channel=state["channel"], ts=state["ts"], text="hello, edited")
    expect(r["text"] == "hello, edited" and r["ts"] == state["ts"], r.data)


@check("conversations.history pages with the SDK's cursor")
def _():
    for i in range(3):
        client.chat_postMessage(channel=state["channel"], text=f"more {i}")
    seen = []
    for page in client.conversations_history(channel=state["channel"], limit=2):
        seen.extend(m["text"] for m in page["messages"])
    expect(seen == ["more 2", "more 1", "more 0", "blocks", "hello, edited"], seen)


@check("conversations.replies")
def _():
    r = client.conversations_replies(channel=state["channel"], ts=state["ts"])
    texts = [m["text"] for m in r["messages"]]
    expect(texts == ["hello, edited", "reply 0", "reply 1"], texts)


@check("reactions.add and reactions.remove")
def _():
    client.reactions_add(channel=state["channel"], timestamp=state["ts"], name="thumbsup")
    expect_error(
        lambda: client.reactions_add(channel=state["channel"], timestamp=state["ts"], name="thumbsup"),
        "already_reacted",
    )
    client.reactions_remove(channel=state["channel"], timestamp=state["ts"], name="thumbsup")
    expect_error(
        lambda: client.reactions_remove(channel=state["channel"], timestamp=state["ts"], name="thumbsup"),
        "no_reaction",
    )


@check("chat.delete")
def _():
    r = client.chat_postMessage(channel=state["channel"], text="short-lived")
    client.chat_delete(channel=state["channel"], ts=r["ts"])
    expect_error(lambda: client.chat_delete(channel=state["channel"], ts=r["ts"]), "message_not_found")


@check("chat.postEphemeral shows a message to one person only")
def _():
    person = f"eph-{RUN}"
    admin("POST", f"/api/v1/channels/{state['channel']}/messages", {"user": person, "text": "hi bot"})
    user_id = next(
        u["id"] for page in client.users_list(limit=200) for u in page["members"] if u["name"] == person
    )
    r = client.chat_postEphemeral(channel=state["channel"], user=user_id, text="just for you")
    expect(r["ok"] and "." in r["message_ts"], r.data)
    seen = admin("GET", f"/api/v1/channels/{state['channel']}/ephemeral?user={person}")["data"]
    expect([m["text"] for m in seen] == ["just for you"], seen)
    expect_error(
        lambda: client.chat_postEphemeral(channel=state["channel"], user="U0NOBODY00", text="x"),
        "user_not_found",
    )


@check("conversations.list pages through every channel")
def _():
    names = []
    for page in client.conversations_list(limit=1):
        names.extend(c["name"] for c in page["channels"])
    expect(f"py-{RUN}" in names and len(names) == len(set(names)), names)


@check("users.info and users.list")
def _():
    r = client.users_info(user=app["botUserId"])
    expect(r["user"]["is_bot"] and r["user"]["profile"]["bot_id"] == app["botId"], r.data)
    expect_error(lambda: client.users_info(user="U0NOBODY00"), "user_not_found")
    ids = []
    for page in client.users_list(limit=1):
        ids.extend(u["id"] for u in page["members"])
    expect(app["botUserId"] in ids, ids)


admin("DELETE", f"/api/v1/slack-apps/{app['id']}")
print(f"slack-web-python: {passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
