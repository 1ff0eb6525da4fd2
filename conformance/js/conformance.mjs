// Svix's official JavaScript SDK (pinned in package-lock.json), unchanged, driving a real Kanca.
//
// Run by conformance/run, which starts the server and sets KANCA_URL and KANCA_TOKEN. Each
// check prints `ok <name>` or `FAIL <name>: <why>`; the last line is
// `javascript: N passed, M failed`. Deliveries go to a receiver in this process and are
// verified with the SDK's own `Webhook.verify`, as a consumer would.

import http from "node:http";
import { ApiException, Svix, Webhook } from "svix";

const SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
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
    console.log(`FAIL ${name}: ${e && e.stack ? e.stack : e}`);
    if (e instanceof ApiException) console.log(`  status ${e.code}: ${JSON.stringify(e.body)}`);
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

/** Awaits `promise`, which must fail with the SDK's ApiException carrying `status`. */
async function rejects(status, promise) {
  try {
    await promise;
  } catch (e) {
    expect(e instanceof ApiException, `not an ApiException: ${e}`);
    expect(e.code === status, `expected ${status}, got ${e.code}: ${JSON.stringify(e.body)}`);
    return e;
  }
  throw new Error(`expected an error with status ${status}, got none`);
}

async function receiver() {
  const r = { requests: [], status: 200 };
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      r.requests.push({ headers: req.headers, body: Buffer.concat(chunks).toString("utf8") });
      res.writeHead(r.status, { "content-type": "text/plain" });
      res.end("ok");
    });
  });
  await new Promise((ok) => server.listen(0, "127.0.0.1", ok));
  r.url = `http://127.0.0.1:${server.address().port}/hook`;
  r.close = () => server.close();
  r.waitFor = (n) => eventually(`${n} request(s)`, () => (r.requests.length >= n ? r.requests : null));
  return r;
}

/** Every item of a paged list, following the iterator. */
async function listAll(pageFn, limit = 2) {
  const items = [];
  let iterator;
  let pages = 0;
  for (;;) {
    const page = await pageFn({ limit, iterator });
    items.push(...page.data);
    pages += 1;
    expect(pages < 100, "paging never ends");
    if (page.done) return { items, pages };
    iterator = page.iterator;
  }
}

const svix = new Svix(process.env.KANCA_TOKEN, {
  serverUrl: process.env.KANCA_URL,
  retryScheduleInMs: [],
});
const rx = await receiver();
const state = {};

await check("health.get", async () => {
  await svix.health.get();
});

await check("application: create, get (id and uid), getOrCreate", async () => {
  const app = await svix.application.create({ name: "Billing", uid: `billing-${RUN}`, metadata: { team: "pay" } });
  expect(app.id.startsWith("app_") && app.metadata.team === "pay", app);
  expect((await svix.application.get(app.id)).id === app.id, "get by id");
  expect((await svix.application.get(`billing-${RUN}`)).id === app.id, "get by uid");
  const same = await svix.application.getOrCreate({ name: "Billing", uid: `billing-${RUN}` });
  expect(same.id === app.id, "getOrCreate finds it");
  state.app = app.id;
});

await check("application: list with pagination", async () => {
  for (let i = 0; i < 3; i++) await svix.application.create({ name: `page ${i}`, uid: `page-${i}-${RUN}` });
  const { items, pages } = await listAll((o) => svix.application.list(o));
  const uids = new Set(items.map((a) => a.uid));
  for (let i = 0; i < 3; i++) expect(uids.has(`page-${i}-${RUN}`), [...uids]);
  expect(pages >= 2, `${pages} page(s)`);
});

await check("application: upsert, patch, delete, 404", async () => {
  const app = await svix.application.create({ name: "Temp", uid: `temp-${RUN}` });
  const up = await svix.application.upsert(app.id, { name: "Temp 2", uid: `temp-${RUN}` });
  expect(up.name === "Temp 2" && up.id === app.id, up);
  const patched = await svix.application.patch(app.id, { metadata: { k: "v" } });
  expect(patched.metadata.k === "v" && patched.name === "Temp 2", patched);
  await svix.application.delete(app.id);
  const e = await rejects(404, svix.application.get(app.id));
  // upsert of what does not exist creates it, keyed by the uid in the path.
  const made = await svix.application.upsert(`upserted-${RUN}`, { name: "Upserted" });
  expect(made.uid === `upserted-${RUN}`, made);
  const ep = await svix.endpoint.upsert(made.id, `ep-up-${RUN}`, { url: rx.url });
  expect(ep.uid === `ep-up-${RUN}`, ep);
  expect(e.body.code === "not_found", e.body);
});

