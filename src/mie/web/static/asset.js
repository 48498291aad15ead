// Asset page: overlays at the current time, timeline, transcript, result tabs, HLS, delete and re-run.
"use strict";
(function () {
  const { api, el, fmtTime } = window.mie;
  const data = JSON.parse(document.getElementById("insights").textContent);
  const player = document.getElementById("player");
  const overlay = document.getElementById("overlay");
  const isVideo = player.tagName === "VIDEO";
  const shown = { face: true, name: true, person: true, object: true, text: true };
  let lastKey = "";

  // The rectangle the picture occupies inside the element (object-fit: contain letterboxes it).
  function contentRect() {
    const w = player.clientWidth, h = player.clientHeight;
    const vw = isVideo ? player.videoWidth : player.naturalWidth;
    const vh = isVideo ? player.videoHeight : player.naturalHeight;
    if (!vw || !vh) return { left: 0, top: 0, width: w, height: h };
    const scale = Math.min(w / vw, h / vh);
    return { left: (w - vw * scale) / 2, top: (h - vh * scale) / 2, width: vw * scale, height: vh * scale };
  }

  function placeOverlay() {
    const r = contentRect();
    overlay.style.left = player.offsetLeft + r.left + "px";
    overlay.style.top = player.offsetTop + r.top + "px";
    overlay.style.width = r.width + "px";
    overlay.style.height = r.height + "px";
  }

  // Boxes sampled at t are shown from t for one sampling interval; untimed boxes (images) always.
  function boxesAt(ms) {
    return data.boxes.filter((b) => shown[b.kind] && (b.t === null || (b.t <= ms && ms < b.t + data.sampleMs)));
  }

  function drawBoxes(force) {
    const ms = isVideo ? player.currentTime * 1000 : 0;
    const boxes = boxesAt(ms);
    const key = boxes.map((b) => data.boxes.indexOf(b)).join(",");
    if (key === lastKey && !force) return;
    lastKey = key;
    overlay.textContent = "";
    for (const b of boxes) {
      // A box at the top edge gets its label inside, where the stage does not clip it.
      const inside = b.box.Top < 0.06 ? " inside" : "";
      const node = el("div", { class: "box box-" + b.kind + inside, "data-kind": b.kind, "data-t": b.t === null ? "" : b.t });
      node.style.left = b.box.Left * 100 + "%";
      node.style.top = b.box.Top * 100 + "%";
      node.style.width = b.box.Width * 100 + "%";
      node.style.height = b.box.Height * 100 + "%";
      node.title = b.label + (b.confidence ? " " + b.confidence + "%" : "");
      node.appendChild(el("span", {}, b.kind === "face" ? "face" : b.label));
      overlay.appendChild(node);
    }
  }

  document.querySelectorAll("[data-show]").forEach((box) =>
    box.addEventListener("change", () => { shown[box.dataset.show] = box.checked; drawBoxes(true); }));

  // Timeline: one row per track; a click on an item (or anywhere on a row) seeks there.
  const timeline = document.getElementById("timeline");
  const duration = () => (isVideo && isFinite(player.duration) && player.duration > 0
    ? player.duration * 1000 : data.durationMs || 1);
  let playheads = [];
  function buildTimeline() {
    if (!timeline) return;
    timeline.textContent = "";
    playheads = [];
    const total = duration();
    for (const track of data.tracks) {
      const row = el("div", { class: "track track-" + track.group });
      row.appendChild(el("span", { class: "trackname", title: track.name }, track.name));
      const lane = el("div", { class: "lane" });
      for (const item of track.items) {
        const seg = el("button", { type: "button", class: "seg", title: fmtTime(item.start / 1000) + " " + item.label,
          "data-start": item.start });
        seg.style.left = (100 * item.start) / total + "%";
        seg.style.width = Math.max(0.4, (100 * (item.end - item.start)) / total) + "%";
        seg.addEventListener("click", (e) => { e.stopPropagation(); seek(item.start / 1000); });
        lane.appendChild(seg);
      }
      lane.addEventListener("click", (e) => {
        const r = lane.getBoundingClientRect();
        seek(((e.clientX - r.left) / r.width) * total / 1000);
      });
      const head = el("div", { class: "playhead" });
      lane.appendChild(head);
      playheads.push(head);
      row.appendChild(lane);
      timeline.appendChild(row);
    }
  }

  // Transcript: a span per word; a click seeks; the current word is highlighted.
  const transcript = document.getElementById("transcript");
  const wordNodes = [];
  if (transcript) {
    for (const word of data.words) {
      const node = el("span", { class: "word", "data-start": word.start, "data-end": word.end }, word.text);
      node.addEventListener("click", () => seek(word.start / 1000));
      wordNodes.push(node);
      transcript.append(node, " ");
    }
  }
  let currentWord = null;
  function highlightWord() {
    if (!wordNodes.length) return;
    const ms = player.currentTime * 1000;
    let found = null;
    for (let i = 0; i < data.words.length; i++) {
      if (data.words[i].start <= ms) found = i; else break;
    }
    if (found !== null && ms > data.words[found].end + 1500) found = null;
    const node = found === null ? null : wordNodes[found];
    if (node === currentWord) return;
    if (currentWord) currentWord.classList.remove("current");
    currentWord = node;
    if (node) {
      node.classList.add("current");
      const box = transcript.getBoundingClientRect(), r = node.getBoundingClientRect();
      if (r.top < box.top || r.bottom > box.bottom) transcript.scrollTop += r.top - box.top - box.height / 3;
    }
  }

  const clock = document.getElementById("clock");
  function tick() {
    drawBoxes(false);
    if (!isVideo) return;
    highlightWord();
    const left = (100 * player.currentTime * 1000) / duration() + "%";
    for (const head of playheads) head.style.left = left;
    clock.textContent = fmtTime(player.currentTime) + " / " + fmtTime(player.duration);
  }

  function seek(seconds) {
    if (!isVideo) return;
    player.currentTime = Math.max(0, seconds);
    tick();
  }

  function loop() {
    tick();
    if (!player.paused) requestAnimationFrame(loop);
  }

  if (isVideo) {
    player.addEventListener("loadedmetadata", () => {
      placeOverlay();
      buildTimeline();
      const t = parseFloat(new URLSearchParams(location.search).get("t"));
      if (isFinite(t)) player.currentTime = t;
      tick();
    });
    player.addEventListener("play", loop);
    player.addEventListener("seeked", tick);
    player.addEventListener("timeupdate", tick);
    if (player.readyState >= 1) player.dispatchEvent(new Event("loadedmetadata"));
  } else {
    const ready = () => { placeOverlay(); drawBoxes(true); };
    if (player.complete) ready(); else player.addEventListener("load", ready);
  }
  window.addEventListener("resize", () => { placeOverlay(); drawBoxes(true); });
  buildTimeline();

  // Source: the proxy, or an HLS rendition (native HLS, else hls.js over Media Source Extensions).
  const source = document.getElementById("source");
  let hls = null;
  if (source) {
    source.addEventListener("change", () => {
      const option = source.selectedOptions[0];
      const at = player.currentTime;
      if (hls) { hls.destroy(); hls = null; }
      if (option.dataset.hls && !player.canPlayType("application/vnd.apple.mpegurl") && window.Hls && Hls.isSupported()) {
        hls = new Hls();
        hls.loadSource(option.value);
        hls.attachMedia(player);
        window.mieHls = hls;
      } else {
        player.src = option.value;
      }
      player.addEventListener("loadedmetadata", () => { player.currentTime = at; }, { once: true });
    });
  }

  // Result tabs: the stored JSON of an operator, fetched when its tab is opened.
  const tabs = document.querySelectorAll(".tabs button");
  const technical = document.getElementById("tab-technical");
  const jsonPanel = document.getElementById("tab-json");
  const pre = document.getElementById("json");
  const jsonLink = document.getElementById("json-link");
  if (!technical.children.length && tabs.length) jsonPanel.hidden = true;
  tabs.forEach((tab) => tab.addEventListener("click", async () => {
    tabs.forEach((t) => t.classList.toggle("on", t === tab));
    technical.hidden = tab.dataset.tab !== "technical";
    jsonPanel.hidden = !tab.dataset.op;
    if (!tab.dataset.op) return;
    pre.textContent = "loading…";
    const url = "/api/dataplane/metadata/" + data.assetId + "/" + encodeURIComponent(tab.dataset.op);
    try {
      let page = await api("GET", url);
      const pages = [page.results];
      while (page.cursor && pages.length < 50) {
        page = await api("GET", url + "?cursor=" + encodeURIComponent(page.cursor));
        pages.push(page.results);
      }
      const text = JSON.stringify(pages.length === 1 ? pages[0] : pages, null, 2);
      pre.textContent = text.length > 400000 ? text.slice(0, 400000) + "\n… (truncated; download for all)" : text;
      jsonLink.href = URL.createObjectURL(new Blob([text], { type: "application/json" }));
      jsonLink.download = tab.dataset.op + ".json";
    } catch (e) {
      pre.textContent = e.message;
    }
  }));

  // While a workflow runs on this asset, say where it is; when it ends, offer to show the new results
  // (server-sent events; the player is not reloaded under the viewer's feet).
  const notice = document.getElementById("live-message");
  const events = window.mie.events();
  events.addEventListener("progress", (e) => {
    const run = JSON.parse(e.data);
    if (run.AssetId !== data.assetId) return;
    const running = run.Progress.filter((p) => p.State !== "Done").map((p) => p.Operation);
    notice.hidden = false;
    notice.textContent = "Analysing: " + run.CurrentStage + (running.length ? " (" + running.join(", ") + ")" : "");
  });
  events.addEventListener("execution", (e) => {
    const run = JSON.parse(e.data);
    if (run.AssetId !== data.assetId || (run.Status !== "Complete" && run.Status !== "Error")) return;
    notice.hidden = false;
    const cancelled = String(run.Message || "").startsWith("Cancelled");
    notice.textContent = run.Status === "Complete" ? "The analysis finished. "
      : cancelled ? "The analysis was cancelled. " : "The analysis failed: " + (run.Message || "") + " ";
    notice.appendChild(el("a", { href: location.pathname + location.search }, "Show the new results"));
  });

  // Actions.
  const message = document.getElementById("action-message");
  function fail(e) { message.hidden = false; message.textContent = e.message; }
  const remove = document.getElementById("delete");
  if (remove) remove.addEventListener("click", async () => {
    if (!confirm("Delete this asset, its results and its media?")) return;
    try {
      await api("DELETE", "/api/dataplane/metadata/" + data.assetId);
      location.href = "/";
    } catch (e) { fail(e); }
  });
  const rerun = document.getElementById("rerun");
  if (rerun) rerun.addEventListener("click", async () => {
    const name = document.getElementById("rerun-workflow").value;
    try {
      await api("POST", "/api/workflow/execution", { Name: name, Input: { AssetId: data.assetId } });
      location.href = "/executions";
    } catch (e) { fail(e); }
  });
})();
