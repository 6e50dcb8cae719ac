// docpipe console: uploads, the live documents table and the live state machine (server-sent events).
"use strict";
const TOKEN = document.querySelector('meta[name="docpipe-token"]').content;

function liveRows(tbody) {
  const table = tbody.closest("table");
  const filter = table.dataset.filter;
  const source = new EventSource(tbody.dataset.live);
  source.addEventListener("row", (message) => {
    const row = JSON.parse(message.data);
    if (row.gone) { document.getElementById("row-" + row.id)?.remove(); recount(tbody); return; }
    const template = document.createElement("template");
    template.innerHTML = row.html.trim();
    const fresh = template.content.firstElementChild;
    fresh.hidden = Boolean(filter) && row.status !== filter;
    const old = document.getElementById("row-" + row.id);
    if (old) old.replaceWith(fresh); else tbody.prepend(fresh);
    recount(tbody);
    document.getElementById("empty")?.remove();
  });
}

// one listener for every row's buttons (rows come and go with the event stream)
function rowActions(tbody) {
  const status = document.getElementById("upload-status");
  tbody.addEventListener("click", async (event) => {
    const button = event.target.closest("button[data-action]");
    if (!button) return;
    const row = button.closest("tr");
    const name = row.querySelector("a").textContent;
    if (button.dataset.action === "delete" && !confirm(`Delete ${name} from the inbox? Its vectors go with it.`)) return;
    button.disabled = true;
    const response = await fetch(`/documents/${row.id.slice("row-".length)}/${button.dataset.action}`,
                                 {method: "POST", headers: {"X-Docpipe-Token": TOKEN}});
    status.textContent = await response.text();
    button.disabled = false;
  });
}

function recount(tbody) {
  const rows = [...tbody.querySelectorAll("tr")];
  document.querySelectorAll(".filters a").forEach((link) => {
    const status = link.dataset.filter;
    link.querySelector("span").textContent = status ? rows.filter((r) => r.dataset.status === status).length : rows.length;
  });
}

function colour(flow, states) {
  for (const [key, status] of Object.entries(states)) {
    const element = document.getElementById("state-" + key);
    if (element) element.dataset.status = status;
  }
}

function showState(flow, key) {
  flow.querySelectorAll(".state.selected").forEach((e) => e.classList.remove("selected"));
  document.getElementById("state-" + key)?.classList.add("selected");
  htmx.ajax("GET", `/documents/${flow.dataset.doc}/states/${encodeURIComponent(key)}`, "#state-detail");
}

function liveFlow(flow) {
  colour(flow, JSON.parse(document.getElementById("initial-states").textContent));
  flow.addEventListener("click", (event) => {
    const state = event.target.closest(".state");
    if (state) showState(flow, state.id.slice("state-".length));
  });
  if (flow.dataset.failed) showState(flow, flow.dataset.failed);
  if (!flow.dataset.live) return;
  const source = new EventSource(flow.dataset.live);
  source.addEventListener("states", (message) => {
    const update = JSON.parse(message.data);
    colour(flow, update.states);
    if (update.done) {
      source.close();
      if (flow.dataset.running) location.reload();  // its outputs exist now: text, summary, audio, cost
    }
  });
}

function uploads(zone) {
  const status = document.getElementById("upload-status");
  const limit = Number(zone.dataset.limit);
  async function send(files) {
    if (!files.length) return;
    const size = [...files].reduce((sum, file) => sum + file.size, 0);
    if (size > limit) { status.textContent = `Refused: ${(size / 1048576).toFixed(1)} MB is over the ${limit / 1048576} MB limit.`; return; }
    const form = new FormData();
    for (const file of files) form.append("files", file, file.name);
    status.textContent = `Uploading ${files.length} file(s)…`;
    const response = await fetch("/upload", {method: "POST", body: form, headers: {"X-Docpipe-Token": TOKEN}});
    status.textContent = response.ok ? `Submitted: ${(await response.json()).submitted.join(", ")}` : await response.text();
  }
  zone.addEventListener("dragover", (event) => { event.preventDefault(); zone.classList.add("over"); });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (event) => { event.preventDefault(); zone.classList.remove("over"); send(event.dataTransfer.files); });
  document.getElementById("files").addEventListener("change", (event) => send(event.target.files));
}

document.addEventListener("DOMContentLoaded", () => {
  const tbody = document.getElementById("rows");
  if (tbody) { liveRows(tbody); rowActions(tbody); }
  const zone = document.getElementById("drop");
  if (zone) uploads(zone);
  const flow = document.getElementById("flow");
  if (flow) liveFlow(flow);
  document.getElementById("quote")?.scrollIntoView({block: "center"});
  document.body.dataset.ready = "yes";
});
