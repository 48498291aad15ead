// Executions: running executions kept current by server-sent events (no polling in the page).
"use strict";
(function () {
  const { api, el, fmtTime } = window.mie;
  const live = document.getElementById("live");
  const none = document.getElementById("none-running");
  const status = document.getElementById("live-status");
  const names = JSON.parse(live.dataset.names || "{}");

  function render(run) {
    const listed = document.querySelector('#history tr[data-id="' + run.Id + '"]');
    if (listed && run.Workflow && !listed.cells[2].textContent) listed.cells[2].textContent = run.Workflow;
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
    head.append(" · stage " + (run.CurrentStage || "") + " ");
    if (!window.mie.readOnly) head.appendChild(el("button", { type: "button", class: "cancel", "data-cancel": run.Id }, "Cancel"));
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

  live.addEventListener("click", async (e) => {
    const id = e.target.dataset && e.target.dataset.cancel;
    if (!id || !confirm("Cancel this execution?")) return;
    e.target.disabled = true;
    try { await api("POST", "/api/workflow/execution/" + id + "/cancel"); } catch (err) { status.textContent = err.message; }
  });

  const source = window.mie.events();
  source.onopen = () => { status.textContent = "live"; };
  source.onerror = () => { status.textContent = "reconnecting…"; };
  source.addEventListener("progress", (e) => render(JSON.parse(e.data)));
  // History: a row per execution, its status, stage and error kept current; new executions appear at the top.
  const history = document.querySelector("#history tbody");
  function historyRow(data) {
    let row = history.querySelector('tr[data-id="' + data.Id + '"]');
    if (!row) {
      row = el("tr", { "data-id": data.Id });
      const cells = [new Date().toISOString().slice(0, 19).replace("T", " "), "", "", "", ""].map((t) => el("td", {}, t));
      cells[1].appendChild(el("a", { href: "/assets/" + data.AssetId }, names[data.AssetId] || data.AssetId));
      cells[3].appendChild(el("span", { class: "status" }));
      cells[4].appendChild(el("span", { class: "stage" }));
      row.append(...cells);
      history.prepend(row);
    }
    return row;
  }
  source.addEventListener("execution", (e) => {
    const data = JSON.parse(e.data);
    const row = historyRow(data);
    const status = row.querySelector(".status");
    // A cancelled execution ends Error in MIE's terms, but it is no failure.
    const cancelled = data.Status === "Error" && String(data.Message || "").startsWith("Cancelled");
    const shown = cancelled ? "Cancelled" : data.Status;
    status.textContent = shown;
    status.className = "status s-" + shown.toLowerCase();
    const over = data.Status === "Complete" || data.Status === "Error";
    const stage = row.querySelector(".stage");
    if (stage) stage.textContent = over ? "" : "stage " + (data.CurrentStage || "");
    if (data.Message && !row.querySelector(".error, .muted")) {
      row.cells[4].appendChild(el("div", { class: cancelled ? "muted" : "error" }, data.Message));
    }
    if (over) render(data);
  });
})();
