// Jobs: play a job's HLS or MP4 output; keep each row's status and metrics current from job events
// (server-sent events: each event names its job, whose document is then read once).
"use strict";
(function () {
  const { api } = window.mie;
  const dialog = document.getElementById("jobplayer");
  const video = document.getElementById("jobvideo");
  const metricNames = ["framesDecoded", "frameCount", "framesRemaining", "decodeRate", "estDecodeTimeRemaining",
    "queuedDuration", "progressingDuration", "decodeDuration"];
  let hls = null;
  document.querySelectorAll("a.play").forEach((link) => link.addEventListener("click", (e) => {
    e.preventDefault();
    if (hls) { hls.destroy(); hls = null; }
    if (link.dataset.hls && !video.canPlayType("application/vnd.apple.mpegurl") && window.Hls && Hls.isSupported()) {
      hls = new Hls();
      hls.loadSource(link.dataset.src);
      hls.attachMedia(video);
    } else {
      video.src = link.dataset.src;
    }
    dialog.showModal();
    video.play().catch(() => {});
  }));
  dialog.addEventListener("close", () => video.pause());

  const pending = new Set();
  async function refresh(jobId) {
    pending.delete(jobId);
    const row = document.querySelector('tr[data-job="' + jobId + '"]');
    let job;
    try { job = await api("GET", "/api/jobs/" + encodeURIComponent(jobId)); } catch (e) { return; }
    const m = job.progressMetrics || {};
    // A new job, or one that just finished (its outputs appear): show the new table unless a video plays.
    if (!row || (["COMPLETE", "ERROR", "CANCELED"].includes(job.status) && row.dataset.status !== job.status)) {
      if (!dialog.open) location.reload();
      return;
    }
    row.dataset.status = job.status;
    const status = row.querySelector(".status");
    status.textContent = job.status;
    status.className = "status s-" + String(job.status).toLowerCase();
    row.querySelector("progress").value = m.percentJobComplete || 0;
    row.querySelector(".percent").textContent = (m.percentJobComplete || 0) + " %";
    row.querySelector(".phase").textContent = m.currentPhase ? m.currentPhase + " " + (m.currentPhasePercentComplete || "") + " %" : "";
    const cell = row.querySelector(".metrics");
    cell.textContent = "";
    for (const k of metricNames) {
      if (m[k] === undefined || m[k] === null) continue;
      const span = document.createElement("span");
      span.textContent = k + ": " + (Number.isInteger(m[k]) || typeof m[k] !== "number" ? m[k] : m[k].toFixed(2));
      cell.appendChild(span);
    }
  }
  const source = window.mie.events();
  source.addEventListener("job", (e) => {
    const jobId = JSON.parse(e.data).jobId;
    // Events come in bursts: read the job once per burst.
    if (jobId && !pending.has(jobId)) { pending.add(jobId); setTimeout(() => refresh(jobId), 300); }
  });
})();
