// Slack's official JavaScript SDK, `@slack/web-api` (pinned in package-lock.json), against a
// real Kanca's Web API: every method Kanca serves, called as a bot would, with the SDK's own
// form encoding and its `paginate` cursor paging.
//
// Run by conformance/run, which sets KANCA_URL and KANCA_TOKEN. The Slack app and its bot
// token are made first through Kanca's management API (`POST /api/v1/slack-apps`, plain HTTP
// with the admin token); then only the SDK talks to Kanca. Each check prints `ok <name>` or
// `FAIL <name>: <why>`; the last line is `slack-web-js: N passed, M failed`.

import { isDeepStrictEqual } from "node:util";
import { ErrorCode, LogLevel, WebClient } from "@slack/web-api";

const URL = process.env.KANCA_URL.replace(/\/$/, "");
const ADMIN = process.env.KANCA_TOKEN;
const RUN = String(Date.now()).slice(-8);
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

async function expectError(call, error) {
  try {
    await call();
  } catch (e) {
    expect(e.code === ErrorCode.PlatformError, `not a platform error: ${e}`);
    expect(e.data.error === error, `expected ${error}, got ${e.data.error}`);
    return;
  }
  throw new Error(`expected ${error}, the call succeeded`);
}

async function admin(method, path, body) {
  const res = await fetch(URL + path, {
    method,
    headers: { authorization: `Bearer ${ADMIN}`, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

const app = await admin("POST", "/api/v1/slack-apps", { name: `js-bot-${RUN}` });
// The SDK's own logger would print its warnings (an empty `text`, checked on purpose below).
const options = { slackApiUrl: `${URL}/api/`, logLevel: LogLevel.ERROR };
const client = new WebClient(app.botToken, options);
const state = {};

await check("auth.test names the bot", async () => {
  const r = await client.auth.test();
  expect(r.ok && r.user_id === app.botUserId && r.bot_id === app.botId, r);
  expect(r.team_id === app.teamId, r);
});

await check("a wrong token is invalid_auth", async () => {
  const wrong = new WebClient("xoxb-0-0-wrong", options);
  await expectError(() => wrong.auth.test(), "invalid_auth");
});

await check("conversations.create, then name_taken and invalid_name", async () => {
  const r = await client.conversations.create({ name: `js-${RUN}` });
  state.channel = r.channel.id;
  expect(r.channel.name === `js-${RUN}`, r);
  await expectError(() => client.conversations.create({ name: `js-${RUN}` }), "name_taken");
  await expectError(() => client.conversations.create({ name: "Not Valid" }), "invalid_name");
});

await check("conversations.join and conversations.info", async () => {
  const joined = await client.conversations.join({ channel: state.channel });
  expect(joined.channel.id === state.channel, joined);
  const info = await client.conversations.info({ channel: state.channel });
  expect(info.channel.is_archived === false, info);
  await expectError(() => client.conversations.info({ channel: "C0NOSUCH00" }), "channel_not_found");
});

await check("chat.postMessage with text, blocks and a thread", async () => {
  const r = await client.chat.postMessage({ channel: state.channel, text: "hello from @slack/web-api" });
  state.ts = r.ts;
  expect(r.channel === state.channel && r.message.text === "hello from @slack/web-api", r);
  const blocks = [{ type: "section", text: { type: "mrkdwn", text: "*blocks*" } }];
  const b = await client.chat.postMessage({ channel: `js-${RUN}`, text: "blocks", blocks });
  expect(isDeepStrictEqual(b.message.blocks, blocks), b);
  for (const i of [0, 1]) {
    await client.chat.postMessage({ channel: state.channel, text: `reply ${i}`, thread_ts: state.ts });
  }
});

await check("chat.postMessage refusals: no_text, msg_too_long, channel_not_found", async () => {
  await expectError(() => client.chat.postMessage({ channel: state.channel, text: "" }), "no_text");
  await expectError(
    () => client.chat.postMessage({ channel: state.channel, text: "x".repeat(40001) }),
    "msg_too_long",
  );
  await expectError(() => client.chat.postMessage({ channel: "nowhere", text: "hi" }), "channel_not_found");
});

await check("the bot's messages are in the channel (Kanca's API)", async () => {
  const listed = await admin("GET", `/api/v1/channels/${state.channel}/messages?order=ascending`);
  const texts = listed.data.map((m) => m.text);
  expect(texts[0] === "hello from @slack/web-api" && texts[1] === "blocks", texts);
  expect(listed.data[0].postedBy.kind === "bot", listed.data[0]);
});

await check("chat.update", async () => {
  const r = await client.chat.update({ channel: state.channel, ts: state.ts, text: "hello, edited" });
  expect(r.text === "hello, edited" && r.ts === state.ts, r);
});

await check("conversations.history pages with paginate()", async () => {
  for (const i of [0, 1, 2]) await client.chat.postMessage({ channel: state.channel, text: `more ${i}` });
  const seen = [];
  for await (const page of client.paginate("conversations.history", { channel: state.channel, limit: 2 })) {
    seen.push(...page.messages.map((m) => m.text));
  }
  const want = ["more 2", "more 1", "more 0", "blocks", "hello, edited"];
  expect(JSON.stringify(seen) === JSON.stringify(want), seen);
});

await check("conversations.replies", async () => {
  const r = await client.conversations.replies({ channel: state.channel, ts: state.ts });
  const texts = r.messages.map((m) => m.text);
  expect(JSON.stringify(texts) === JSON.stringify(["hello, edited", "reply 0", "reply 1"]), texts);
});

await check("reactions.add and reactions.remove", async () => {
  const target = { channel: state.channel, timestamp: state.ts, name: "thumbsup" };
  await client.reactions.add(target);
  await expectError(() => client.reactions.add(target), "already_reacted");
  await client.reactions.remove(target);
  await expectError(() => client.reactions.remove(target), "no_reaction");
});

await check("chat.delete", async () => {
  const r = await client.chat.postMessage({ channel: state.channel, text: "short-lived" });
  await client.chat.delete({ channel: state.channel, ts: r.ts });
  await expectError(() => client.chat.delete({ channel: state.channel, ts: r.ts }), "message_not_found");
});

await check("chat.postEphemeral shows a message to one person only", async () => {
  const person = `eph-${RUN}`;
  await admin("POST", `/api/v1/channels/${state.channel}/messages`, { user: person, text: "hi bot" });
  let userId;
  for await (const page of client.paginate("users.list", { limit: 200 })) {
    const found = page.members.find((u) => u.name === person);
    if (found) userId = found.id;
  }
  const r = await client.chat.postEphemeral({ channel: state.channel, user: userId, text: "just for you" });
  expect(r.ok && r.message_ts.includes("."), r);
  const seen = (await admin("GET", `/api/v1/channels/${state.channel}/ephemeral?user=${person}`)).data;
  expect(JSON.stringify(seen.map((m) => m.text)) === JSON.stringify(["just for you"]), seen);
  await expectError(
    () => client.chat.postEphemeral({ channel: state.channel, user: "U0NOBODY00", text: "x" }),
    "user_not_found",
  );
});

await check("conversations.list pages through every channel", async () => {
  const names = [];
  for await (const page of client.paginate("conversations.list", { limit: 1 })) {
    names.push(...page.channels.map((c) => c.name));
  }
  expect(names.includes(`js-${RUN}`) && names.length === new Set(names).size, names);
});

await check("users.info and users.list", async () => {
  const r = await client.users.info({ user: app.botUserId });
  expect(r.user.is_bot && r.user.profile.bot_id === app.botId, r);
  await expectError(() => client.users.info({ user: "U0NOBODY00" }), "user_not_found");
  const ids = [];
  for await (const page of client.paginate("users.list", { limit: 1 })) {
    ids.push(...page.members.map((u) => u.id));
  }
  expect(ids.includes(app.botUserId), ids);
});

await admin("DELETE", `/api/v1/slack-apps/${app.id}`);
console.log(`slack-web-js: ${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
