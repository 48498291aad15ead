// People pages: face crops drawn from their relative boxes; naming, merging and splitting through /api/people.
"use strict";
(function () {
  const { api } = window.mie;
  // Room around the face box, as a fraction of its size (a face cut at the box edge is hard to recognise).
  const MARGIN = 0.25;

  // Show the face box of the image, square, filling its frame: the image is scaled and shifted in its frame.
  function crop(frame) {
    const img = frame.querySelector("img");
    if (!img) return;
    const box = JSON.parse(frame.dataset.box);
    const draw = () => {
      const w = img.naturalWidth, h = img.naturalHeight;
      if (!w || !h) return;
      const side = Math.max(box.Width * w, box.Height * h) * (1 + 2 * MARGIN);
      const cx = (box.Left + box.Width / 2) * w, cy = (box.Top + box.Height / 2) * h;
      const scale = frame.clientWidth / side;
      img.style.width = w * scale + "px";
      img.style.height = h * scale + "px";
      img.style.left = (side / 2 - cx) * scale + "px";
      img.style.top = (side / 2 - cy) * scale + "px";
      frame.classList.add("drawn");
    };
    if (img.complete) draw(); else img.addEventListener("load", draw);
    window.addEventListener("resize", draw);
  }
  document.querySelectorAll(".face.crop[data-box]").forEach(crop);

  const root = document.getElementById("person");
  if (!root) return;
  const id = root.dataset.person;
  const message = document.getElementById("person-message");

  function say(text, error) {
    message.hidden = false;
    message.textContent = text;
    message.classList.toggle("error", !!error);
  }

  async function change(path, body, goto) {
    try {
      const answer = await api("POST", "/api/people/" + encodeURIComponent(id) + path, body);
      location.href = "/people/" + encodeURIComponent(goto ? goto(answer) : id);
    } catch (e) {
      say(e.message, true);
    }
  }

  if (window.mie.readOnly) return; // no naming, merging or splitting: those forms are not on the page
  document.getElementById("rename").addEventListener("submit", (e) => {
    e.preventDefault();
    const name = document.getElementById("name").value.trim();
    if (name) change("/name", { Name: name });
  });
  const forget = document.getElementById("forget");
  if (forget) forget.addEventListener("click", () => change("/name", { Name: null }));

  const merge = document.getElementById("merge");
  if (merge) merge.addEventListener("submit", (e) => {
    e.preventDefault();
    const ids = Array.from(document.getElementById("merge-people").selectedOptions, (o) => o.value);
    if (!ids.length) { say("Choose the people to merge into this one.", true); return; }
    change("/merge", { PersonIds: ids });
  });

  const split = document.getElementById("split");
  split.addEventListener("submit", (e) => {
    e.preventDefault();
    const ids = Array.from(split.querySelectorAll("input[name=face]:checked"), (c) => c.value);
    if (!ids.length) { say("Select the faces to split off.", true); return; }
    change("/split", { FaceIds: ids }, (answer) => answer.PersonId);
  });
})();
