// Workflows: start the chosen workflow on an asset with the configuration of the form.
"use strict";
(function () {
  const { api } = window.mie;
  const form = document.getElementById("start");
  if (!form || window.mie.readOnly) return;
  const message = document.getElementById("start-message");
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const conf = {};
    for (const input of form.querySelectorAll("input[data-op]")) {
      const stage = (conf[input.dataset.stage] = conf[input.dataset.stage] || {});
      const op = (stage[input.dataset.op] = stage[input.dataset.op] || {});
      let value = input.type === "checkbox" ? input.checked : input.value;
      try {
        if (input.dataset.type === "number" && value !== "") value = Number(value);
        if (input.dataset.type === "json") value = JSON.parse(value);
      } catch (err) {
        message.textContent = input.dataset.op + "." + input.dataset.key + " is not valid JSON";
        return;
      }
      op[input.dataset.key] = value;
    }
    // Every operator's configuration is sent as the form shows it (the API replaces keys, it does not merge).
    try {
      const asset = form.elements.asset.value;
      const run = await api("POST", "/api/workflow/execution",
        { Name: form.dataset.workflow, Input: { AssetId: asset }, Configuration: conf });
      message.textContent = "started " + run.Id;
      location.href = "/executions";
    } catch (err) {
      message.textContent = err.message;
    }
  });
})();
