// Kanca console: progressive enhancement only. Every form works without this script; with
// it, "Send test event" stays on the page and shows the attempt's result when it completes,
// and channel messages and bin captures appear as they arrive (Server-Sent Events).
"use strict";

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function show(out, state, lines) {
  out.dataset.state = state;
  out.replaceChildren();
  for (const [tag, text] of lines) {
    const el = document.createElement(tag);
    el.textContent = text;
    out.appendChild(el);
  }
}

async function sendTestEvent(form, out) {
  const button = form.querySelector("button[type=submit]");
  button.disabled = true;
  show(out, "waiting", [["p", "Sending…"]]);
  try {
    const sent = await fetch(form.action, {
      method: "POST",
      body: new URLSearchParams(new FormData(form)),
      headers: { accept: "application/json" },
      credentials: "same-origin",
    });
    const msg = await sent.json();
    if (!sent.ok) {
      show(out, "error", [["p", msg.detail || "The test event was not sent."]]);
      return;
    }
    show(out, "waiting", [["p", `Message ${msg.msgId} queued; waiting for the attempt…`]]);
    // The attempt is usually recorded within a second; ask again less and less often, and
    // stop after about two minutes (retries then continue without the page watching).
    let delay = 250;
    for (let i = 0; i < 80; i++) {
      await sleep(delay);
      delay = Math.min(delay * 1.5, 2000);
      const r = await fetch(msg.resultUrl, { headers: { accept: "application/json" }, credentials: "same-origin" });
      if (!r.ok) continue;
      const a = await r.json();
      if (!a.done) continue;
      const head = a.success
        ? `Delivered: HTTP ${a.statusCode} in ${a.durationMs} ms`
        : `Failed: ${a.statusCode ? "HTTP " + a.statusCode : a.failureReason || "no response"} after ${a.durationMs} ms`;
      show(out, a.success ? "success" : "fail", [["p", head], ["pre", a.response || "(empty response body)"]]);
      return;
    }
    show(out, "waiting", [["p", "No attempt yet; see the recent attempts below after a reload."]]);
  } catch (e) {
    show(out, "error", [["p", "The console could not reach the server: " + e]]);
  } finally {
    button.disabled = false;
  }
}

// A list kept up to date by a console stream. Each event carries `id` (the element's id),
// `html` (markup rendered and escaped by the server) and, for a reply, `parent` (the id of
// the list it belongs in). Events already on the page are skipped; EventSource reconnects by
// itself and resumes after the last event it saw (Last-Event-ID).
function followLive(list) {
  const after = list.dataset.after;
  const url = list.dataset.live + (after ? "?after=" + encodeURIComponent(after) : "");
  const source = new EventSource(url);
  const newestFirst = list.id === "requests" || list.dataset.order === "newest-first";
  const place = (e) => {
    const item = JSON.parse(e.data);
    if (document.getElementById(item.id)) return;
    const t = document.createElement("template");
    t.innerHTML = item.html;
    const el = t.content.firstElementChild;
    if (!el) return;
    const parent = item.parent && document.getElementById(item.parent);
    if (parent) {
      parent.appendChild(el);
    } else if (newestFirst) {
      list.prepend(el);
    } else {
      list.appendChild(el);
    }
    for (const empty of list.parentElement.querySelectorAll(".empty")) empty.hidden = true;
    el.classList.add("fresh");
    if (!newestFirst) el.scrollIntoView({ block: "nearest" });
  };
  source.addEventListener("message", place);
  source.addEventListener("request", place);
}

document.addEventListener("DOMContentLoaded", () => {
  for (const list of document.querySelectorAll("[data-live]")) followLive(list);
  const form = document.getElementById("test-event-form");
  const out = document.getElementById("test-event-result");
  if (form && out) {
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      sendTestEvent(form, out);
    });
  }
  for (const button of document.querySelectorAll("button[data-copy]")) {
    button.hidden = false;
    button.addEventListener("click", async () => {
      await navigator.clipboard.writeText(button.dataset.copy);
      button.textContent = "Copied";
    });
  }
});
