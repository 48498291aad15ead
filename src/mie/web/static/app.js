// Shared helpers of the mie web UI: API calls with the session's CSRF token.
"use strict";
window.mie = (function () {
  const csrf = document.querySelector('meta[name="csrf-token"]').content;

  // Call the API with the session cookie; state-changing calls carry the CSRF token. Resolves to the JSON answer,
  // rejects with the API's error message.
  async function api(method, url, body) {
    const init = { method, headers: { "X-CSRF-Token": csrf }, credentials: "same-origin" };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    const response = await fetch(url, init);
    const text = await response.text();
    let data = null;
    try { data = text ? JSON.parse(text) : null; } catch (e) { data = text; }
    if (!response.ok) {
      throw new Error((data && data.Message) || response.status + " " + response.statusText);
    }
    return data;
  }

  function fmtTime(seconds) {
    if (!isFinite(seconds)) return "";
    const m = Math.floor(seconds / 60), s = seconds - 60 * m;
    return m + ":" + (s < 10 ? "0" : "") + s.toFixed(1);
  }

  function el(tag, attrs, text) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
    if (text !== undefined) node.textContent = text;
    return node;
  }

  // Live updates (server-sent events) from where the change feed stood when the page was made; on reconnection
  // the browser resumes after the last event it saw (Last-Event-ID).
  function events() {
    const seq = document.querySelector('meta[name="change-seq"]');
    return new EventSource("/ui/events" + (seq ? "?after=" + encodeURIComponent(seq.content) : ""));
  }

  // A session signed in with a read-only key: the pages leave write actions out (the server refuses them anyway).
  const readOnly = document.body.dataset.readOnly === "1";

  return { api, csrf, fmtTime, el, events, readOnly };
})();