await check("application: 409 on a taken uid, 422 on a bad one", async () => {
  await rejects(409, svix.application.create({ name: "Dup", uid: `billing-${RUN}` }));
  const e = await rejects(422, svix.application.create({ name: "Bad", uid: "no spaces allowed" }));
  expect(Array.isArray(e.body.detail) && e.body.detail[0].msg, e.body);
});

await check("eventType: create, get, list with pagination, upsert, patch, delete (archive)", async () => {
  const names = [`js${RUN}.paid`, `js${RUN}.void`, `js${RUN}.sent`];
  const example = { invoiceId: "inv_1", amount: 100 };
  const schemas = { 1: { type: "object", examples: [example] } };
  for (const name of names) await svix.eventType.create({ name, description: `${name} happened`, schemas });
  const got = await svix.eventType.get(names[0]);
  expect(got.name === names[0] && got.schemas["1"].examples[0].amount === 100, got);
  const { items, pages } = await listAll((o) => svix.eventType.list(o));
  const listed = new Set(items.map((t) => t.name));
  expect(names.every((n) => listed.has(n)) && pages >= 2, { pages, listed: [...listed] });
  expect((await svix.eventType.upsert(names[1], { description: "voided" })).description === "voided", "upsert");
  expect((await svix.eventType.patch(names[1], { description: "voided!" })).description === "voided!", "patch");
  await svix.eventType.delete(names[2]);
  expect((await svix.eventType.get(names[2])).archived === true, "archived");
  await rejects(409, svix.eventType.create({ name: names[0], description: "again" }));
  await rejects(404, svix.eventType.get(`nope${RUN}.nope`));
  state.eventType = names[0];
});

await check("endpoint: create, get, list with pagination, read-modify-write keeps the filter, patch", async () => {
  const app = state.app;
  const ep = await svix.endpoint.create(app, {
    url: rx.url,
    eventTypes: [state.eventType],
    secret: SECRET,
    throttleRate: 50,
    metadata: { m: "1" },
    uid: `ep-${RUN}`,
  });
  expect(ep.id.startsWith("ep_") && ep.eventTypes[0] === state.eventType && ep.throttleRate === 50, ep);
  expect((await svix.endpoint.get(app, `ep-${RUN}`)).id === ep.id, "get by uid");
  for (let i = 0; i < 2; i++) await svix.endpoint.create(app, { url: `${rx.url}/${i}`, disabled: true });
  const { items, pages } = await listAll((o) => svix.endpoint.list(app, o));
  expect(items.length === 3 && pages === 2, { n: items.length, pages });
  // The usual read-modify-write: the endpoint keeps its filter.
  const up = await svix.endpoint.upsert(app, ep.id, { ...(await svix.endpoint.get(app, ep.id)), description: "updated" });
  expect(up.description === "updated" && up.eventTypes?.[0] === state.eventType && up.throttleRate === 50, up);
  const patched = await svix.endpoint.patch(app, ep.id, { metadata: { m: "2" } });
  expect(patched.metadata.m === "2" && patched.eventTypes[0] === state.eventType, patched);
  state.ep = ep.id;
});

await check("endpoint: secret, rotate with grace, headers", async () => {
  const { app, ep } = state;
  expect((await svix.endpoint.getSecret(app, ep)).key === SECRET, "the chosen secret");
  await svix.endpoint.rotateSecret(app, ep, { gracePeriodSeconds: 3600 });
  const current = (await svix.endpoint.getSecret(app, ep)).key;
  expect(current.startsWith("whsec_") && current !== SECRET, current);
  state.newSecret = current;
  await rejects(422, svix.endpoint.rotateSecret(app, ep, { gracePeriodSeconds: 8 * 86400 }));
  await svix.endpoint.setHeaders(app, ep, { headers: { "x-one": "1", "x-two": "2" } });
  await svix.endpoint.patchHeaders(app, ep, { headers: { "x-three": "3" }, deleteHeaders: ["x-two"] });
  const headers = await svix.endpoint.getHeaders(app, ep);
  expect(JSON.stringify(headers.headers) === JSON.stringify({ "x-one": "1", "x-three": "3" }), headers);
});

await check("endpoint: 404 and 422", async () => {
  await rejects(404, svix.endpoint.get(state.app, "ep_nope"));
  const e = await rejects(422, svix.endpoint.create(state.app, { url: "not a url" }));
  expect(e.body.detail[0].msg && Array.isArray(e.body.detail[0].loc), e.body);
});

