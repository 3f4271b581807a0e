"""The embeddable chat widget: one self-contained page (no build step, no external assets). Embed
it with `<iframe src="https://.../chat" style="width:380px;height:560px;border:0">`.

Replies to a message come back with it; what staff send while they have the conversation is
fetched by polling `GET /channels/web/messages?after=<seq>` every 3 seconds while the page is shown
(each message once: they are told apart by `seq`)."""

from __future__ import annotations

import html
import json

PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Chat with __TITLE__</title>
<style>
  :root { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; color: #1d1d1f; }
  body { margin: 0; height: 100vh; display: flex; flex-direction: column; background: #fafafa; }
  header { padding: 12px 16px; background: #b3261e; color: #fff; font-weight: 600; }
  #log { flex: 1; overflow-y: auto; padding: 12px; display: flex; flex-direction: column; gap: 8px; }
  .msg { max-width: 80%; padding: 8px 12px; border-radius: 14px; white-space: pre-wrap; line-height: 1.35; }
  .me { align-self: flex-end; background: #b3261e; color: #fff; border-bottom-right-radius: 4px; }
  .agent { align-self: flex-start; background: #ececec; border-bottom-left-radius: 4px; }
  .note { align-self: center; color: #666; font-size: 0.85em; }
  form { display: flex; gap: 8px; padding: 10px; border-top: 1px solid #ddd; background: #fff; }
  textarea { flex: 1; resize: none; font: inherit; padding: 8px; border: 1px solid #ccc; border-radius: 8px; }
  button { font: inherit; padding: 0 16px; border: 0; border-radius: 8px; background: #b3261e; color: #fff; }
  button:disabled { opacity: 0.5; }
</style>
</head>
<body>
<header>__TITLE__</header>
<div id="log" aria-live="polite"></div>
<form id="form">
  <textarea id="text" rows="2" maxlength="2000" placeholder="Type a message" aria-label="Message"></textarea>
  <button id="send" type="submit">Send</button>
</form>
<script>
(function () {
  "use strict";
  var ENDPOINT = __ENDPOINT__;
  function newId() {
    if (window.crypto && crypto.randomUUID) { return crypto.randomUUID(); }
    return "s" + Date.now().toString(36) + Math.random().toString(36).slice(2, 12);
  }
  var KEY = "hibachi-chat-session";
  var session = null;
  try { session = localStorage.getItem(KEY); } catch (e) { session = null; }
  if (!session) {
    session = newId();
    try { localStorage.setItem(KEY, session); } catch (e) { /* private mode: this page only */ }
  }
  var log = document.getElementById("log");
  var form = document.getElementById("form");
  var input = document.getElementById("text");
  var send = document.getElementById("send");
  var seen = {};
  var lastSeq = 0;
  var primed = false;  // the first poll only notes what was sent before this page opened
  function shown(seq) {
    if (seq == null) { return false; }
    if (seen[seq]) { return true; }
    seen[seq] = true;
    return false;
  }
  function show(text, cls) {
    var div = document.createElement("div");
    div.className = "msg " + cls;
    div.textContent = text;  // never innerHTML: replies are text
    log.appendChild(div);
    log.scrollTop = log.scrollHeight;
  }
  function post(body, attempt) {
    return fetch(ENDPOINT, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body)
    }).then(function (response) {
      if (response.status >= 500 && attempt < 3) {  // the same message id: answered once
        return new Promise(function (r) { setTimeout(r, 500 * attempt); })
          .then(function () { return post(body, attempt + 1); });
      }
      return response.json().then(function (data) { return { ok: response.ok, data: data }; });
    });
  }
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var text = input.value.trim();
    if (!text) { return; }
    show(text, "me");
    input.value = "";
    send.disabled = true;
    // The page the widget sits on (embedded: the host page) goes with each message: consent evidence.
    var page = (document.referrer || location.href).slice(0, 2000);
    post({ session_id: session, text: text, message_id: newId(), page: page }, 1).then(function (result) {
      if (!result.ok) {
        show((result.data && result.data.error && result.data.error.message) || "Something went wrong.", "note");
      } else if (result.data.reply) {
        if (!shown(result.data.reply_seq)) { show(result.data.reply, "agent"); }
      } else {
        show("Thanks, someone from our team will reply here.", "note");
      }
    }).catch(function () {
      show("We could not reach the server; please try again.", "note");
    }).then(function () { send.disabled = false; input.focus(); });
  });
  function poll() {
    if (document.hidden) { return; }
    fetch(ENDPOINT + "?session_id=" + encodeURIComponent(session) + "&after=" + lastSeq)
      .then(function (response) { return response.ok ? response.json() : { messages: [] }; })
      .then(function (data) {
        (data.messages || []).forEach(function (m) {
          lastSeq = Math.max(lastSeq, m.seq);
          if (!shown(m.seq) && primed) { show(m.text, m.from === "system" ? "note" : "agent"); }
        });
        primed = true;
      })
      .catch(function () { /* offline for a moment: the next poll catches up */ });
  }
  poll();
  setInterval(poll, 3000);
  input.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && !event.shiftKey) { event.preventDefault(); form.requestSubmit(); }
  });
  show("Hi! Ask about a date, a price, or book a hibachi party.", "agent");
})();
</script>
</body>
</html>
"""


def widget_page(business_name: str, endpoint: str = "/channels/web/messages") -> str:
    return PAGE.replace("__TITLE__", html.escape(business_name)).replace("__ENDPOINT__", json.dumps(endpoint))
