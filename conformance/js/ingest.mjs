// Svix's JavaScript SDK `ingest` module (pinned in package-lock.json) against a real Kanca,
// with requests signed by the providers' own libraries: `@octokit/webhooks-methods` `sign`
// (GitHub), stripe-node's `webhooks.generateTestHeaderStringAsync` (Stripe) and
// `standardwebhooks`' `sign` (Svix-scheme providers); Slack has no signing library, so its
// documented formula. Deliveries are checked with the SDK's own `Webhook.verify`.
//
// Run by conformance/run, which sets KANCA_URL and KANCA_TOKEN. Each check prints
// `ok <name>` or `FAIL <name>: <why>`; the last line is `ingest-js: N passed, M failed`.

import { createHmac } from "node:crypto";
import http from "node:http";
import { sign as githubSign } from "@octokit/webhooks-methods";
import { Webhook as StandardWebhook } from "standardwebhooks";
import Stripe from "stripe";
import { ApiException, Svix, Webhook } from "svix";

const RUN = String(Date.now());
let passed = 0;
let failed = 0;

async function check(name, fn) {
  try {
    await fn();
    passed += 1;
    console.log(`ok ${name}`);
  } catch (e) {
    failed += 1;
    console.log(`FAIL ${name}: ${e?.stack ?? e}`);
  }
}

function expect(cond, what) {
  if (!cond) throw new Error(typeof what === "string" ? what : JSON.stringify(what));
}

async function eventually(what, probe, timeoutMs = 15000) {
  const deadline = Date.now() + timeoutMs;
  let last;
  while (Date.now() < deadline) {
    last = await probe();
    if (last) return last;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}; last seen ${JSON.stringify(last)}`);
}

async function receiver() {
  const requests = [];
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      requests.push({ headers: req.headers, body: Buffer.concat(chunks) });
      res.writeHead(200, { "content-type": "text/plain" });
      res.end("ok");
    });
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  server.unref();
  return {
    url: `http://127.0.0.1:${server.address().port}/hook`,
    requests,
    waitFor: (n) => eventually(`${n} request(s)`, () => (requests.length >= n ? requests : null)),
  };
}

async function post(url, body, headers) {
  const res = await fetch(url, { method: "POST", body, headers });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : null };
}

const svix = new Svix(process.env.KANCA_TOKEN, {
  serverUrl: process.env.KANCA_URL,
  retryScheduleInMs: [],
});
const ingest = svix.ingest;
const state = {};

await check("source create, get, list, upsert, rotateToken", async () => {
  const src = await ingest.source.create({ name: "Generic", uid: `js-generic-${RUN}`, type: "generic-webhook" });
  expect(src.id.startsWith("src_") && src.ingestUrl.includes("/ingest/"), src);
  const got = await ingest.source.get(`js-generic-${RUN}`);
  expect(got.id === src.id && got.type === "generic-webhook", got);
  const list = await ingest.source.list({ limit: 50 });
  expect(list.data.some((s) => s.id === src.id), list);
  const up = await ingest.source.upsert(src.id, { name: "Generic 2", type: "generic-webhook" });
  expect(up.name === "Generic 2", up);
  const rotated = await ingest.source.rotateToken(src.id);
  expect(rotated.ingestUrl !== src.ingestUrl, rotated);
  expect((await post(src.ingestUrl, "{}", {})).status === 404, "the old URL still works");
  state.generic = { ...up, ingestUrl: rotated.ingestUrl };
});

await check("ingest endpoint create, get, list, upsert, headers, secret rotate, delete", async () => {
  const src = state.generic;
  const rx = await receiver();
  const ep = await ingest.endpoint.create(src.id, { url: rx.url, uid: `ep-${RUN}`, metadata: { a: "b" } });
  expect(ep.url === rx.url && ep.uid === `ep-${RUN}`, ep);
  expect((await ingest.endpoint.get(src.id, `ep-${RUN}`)).id === ep.id, "get by uid");
  expect((await ingest.endpoint.list(src.id)).data.some((e) => e.id === ep.id), "listed");
  const up = await ingest.endpoint.upsert(src.id, ep.id, { url: rx.url, description: "d" });
  expect(up.description === "d", up);
  await ingest.endpoint.setHeaders(src.id, ep.id, { headers: { "x-team": "js" } });
  const headers = await ingest.endpoint.getHeaders(src.id, ep.id);
  expect(headers.headers["x-team"] === "js", headers);
  const before = (await ingest.endpoint.getSecret(src.id, ep.id)).key;
  await ingest.endpoint.rotateSecret(src.id, ep.id);
  const after = (await ingest.endpoint.getSecret(src.id, ep.id)).key;
  expect(before !== after, "the secret did not change");

  const body = '{"n":  1}';
  expect((await post(src.ingestUrl, body, { "content-type": "application/json" })).status === 200, "accepted");
  const [got] = await rx.waitFor(1);
  expect(got.body.toString() === body, got.body.toString());
  expect(got.headers["x-team"] === "js", got.headers);
  new Webhook(after).verify(got.body.toString(), got.headers);

  const temp = await ingest.endpoint.create(src.id, { url: "https://example.com/x" });
  await ingest.endpoint.delete(src.id, temp.id);
  try {
    await ingest.endpoint.get(src.id, temp.id);
    throw new Error("deleted endpoint still there");
  } catch (e) {
    expect(e instanceof ApiException && e.code === 404, String(e));
  }
});