await check("message: create, signed delivery verified with Webhook.verify (old and new secret)", async () => {
  const before = rx.requests.length;
  const msg = await svix.message.create(state.app, {
    eventType: state.eventType,
    eventId: `evt-${RUN}`,
    payload: { invoiceId: "inv_9" },
  });
  expect(msg.id.startsWith("msg_") && msg.eventId === `evt-${RUN}`, msg);
  const { headers, body } = (await rx.waitFor(before + 1))[before];
  expect(JSON.parse(body).invoiceId === "inv_9", body);
  for (const secret of [SECRET, state.newSecret]) new Webhook(secret).verify(body, headers);
  expect(headers["x-one"] === "1", headers);
  state.msg = msg.id;
});

await check("message: 409 on a reused eventId, get by id and eventId, list with pagination", async () => {
  const app = state.app;
  await rejects(409, svix.message.create(app, { eventType: state.eventType, eventId: `evt-${RUN}`, payload: {} }));
  expect((await svix.message.get(app, `evt-${RUN}`)).id === state.msg, "get by eventId");
  const got = await svix.message.get(app, state.msg, { withContent: true });
  expect(got.payload.invoiceId === "inv_9", got);
  for (let i = 0; i < 2; i++) await svix.message.create(app, { eventType: state.eventType, payload: { n: i } });
  const { items, pages } = await listAll((o) => svix.message.list(app, o));
  expect(items.length === 3 && pages === 2, { n: items.length, pages });
  await rejects(404, svix.message.get(app, "msg_nope"));
  const e = await rejects(422, svix.message.create(app, { eventType: "bad name!", payload: {} }));
  expect(e.body.detail[0].msg, e.body);
});

await check("message: deliverAt is accepted and pending", async () => {
  const at = new Date(Date.now() + 3600 * 1000);
  const msg = await svix.message.create(state.app, { eventType: state.eventType, payload: { later: true }, deliverAt: at });
  const dests = (await svix.messageAttempt.listAttemptedDestinations(state.app, msg.id)).data;
  expect(dests.length === 1 && dests[0].id === state.ep && dests[0].status === 1 && dests[0].nextAttempt, dests);
});

await check("messageAttempt: list by msg and endpoint, get, destinations, attempted messages", async () => {
  const { app, ep, msg } = state;
  const attempts = await eventually("an attempt", async () => {
    const a = (await svix.messageAttempt.listByMsg(app, msg)).data;
    return a.length ? a : null;
  });
  expect(attempts[0].status === 0 && attempts[0].endpointId === ep, attempts);
  const got = await svix.messageAttempt.get(app, msg, attempts[0].id);
  expect(got.id === attempts[0].id && got.responseStatusCode === 200, got);
  expect((await svix.messageAttempt.listByEndpoint(app, ep, { limit: 1 })).data.length === 1, "by endpoint");
  const dests = (await svix.messageAttempt.listAttemptedDestinations(app, msg)).data;
  expect(dests[0].id === ep && dests[0].status === 0, dests);
  const { items } = await listAll((o) => svix.messageAttempt.listAttemptedMessages(app, ep, o));
  expect(items.some((m) => m.id === msg), items.map((m) => m.id));
});

await check("messageAttempt: resend; endpoint: recover, stats, sendExample", async () => {
  const { app, ep, msg } = state;
  let before = rx.requests.length;
  await svix.messageAttempt.resend(app, msg, ep);
  await rx.waitFor(before + 1);
  const recovered = await svix.endpoint.recover(app, ep, { since: new Date(Date.now() - 3600 * 1000) });
  expect(recovered.id, recovered);
  expect((await svix.endpoint.getStats(app, ep)).success >= 1, "stats");
  before = rx.requests.length;
  await svix.endpoint.sendExample(app, ep, { eventType: state.eventType });
  const { headers, body } = (await rx.waitFor(before + 1))[before];
  expect(JSON.parse(body).amount === 100, body);
  new Webhook(state.newSecret).verify(body, headers);
});

