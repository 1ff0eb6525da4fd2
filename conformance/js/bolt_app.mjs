// Slack's Bolt for JavaScript, `@slack/bolt`'s App (pinned in package-lock.json), as a real app
// against a real Kanca: Events API (`message`, `app_mention`), a slash command with `ack()` and
// a delayed `respond()`, and a button click (`block_actions`) that replaces its message. The app
// is unchanged Bolt code with its HTTP receiver; only its Web API client points at Kanca
// (`clientOptions: { slackApiUrl: `${URL}/api/` }`).
//
// Run by conformance/run, which sets KANCA_URL and KANCA_TOKEN. The Slack app is made first
// through Kanca's management API (plain HTTP with the admin token); then the Bolt app listens on
// a free 127.0.0.1 port, Kanca is told its request URLs, and a person's actions are driven
// through the admin API while the app answers. Each check prints `ok <name>` or
// `FAIL <name>: <why>`; the last line is `bolt-js: N passed, M failed`.

import { createServer } from "node:net";
import bolt from "@slack/bolt";

const { App, LogLevel } = bolt;
const URL = process.env.KANCA_URL.replace(/\/$/, "");
const ADMIN = process.env.KANCA_TOKEN;
const RUN = String(Date.now()).slice(-8);
const COMMAND = `/deploy-${RUN}`;
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

class AdminError extends Error {
  constructor(method, path, status, body) {
    super(`${method} ${path}: ${status} ${body}`);
    this.status = status;
    this.body = body;
  }
}

