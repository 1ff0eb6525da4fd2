"""The app portal (issue 17) through Svix's official Python SDK's `authentication` module.

Run by conformance/run beside conformance.py (KANCA_URL, KANCA_TOKEN). It asks for a portal
link as a product would, then uses the returned token as the SDK's own bearer token (what the
portal does) to list and create that application's endpoints, checks that the token reaches
nothing else, and ends it with `expire_all` and `logout`. Each check prints `ok <name>` or
`FAIL <name>: <why>`; the last line is `portal-python: N passed, M failed`.
"""

import os
import sys
import time
import traceback

from svix.api import (
    AppPortalAccessIn,
    ApplicationIn,
    ApplicationTokenExpireIn,
    EndpointIn,
    MessageIn,
    Svix,
    SvixOptions,
)
from svix.api.errors.http_error import HttpError

URL = os.environ["KANCA_URL"]
RUN = str(int(time.time() * 1000))

admin = Svix(os.environ["KANCA_TOKEN"], SvixOptions(server_url=URL, retry_schedule=[]))
passed = 0
failed = 0
state = {}


def check(name):
    def run(fn):
        global passed, failed
        try:
            fn()
            passed += 1
            print(f"ok {name}")
        except Exception:
            failed += 1
            print(f"FAIL {name}: {traceback.format_exc()}")
        return fn

    return run


def as_token(token):
    return Svix(token, SvixOptions(server_url=URL, retry_schedule=[]))


def refused(status, call):
    try:
        call()
    except HttpError as e:
        assert e.status_code == status, f"expected {status}, got {e.status_code}"
        return
    raise AssertionError(f"expected {status}, the call succeeded")


@check("app_portal_access creates the application and answers url and token")
def _():
    uid = f"portal-py-{RUN}"
    out = admin.authentication.app_portal_access(
        uid,
        AppPortalAccessIn(application=ApplicationIn(name="Portal customer"), session_id="s1"),
    )
    assert out.token.startswith("appsk_"), out.token
    assert out.url == f"{URL}/portal#key={out.token}", out.url
    app = admin.application.get(uid)
    assert app.name == "Portal customer"
    state["app"] = app.id
    state["token"] = out.token


@check("the token is the SDK's bearer for its own application")
def _():
    customer = as_token(state["token"])
    customer.endpoint.create(state["app"], EndpointIn(url="https://example.com/portal"))
    listed = customer.endpoint.list(state["app"])
    assert len(listed.data) == 1, listed
    customer.event_type.list()


@check("the token reaches nothing else")
def _():
    other = admin.application.create(ApplicationIn(name="Someone else")).id
    customer = as_token(state["token"])
    refused(404, lambda: customer.endpoint.list(other))
    refused(403, lambda: customer.application.list())
    refused(
        403,
        lambda: customer.message.create(state["app"], MessageIn(event_type="a.b", payload={})),
    )


@check("a read-only link cannot change endpoints")
def _():
    ro = admin.authentication.app_portal_access(state["app"], AppPortalAccessIn(read_only=True))
    refused(
        403,
        lambda: as_token(ro.token).endpoint.create(
            state["app"], EndpointIn(url="https://example.com/x")
        ),
    )


@check("expire_all by session, then logout")
def _():
    other = admin.authentication.app_portal_access(
        state["app"], AppPortalAccessIn(session_id="s2")
    )
    admin.authentication.expire_all(state["app"], ApplicationTokenExpireIn(session_ids=["s1"]))
    refused(401, lambda: as_token(state["token"]).endpoint.list(state["app"]))
    second = as_token(other.token)
    second.endpoint.list(state["app"])
    second.authentication.logout()
    refused(401, lambda: second.endpoint.list(state["app"]))


print(f"portal-python: {passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