await check("message: precheck, expungeContent, bulkExpungeContent; messageAttempt: expungeContent", async () => {
  const { app } = state;
  expect((await svix.message.precheck(app, { eventType: state.eventType })).active === true, "precheck");
  const msg = await svix.message.create(app, { eventType: state.eventType, payload: { secret: "s3cr3t" } });
  const attempt = (await eventually("an attempt", async () => {
    const a = (await svix.messageAttempt.listByMsg(app, msg.id)).data;
    return a.length ? a : null;
  }))[0];
  await svix.message.expungeContent(app, msg.id);
  const got = await svix.message.get(app, msg.id);
  expect(!JSON.stringify(got.payload).includes("s3cr3t"), got.payload);
  await svix.messageAttempt.expungeContent(app, msg.id, attempt.id);
  expect((await svix.messageAttempt.get(app, msg.id, attempt.id)).response === "", "response expunged");
  const out = await svix.message.bulkExpungeContent(app, { ids: [msg.id, "msg_nope"] });
  expect(out.results[msg.id] === "expunged" && out.results.msg_nope === "not-found", out);
  await rejects(404, svix.message.expungeContent(app, "msg_nope"));
});

await check("endpoint: replayMissing, bulkReplay", async () => {
  const since = new Date(Date.now() - 5 * 60 * 1000);
  const app = (await svix.application.create({ name: `replay-${RUN}` })).id;
  await svix.message.create(app, { eventType: state.eventType, payload: { replayed: true } });
  const lateRx = await receiver();
  try {
    const late = await svix.endpoint.create(app, { url: lateRx.url, filterTypes: [state.eventType] });
    const out = await svix.endpoint.replayMissing(app, late.id, { since });
    expect(out.id.startsWith("qtask_") && out.status === "finished", out);
    await lateRx.waitFor(1);
    await eventually("the replayed delivery to end", async () => {
      const a = (await svix.messageAttempt.listByEndpoint(app, late.id)).data;
      return a.length ? a : null;
    });
    const bulk = await svix.endpoint.bulkReplay(app, late.id, { since, eventTypes: [state.eventType] });
    expect(bulk.task === "endpoint.bulk-replay", bulk);
    await lateRx.waitFor(2);
    const task = await svix.backgroundTask.get(bulk.id);
    expect(task.status === "finished" && task.data.messagesSent === 1, task);
    const purged = await svix.message.expungeAllContents(app);
    expect((await svix.backgroundTask.get(purged.id)).data.messagesPurged === 1, purged);
  } finally {
    lateRx.close();
  }
});

await check("eventType: importOpenapi; endpoint: transformation get", async () => {
  const name = `imported.t${RUN}`;
  const spec = { openapi: "3.1.0", webhooks: { [name]: { post: {
    description: "From a document",
    requestBody: { content: { "application/json": { schema: { type: "object" } } } } } } } };
  const out = await svix.eventType.importOpenapi({ spec });
  expect(out.data.modified.length === 1 && out.data.modified[0] === name, out);
  expect((await svix.eventType.get(name)).description === "From a document", "imported");
  const t = await svix.endpoint.transformation.get(state.app, state.ep);
  expect(t.enabled === false, t);
});

await check("endpoint: delete, then 404", async () => {
  const ep = await svix.endpoint.create(state.app, { url: rx.url });
  await svix.endpoint.delete(state.app, ep.id);
  await rejects(404, svix.endpoint.get(state.app, ep.id));
});

await check("operational webhook endpoint: create, get, list, upsert, secret, rotate, events, delete", async () => {
  const ops = svix.operationalWebhook.endpoint;
  const opsRx = await receiver();
  try {
    const ep = await ops.create({ url: opsRx.url, eventTypes: ["endpoint.created"] });
    expect(ep.id.startsWith("ep_") && ep.eventTypes[0] === "endpoint.created", ep);
    expect((await ops.get(ep.id)).id === ep.id, "get");
    expect((await ops.list({ limit: 10 })).data.some((e) => e.id === ep.id), "list");
    const up = await ops.upsert(ep.id, { url: opsRx.url, description: "ops", eventTypes: ["endpoint.created"] });
    expect(up.description === "ops" && up.eventTypes[0] === "endpoint.created", up);
    const secret = (await ops.getSecret(ep.id)).key;
    await ops.rotateSecret(ep.id, { gracePeriodSeconds: 60 });
    const newSecret = (await ops.getSecret(ep.id)).key;
    expect(newSecret !== secret, "rotated");
    await svix.endpoint.create(state.app, { url: `${rx.url}/ops` });
    const { headers, body } = (await opsRx.waitFor(1))[0];
    new Webhook(newSecret).verify(body, headers);
    expect(JSON.parse(body).type === "endpoint.created", body);
    await ops.delete(ep.id);
    await rejects(404, ops.get(ep.id));
  } finally {
    opsRx.close();
  }
});

rx.close();
console.log(`javascript: ${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
