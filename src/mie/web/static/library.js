// Library: drag-and-drop uploads through the signed-upload flow, then a workflow execution per file.
"use strict";
(function () {
  const { api, el } = window.mie;
  const zone = document.getElementById("upload");
  const list = document.getElementById("uploads");
  const picker = document.getElementById("files");
  const workflowSelect = document.getElementById("workflow");
  const operators = document.getElementById("operators");
  const byType = { video: "CasVideoWorkflow", image: "CasImageWorkflow", audio: "CasAudioWorkflow" };

  function kindOf(file) {
    const major = (file.type || "").split("/")[0];
    if (byType[major]) return major;
    const ext = (file.name.split(".").pop() || "").toLowerCase();
    if (["jpg", "jpeg", "png", "gif", "webp", "bmp", "tif", "tiff", "heic"].includes(ext)) return "image";
    if (["mp3", "wav", "flac", "ogg", "opus", "m4a", "aac"].includes(ext)) return "audio";
    return "video";
  }

  // Operators the user switched off, as an execution Configuration: {stage: {operator: {Enabled: false}}}.
  function configuration() {
    const conf = {};
    for (const box of operators.querySelectorAll("input[type=checkbox]")) {
      if (!box.checked) {
        conf[box.dataset.stage] = conf[box.dataset.stage] || {};
        conf[box.dataset.stage][box.dataset.op] = { Enabled: false };
      }
    }
    return conf;
  }

  async function showOperators() {
    operators.textContent = "";
    const name = workflowSelect.value;
    if (!name) return;
    try {
      const stages = await api("GET", "/api/workflow/configuration/" + encodeURIComponent(name));
      for (const [stage, ops] of Object.entries(stages)) {
        const group = el("fieldset");
        group.appendChild(el("legend", {}, stage));
        for (const [op, conf] of Object.entries(ops)) {
          const label = el("label");
          const box = el("input", { type: "checkbox", "data-stage": stage, "data-op": op });
          box.checked = conf.Enabled !== false;
          label.append(box, " " + op);
          group.appendChild(label);
        }
        operators.appendChild(group);
      }
    } catch (e) {
      operators.textContent = e.message;
    }
  }

  // POST the signed form with XMLHttpRequest: fetch() has no upload progress.
  function postForm(url, fields, file, onProgress) {
    return new Promise((resolve, reject) => {
      const form = new FormData();
      for (const [k, v] of Object.entries(fields)) form.append(k, v);
      form.append("file", file);
      const xhr = new XMLHttpRequest();
      xhr.open("POST", new URL(url, location.href).pathname);
      xhr.upload.onprogress = (e) => { if (e.lengthComputable) onProgress(e.loaded / e.total); };
      xhr.onload = () => (xhr.status < 300 ? resolve() : reject(new Error(xhr.status + " " + xhr.responseText)));
      xhr.onerror = () => reject(new Error("the upload failed (network)"));
      xhr.send(form);
    });
  }

  async function uploadOne(file) {
    const item = el("li", { class: "upload" });
    const name = el("span", { class: "name" }, file.name);
    const bar = el("progress", { max: "100", value: "0" });
    const state = el("span", { class: "muted" }, "uploading");
    item.append(name, bar, state);
    list.appendChild(item);
    try {
      const kind = kindOf(file);
      const key = "upload/" + crypto.getRandomValues(new Uint32Array(2)).join("") + "/" + file.name;
      const spec = await api("POST", "/api/dataplane/upload", { S3Bucket: "dataplane", S3Key: key });
      await postForm(spec.url, spec.fields, file, (f) => { bar.value = Math.round(f * 100); });
      bar.value = 100;
      state.textContent = "starting analysis";
      const mediaKey = { video: "Video", image: "Image", audio: "Audio" }[kind];
      const body = {
        Name: workflowSelect.value || byType[kind],
        Input: { Media: { [mediaKey]: { S3Bucket: spec.fields.bucket, S3Key: spec.fields.key } } },
      };
      if (workflowSelect.value) body.Configuration = configuration();
      const execution = await api("POST", "/api/workflow/execution", body);
      state.textContent = "analysing… ";
      const link = el("a", { href: "/assets/" + execution.AssetId }, "open");
      state.appendChild(link);
      item.dataset.asset = execution.AssetId;
      item.dataset.execution = execution.Id;
    } catch (e) {
      state.textContent = "failed: " + e.message;
      state.className = "error";
    }
  }

  function take(files) {
    for (const file of files) uploadOne(file);
  }

  // A read-only session has no drop zone (uploading is a write); the live statuses below still run.
  if (zone) {
    zone.addEventListener("dragover", (e) => { e.preventDefault(); zone.classList.add("over"); });
    zone.addEventListener("dragleave", () => zone.classList.remove("over"));
    zone.addEventListener("drop", (e) => {
      e.preventDefault();
      zone.classList.remove("over");
      take(e.dataTransfer.files);
    });
    picker.addEventListener("change", () => { take(picker.files); picker.value = ""; });
    workflowSelect.addEventListener("change", showOperators);
  }

  // Live statuses: server-sent events, no polling.
  const source = window.mie.events();
  source.addEventListener("execution", (e) => {
    const data = JSON.parse(e.data);
    for (const node of document.querySelectorAll('[data-asset="' + data.AssetId + '"]')) {
      const status = node.querySelector("[data-status]");
      if (status) { status.textContent = data.Status; status.className = "status s-" + data.Status.toLowerCase(); }
      if (node.classList.contains("upload")) {
        const state = node.querySelector(".muted, .error");
        if (data.Status === "Complete" || data.Status === "Error") {
          state.firstChild.textContent = data.Status === "Complete" ? "analysed " : "error: " + (data.Message || "") + " ";
          node.dataset.status = data.Status;
        }
      }
    }
  });
  source.addEventListener("progress", (e) => {
    const data = JSON.parse(e.data);
    for (const node of document.querySelectorAll('li.upload[data-asset="' + data.AssetId + '"]')) {
      const running = data.Progress.filter((p) => p.State !== "Done").map((p) => p.Operation);
      const state = node.querySelector(".muted");
      if (state) state.firstChild.textContent = "analysing: " + data.CurrentStage + (running.length ? " (" + running.join(", ") + ") " : " ");
    }
  });
})();
