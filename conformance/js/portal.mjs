// The app portal (issue 17) through Svix's official JavaScript SDK's `authentication` module.
//
// Run by conformance/run beside conformance.mjs (KANCA_URL, KANCA_TOKEN). It asks for a portal
// link as a product would, then uses the returned token as the SDK's own bearer token (what
// the portal does) to list and create that application's endpoints, checks that the token
// reaches nothing else, and ends it with `expireAll` and `logout`. Each check prints
// `ok <name>` or `FAIL <name>: <why>`; the last line is `portal-javascript: N passed, M failed`.

import { ApiException, Svix } from "svix";

const URL = process.env.KANCA_URL;
const RUN = String(Date.now());
const admin = new Svix(process.env.KANCA_TOKEN, { serverUrl: URL, numRetries: 0 });
const asToken = (token) => new Svix(token, { serverUrl: URL, numRetries: 0 });
const state = {};
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

async function rejects(status, promise) {
  try {
    await promise;
  } catch (e) {
    expect(e instanceof ApiException, `not an ApiException: ${e}`);
    expect(e.code === status, `expected ${status}, got ${e.code}: ${JSON.stringify(e.body)}`);
    return;
  }
  throw new Error(`expected ${status}, the call succeeded`);
}

await check("appPortalAccess creates the application and answers url and token", async () => {
  const uid = `portal-js-${RUN}`;
  const out = await admin.authentication.appPortalAccess(uid, {
    application: { name: "Portal customer" },
    sessionId: "s1",
  });
  expect(out.token.startsWith("appsk_"), out);
  expect(out.url === `${URL}/portal#key=${out.token}`, out);
  const app = await admin.application.get(uid);
  expect(app.name === "Portal customer", app);
  state.app = app.id;
  state.token = out.token;
});

await check("the token is the SDK's bearer for its own application", async () => {
  const customer = asToken(state.token);
  await customer.endpoint.create(state.app, { url: "https://example.com/portal" });
  const listed = await customer.endpoint.list(state.app);
  expect(listed.data.length === 1, listed);
  await customer.eventType.list();
});

await check("the token reaches nothing else", async () => {
  const other = (await admin.application.create({ name: "Someone else" })).id;
  const customer = asToken(state.token);
  await rejects(404, customer.endpoint.list(other));
  await rejects(403, customer.application.list());
  await rejects(403, customer.message.create(state.app, { eventType: "a.b", payload: {} }));
});

await check("a read-only link cannot change endpoints", async () => {
  const ro = await admin.authentication.appPortalAccess(state.app, { readOnly: true });
  await rejects(403, asToken(ro.token).endpoint.create(state.app, { url: "https://example.com/x" }));
});

await check("expireAll by session, then logout", async () => {
  const other = await admin.authentication.appPortalAccess(state.app, { sessionId: "s2" });
  await admin.authentication.expireAll(state.app, { sessionIds: ["s1"] });
  await rejects(401, asToken(state.token).endpoint.list(state.app));
  const second = asToken(other.token);
  await second.endpoint.list(state.app);
  await second.authentication.logout();
  await rejects(401, second.endpoint.list(state.app));
});

console.log(`portal-javascript: ${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
