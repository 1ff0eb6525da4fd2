"""A product page that shows each signed-in customer Kanca's app portal in an iframe.

The product keeps one Kanca application per customer (its uid is the customer's id). For a
page view it asks Kanca, with Svix's official Python SDK, for a portal link for that customer
(creating the application on first use) and embeds the link. The admin token stays on the
server; the browser only ever sees the customer's own short-lived, application-scoped link.

    pip install svix==2.9.1
    KANCA_URL=http://127.0.0.1:8080 KANCA_TOKEN=... python app.py
    # then open http://127.0.0.1:8000/?customer=acme

Kanca must allow this page to frame the portal:
    KANCA_PORTAL_FRAME_ANCESTORS="'self' http://127.0.0.1:8000" kanca serve
"""

import html
import http.server
import os
import urllib.parse

from svix.api import AppPortalAccessIn, ApplicationIn, Svix, SvixOptions

svix = Svix(os.environ["KANCA_TOKEN"], SvixOptions(server_url=os.environ["KANCA_URL"]))


def portal_link(customer: str) -> str:
    access = svix.authentication.app_portal_access(
        customer,
        AppPortalAccessIn(
            application=ApplicationIn(name=f"Customer {customer}"),
            session_id=f"web-{customer}",  # lets expire_all end just this customer's links
            expiry=3600,
        ),
    )
    # Theme and the product's name go after the key (the fragment never reaches a server).
    return access.url + "&" + urllib.parse.urlencode({"productName": "Acme Billing", "primaryColor": "#7c3aed"})


class Page(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        query = urllib.parse.parse_qs(urllib.parse.urlparse(self.path).query)
        customer = query.get("customer", ["acme"])[0]  # your sign-in decides this
        body = f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>Webhooks · Acme Billing</title></head>
<body style="font-family: system-ui; margin: 2rem">
<h1>Webhooks</h1>
<p>Signed in as {html.escape(customer)}. Register endpoints, pick events, see what was sent.</p>
<iframe src="{html.escape(portal_link(customer))}" title="Webhook settings"
  style="width: 100%; height: 80vh; border: 1px solid #ddd; border-radius: 8px"></iframe>
</body></html>"""
        self.send_response(200)
        self.send_header("content-type", "text/html; charset=utf-8")
        self.send_header("cache-control", "no-store")
        self.end_headers()
        self.wfile.write(body.encode())


if __name__ == "__main__":
    http.server.ThreadingHTTPServer(("127.0.0.1", 8000), Page).serve_forever()
