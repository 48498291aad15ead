// Executions: running executions kept current by server-sent events (no polling in the page).
"use strict";
(function () {
  const { el, fmtTime } = window.mie;
  const live = document.getElementById("live");
  const none = document.getElementById("none-running");
  const status = document.getElementById("live-status");
  const names = JSON.parse(live.dataset.names || "{}");

  function render(run) {
    let node = document.getElementById("run-" + run.Id);
    const over = run.Status === "Complete" || run.Status === "Error";
    if (over) {
      if (node) node.remove();
      none.hidden = live.querySelectorAll(".run").length > 0;
      return;
    }
    if (!node) {
      node = el("article", { class: "run", id: "run-" + run.Id, "data-id": run.Id });
      live.insertBefore(node, none);
    }
    node.textContent = "";
    const head = el("header");
    const link = el("a", { href: "/assets/" + run.AssetId }, names[run.AssetId] || run.AssetId);
    head.append(link, " · " + (run.Workflow || "") + " · ");
    head.appendChild(el("span", { class: "status s-" + String(run.Status).toLowerCase() }, run.Status));
    head.append(" · stage " + (run.CurrentStage || ""));
    node.appendChild(head);
    const ops = el("ul", { class: "ops" });
    for (const p of run.Progress || []) {
      const li = el("li");
      li.appendChild(el("span", {}, p.Operation));
      li.appendChild(el("span", { class: "state" }, p.State));
      const percent = p.Percent != null ? p.Percent : p.State === "Done" ? 100 : 0;
      li.appendChild(el("progress", { max: "100", value: String(percent) }));
      let text = (p.Message || "") + (p.Percent != null ? " " + Math.round(p.Percent) + " %" : "");
      if (p.EstimatedSecondsRemaining != null) text += " · " + fmtTime(p.EstimatedSecondsRemaining) + " left";
      li.appendChild(el("span", { class: "muted" }, text));
      ops.appendChild(li);
    }
    node.appendChild(ops);
    none.hidden = true;
  }

  const source = new EventSource("/ui/events");
  source.onopen = () => { status.textContent = "live"; };
  source.onerror = () => { status.textContent = "reconnecting…"; };
  source.addEventListener("progress", (e) => render(JSON.parse(e.data)));
  source.addEventListener("execution", (e) => {
    const data = JSON.parse(e.data);
    const row = document.querySelector('tr[data-id="' + data.Id + '"] .status');
    if (row) { row.textContent = data.Status; row.className = "status s-" + data.Status.toLowerCase(); }
    if (data.Status === "Complete" || data.Status === "Error") render(data);
  });
})();