await check("github: @octokit/webhooks-methods sign accepted, forged refused, redelivery deduplicated", async () => {
  const secret = `gh-secret-${RUN}`;
  const src = await ingest.source.create({ name: "GitHub", type: "github", config: { secret } });
  const rx = await receiver();
  await ingest.endpoint.create(src.id, { url: rx.url });
  const body = JSON.stringify({ zen: "Design for failure.", hook_id: 1 });
  const headers = {
    "x-hub-signature-256": await githubSign(secret, body),
    "x-github-delivery": `delivery-${RUN}`,
    "x-github-event": "ping",
    "content-type": "application/json",
  };
  const ok = await post(src.ingestUrl, body, headers);
  expect(ok.status === 200 && ok.json.status === "accepted", ok);
  const again = await post(src.ingestUrl, body, headers);
  expect(again.status === 200 && again.json.status === "duplicate", again);
  const forged = { ...headers, "x-hub-signature-256": await githubSign("wrong", body), "x-github-delivery": "x" };
  expect((await post(src.ingestUrl, body, forged)).status === 401, "forged accepted");
  const [got] = await rx.waitFor(1);
  expect(got.body.toString() === body && got.headers["x-github-event"] === "ping", got.headers);
  await new Promise((r) => setTimeout(r, 500));
  expect(rx.requests.length === 1, `delivered ${rx.requests.length} times`);
});

await check("stripe: generateTestHeaderString accepted, expired and forged refused", async () => {
  const secret = `whsec_js_${RUN}`;
  const stripe = new Stripe("sk_test_kanca_conformance");
  const src = await ingest.source.create({ name: "Stripe", type: "stripe", config: { secret } });
  const payload = JSON.stringify({ id: `evt_${RUN}`, object: "event", type: "invoice.paid" });
  const now = Math.floor(Date.now() / 1000);
  const header = await stripe.webhooks.generateTestHeaderStringAsync({ payload, secret, timestamp: now });
  expect((await post(src.ingestUrl, payload, { "stripe-signature": header })).status === 200, "valid refused");
  const old = await stripe.webhooks.generateTestHeaderStringAsync({ payload, secret, timestamp: now - 400 });
  expect((await post(src.ingestUrl, payload, { "stripe-signature": old })).status === 401, "expired accepted");
  const forged = await stripe.webhooks.generateTestHeaderStringAsync({ payload, secret: "whsec_other", timestamp: now });
  expect((await post(src.ingestUrl, payload, { "stripe-signature": forged })).status === 401, "forged accepted");
});

await check("resend (Svix scheme): standardwebhooks sign accepted, expired refused", async () => {
  const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
  const src = await ingest.source.create({ name: "Resend", type: "resend", config: { secret } });
  const payload = JSON.stringify({ type: "email.sent" });
  const wh = new StandardWebhook(secret);
  const now = new Date();
  const headers = (id, at) => ({
    "webhook-id": id,
    "webhook-timestamp": String(Math.floor(at.getTime() / 1000)),
    "webhook-signature": wh.sign(id, at, payload),
  });
  expect((await post(src.ingestUrl, payload, headers(`msg_${RUN}`, now))).status === 200, "valid refused");
  const replay = await post(src.ingestUrl, payload, headers(`msg_${RUN}`, now));
  expect(replay.status === 200 && replay.json.status === "duplicate", replay);
  const old = new Date(now.getTime() - 600_000);
  expect((await post(src.ingestUrl, payload, headers(`msg_old_${RUN}`, old))).status === 401, "expired accepted");
});

await check("slack: documented v0 formula accepted, forged refused", async () => {
  const secret = `slack-${RUN}`;
  const src = await ingest.source.create({ name: "Slack", type: "slack", config: { secret } });
  const body = "token=x&team_id=T1&text=hi";
  const ts = String(Math.floor(Date.now() / 1000));
  const sig = (s) => `v0=${createHmac("sha256", s).update(`v0:${ts}:${body}`).digest("hex")}`;
  const headers = { "x-slack-request-timestamp": ts, "content-type": "application/x-www-form-urlencoded" };
  expect((await post(src.ingestUrl, body, { ...headers, "x-slack-signature": sig(secret) })).status === 200, "valid");
  expect((await post(src.ingestUrl, body, { ...headers, "x-slack-signature": sig("no") })).status === 401, "forged");
});

await check("cron: the config round-trips; a bad schedule is 422", async () => {
  const src = await ingest.source.create({ name: "Cron", type: "cron", config: { schedule: "*/15 * * * *", payload: "{}" } });
  expect(src.type === "cron" && src.config.schedule === "*/15 * * * *" && src.config.payload === "{}", JSON.stringify(src));
  const again = await ingest.source.get(src.id);
  expect(again.config.schedule === "*/15 * * * *", JSON.stringify(again));
  try {
    await ingest.source.create({ name: "Bad", type: "cron", config: { schedule: "never", payload: "{}" } });
    throw new Error("a bad schedule was accepted");
  } catch (e) {
    expect(e instanceof ApiException && e.code === 422, String(e));
  }
  await ingest.source.delete(src.id);
});

await check("unsupported type answers 422; source delete", async () => {
  try {
    await ingest.source.create({ name: "Zoom", type: "zoom", config: { secret: "x" } });
    throw new Error("zoom was accepted");
  } catch (e) {
    expect(e instanceof ApiException && e.code === 422, String(e));
  }
  await ingest.source.delete(state.generic.id);
  try {
    await ingest.source.get(state.generic.id);
    throw new Error("deleted source still there");
  } catch (e) {
    expect(e instanceof ApiException && e.code === 404, String(e));
  }
});

console.log(`ingest-js: ${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
