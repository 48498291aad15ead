// Jobs: play a job's HLS or MP4 output; reload the table when a job event arrives (server-sent events).
"use strict";
(function () {
  const dialog = document.getElementById("jobplayer");
  const video = document.getElementById("jobvideo");
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
  let timer = null;
  const source = new EventSource("/ui/events");
  source.addEventListener("job", () => {
    // Job events come in bursts; refresh the table once the burst is over, unless a video is playing.
    clearTimeout(timer);
    timer = setTimeout(() => { if (!dialog.open) location.reload(); }, 1000);
  });
})();