async function admin(method, path, body) {
  const res = await fetch(URL + path, {
    method,
    headers: { authorization: `Bearer ${ADMIN}`, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  if (!res.ok) throw new AdminError(method, path, res.status, text);
  return text ? JSON.parse(text) : null;
}

async function expectAdminError(call, status, code) {
  try {
    await call();
  } catch (e) {
    if (!(e instanceof AdminError)) throw e;
    expect(e.status === status && JSON.parse(e.body).code === code, e.message);
    return;
  }
  throw new Error(`expected ${status} ${code}, the call succeeded`);
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// Calls fn every 100 ms until its first element is truthy; fails after `seconds`.
async function poll(what, fn, seconds = 15) {
  const deadline = Date.now() + seconds * 1000;
  for (;;) {
    const [value, seen] = await fn();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`after ${seconds} s, no ${what}; last seen: ${JSON.stringify(seen)}`);
    await sleep(100);
  }
}

function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.on("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

async function messages(channel) {
  return (await admin("GET", `/api/v1/channels/${channel}/messages?order=ascending&limit=100`)).data;
}

// [the first bot message whose text matches, every message seen] for poll().
async function botMessage(channel, match) {
  const seen = await messages(channel);
  const found = seen.find((m) => m.postedBy?.kind === "bot" && match(m.text ?? ""));
  return [found, seen.map((m) => [m.postedBy, m.text])];
}

// ---------------------------------------------------------------------------------------------
// The Slack app in Kanca, then the Bolt app with its token and signing secret.

const slackApp = await admin("POST", "/api/v1/slack-apps", { name: `bolt-js-${RUN}` });
const CHANNEL = (await admin("POST", "/api/v1/channels", { name: `bolt-js-${RUN}` })).id;
const port = await freePort();
const requestUrl = `http://127.0.0.1:${port}/slack/events`;
// Every event that got past Bolt's built-in middleware (so not the app's own, which
// `ignoreSelf` drops), in arrival order.
const seenEvents = [];

const app = new App({
  token: slackApp.botToken,
  signingSecret: slackApp.signingSecret,
  clientOptions: { slackApiUrl: `${URL}/api/` },
  port,
  logLevel: LogLevel.WARN,
});

app.use(async ({ body, next }) => {
  if (body.event) seenEvents.push(body.event);
  await next();
});

app.message("hello", async ({ message, say }) => {
  await say(`Hi <@${message.user}>!`);
});

app.message("button please", async ({ say }) => {
  await say({
    text: "Approve the deploy?",
    blocks: [
      { type: "section", text: { type: "mrkdwn", text: "Approve the deploy?" } },
      {
        type: "actions",
        elements: [
          {
            type: "button",
            action_id: "approve",
            text: { type: "plain_text", text: "Approve" },
            value: "v1",
          },
        ],
      },
    ],
  });
});

app.event("app_mention", async ({ event, say }) => {
  await say(`mentioned: ${event.text.replace(/^\s*<@[^>]+>\s*/, "")}`);
});

app.command(COMMAND, async ({ command, ack, respond }) => {
  await ack("Deploying…");
  await respond({ text: `Deployed ${command.text}`, response_type: "in_channel" });
  await respond("only you see this");
});

app.action("approve", async ({ ack, respond, body }) => {
  await ack();
  await respond({ replace_original: true, text: `Approved by <@${body.user.id}>` });
});

await app.start({ port, host: "127.0.0.1" });

await check("PATCH with Bolt's URL: url_verification answered, events.verified", async () => {
  const r = await admin("PATCH", `/api/v1/slack-apps/${slackApp.id}`, {
    events: { requestUrl, eventTypes: ["message.channels", "app_mention"] },
    slashCommands: [{ command: COMMAND, url: requestUrl, description: "Deploy", usageHint: "[env]" }],
    interactivityUrl: requestUrl,
  });
  expect(r.events.verified === true && r.events.requestUrl === requestUrl, r);
  expect(r.slashCommands.length === 1 && r.slashCommands[0].command === COMMAND, r);
  expect(r.interactivityUrl === requestUrl, r);
});

await check("message + say(): a person's `hello bolt` gets `Hi <@U…>!`", async () => {
  const posted = await admin("POST", `/api/v1/channels/${CHANNEL}/messages`, { user: "alice", text: "hello bolt" });
  const hi = await poll("`Hi <@` bot message", () => botMessage(CHANNEL, (t) => t.startsWith("Hi <@")));
  expect(/^Hi <@U[A-Z0-9]+>!$/.test(hi.text), hi);
  const event = seenEvents.find((e) => e.type === "message" && e.ts === posted.ts);
  expect(event && hi.text === `Hi <@${event.user}>!`, { hi, event });
});

await check("app_mention: `<@bot> status` gets `mentioned: status`", async () => {
  const text = `<@${slackApp.botUserId}> status`;
  await admin("POST", `/api/v1/channels/${CHANNEL}/messages`, { user: "alice", text });
  const m = await poll("`mentioned:` bot message", () => botMessage(CHANNEL, (t) => t.startsWith("mentioned:")));
  expect(m.text === "mentioned: status", m);
});

await check("slash command: ack() answers at once, respond() posts in_channel and ephemeral", async () => {
  const r = await admin("POST", `/api/v1/channels/${CHANNEL}/commands`, {
    user: "alice",
    command: COMMAND,
    text: "prod",
  });
  expect(r.command === COMMAND && r.status === 200 && r.text === "Deploying…", r);
  expect(r.responseType === null || r.responseType === "ephemeral", r);
  // `message` is null, or the ephemeral message shown to alice only.
  expect(r.message === null || r.message.text === "Deploying…", r);
  await poll("`Deployed prod` bot message", () => botMessage(CHANNEL, (t) => t === "Deployed prod"));
  await poll("`only you see this` in alice's ephemeral messages", async () => {
    const got = (await admin("GET", `/api/v1/channels/${CHANNEL}/ephemeral?user=alice`)).data;
    return [got.some((e) => e.text === "only you see this"), got.map((e) => e.text)];
  });
  const inChannel = (await messages(CHANNEL)).map((m) => m.text);
  expect(!inChannel.includes("Deploying…") && !inChannel.includes("only you see this"), inChannel);
  await expectAdminError(
    () => admin("POST", `/api/v1/channels/${CHANNEL}/commands`, { user: "alice", command: "/nope", text: "" }),
    404,
    "command_not_found",
  );
});

await check("button: block_actions reaches app.action, respond(replace_original) edits the message", async () => {
  await admin("POST", `/api/v1/channels/${CHANNEL}/messages`, { user: "alice", text: "button please" });
  const offer = await poll("bot message with the button", () =>
    botMessage(CHANNEL, (t) => t === "Approve the deploy?"),
  );
  const kinds = (offer.blocks ?? []).map((b) => b.type);
  expect(kinds.join() === "section,actions", offer);
  const r = await admin("POST", `/api/v1/channels/${CHANNEL}/messages/${offer.ts}/actions`, {
    user: "alice",
    actionId: "approve",
  });
  expect(r.status === 200, r);
  await poll("`Approved by <@` on the button's message", async () => {
    const same = (await messages(CHANNEL)).filter((m) => m.ts === offer.ts);
    return [same.length === 1 && (same[0].text ?? "").startsWith("Approved by <@"), same];
  });
  await expectAdminError(
    () =>
      admin("POST", `/api/v1/channels/${CHANNEL}/messages/${offer.ts}/actions`, {
        user: "alice",
        actionId: "no-such-button",
      }),
    404,
    "action_not_found",
  );
});

await check("no loop: the app's own messages reach none of its listeners, one `Hi`", async () => {
  await sleep(1000); // room for any late (looping) delivery
  const his = (await messages(CHANNEL)).filter((m) => (m.text ?? "").startsWith("Hi <@"));
  expect(his.length === 1, his.map((m) => m.text));
  const own = seenEvents.filter((e) => e.bot_id === slackApp.botId || e.user === slackApp.botUserId);
  expect(own.length === 0, own);
});

try {
  await admin("DELETE", `/api/v1/slack-apps/${slackApp.id}`);
} catch (e) {
  console.log(`bolt-js: cleanup: ${e.message}`);
}
await app.stop();
console.log(`bolt-js: ${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
