// The legevakt board's page: shows the board its server sends, adds and removes patients.
// No person id is ever put in a URL; the server answers with masked ids only. The columns are
// the services' board parts (journalloft/board/parts.py): the page knows no service, and shows
// each cell's text as text.
"use strict";

let latest = null;

// A fødselsnummer: 11 digits whose check digits (mod 11) are both right.
function validFodselsnummer(value) {
  if (!/^[0-9]{11}$/.test(value)) return false;
  const d = [...value].map(Number);
  const check = (weights) => {
    const k = 11 - (weights.reduce((sum, w, i) => sum + w * d[i], 0) % 11);
    return k === 11 ? 0 : k;
  };
  const k1 = check([3, 7, 6, 1, 8, 9, 4, 5, 2]);
  const k2 = check([5, 4, 3, 2, 7, 6, 5, 4, 3, 2]);
  return k1 !== 10 && k2 !== 10 && k1 === d[9] && k2 === d[10];
}

function age(iso) {
  const minutes = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 60000));
  if (minutes < 1) return "nå";
  if (minutes < 60) return `${minutes} min siden`;
  const hours = Math.floor(minutes / 60);
  return hours < 48 ? `${hours} t ${minutes % 60} min siden` : `${Math.floor(hours / 24)} d siden`;
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  for (const child of children) node.append(child);
  return node;
}

function itemOf(item, tag) {
  const attrs = {};
  if (item.class) attrs.class = item.class;
  if (item.title) attrs.title = item.title;
  for (const [k, v] of Object.entries(item.data || {})) attrs[`data-${k}`] = String(v);
  if (item.since) attrs["data-since"] = item.since;
  return el(tag, attrs, item.since ? age(item.since) : item.text);
}

function cellOf(column, cell) {
  const td = el("td", { class: column.key });
  if (!cell) {
    td.append("–");
    return td;
  }
  const items = cell.items || [];
  if (cell.list) td.append(el("ul", { class: column.key }, ...items.map((i) => itemOf(i, "li"))));
  else td.append(...items.map((i) => itemOf(i, "span")));
  return td;
}

function renderHeading(columns) {
  const titles = ["Pasient", ...columns.map((c) => c.title), "Merknad", ""];
  document.getElementById("heading").replaceChildren(...titles.map((t) => el("th", {}, t)));
  return titles.length;
}

function render() {
  const rows = document.getElementById("rows");
  const columns = latest ? latest.columns : [];
  const width = renderHeading(columns);
  document.getElementById("legend").replaceChildren(...(latest ? latest.legend : []).map((i) => itemOf(i, "span")));
  rows.replaceChildren();
  if (!latest || latest.patients.length === 0) {
    rows.append(el("tr", { class: "empty" }, el("td", { colspan: String(width) }, "Ingen pasienter på tavla.")));
    return;
  }
  for (const p of latest.patients) {
    const marks = el("td", { class: "marks" });
    for (const column of columns) {
      for (const m of (p.cells[column.key] || {}).marks || []) marks.append(itemOf({ ...m, class: "mark" }, "span"));
    }
    if (p.restricted) marks.append(el("span", { class: "mark" }, "sperret"));
    const remove = el("button", { type: "button", class: "remove", "data-key": p.key }, "Fjern");
    remove.addEventListener("click", () => removePatient(p.key));
    rows.append(el("tr", { "data-key": p.key },
      el("td", { class: "patient" }, p.masked),
      ...columns.map((c) => cellOf(c, p.cells[c.key])),
      marks,
      el("td", {}, remove)));
  }
}

function setConnection(online, text) {
  const node = document.getElementById("connection");
  node.className = `connection ${online ? "online" : "offline"}`;
  node.textContent = text;
}

async function post(path, body) {
  return fetch(path, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
}

async function addPatient(event) {
  event.preventDefault();
  const input = document.getElementById("fnr");
  const error = document.getElementById("add-error");
  const value = input.value.trim();
  if (!validFodselsnummer(value)) {
    error.textContent = "Ugyldig fødselsnummer (11 siffer med gyldige kontrollsiffer).";
    return;
  }
  error.textContent = "";
  const response = await post("/patients", { patient: value });
  if (response.ok) input.value = "";
  else error.textContent = (await response.json()).error || `Feil ${response.status}`;
}

async function removePatient(key) {
  await post("/patients/remove", { key });
}

function connect() {
  const source = new EventSource("/events");
  source.addEventListener("board", (event) => {
    latest = JSON.parse(event.data);
    const reasons = Object.entries(latest.status).filter(([, r]) => r !== "connected" && r !== "no patients");
    if (latest.connected || latest.patients.length === 0) setConnection(true, "Tilkoblet");
    else setConnection(false, `Frakoblet fra journalløft: ${reasons.map(([s, r]) => `${s} ${r}`).join("; ")}`);
    render();
  });
  source.addEventListener("open", () => setConnection(true, "Tilkoblet"));
  source.addEventListener("error", () => setConnection(false, "Frakoblet – kobler til igjen …"));
}

document.addEventListener("DOMContentLoaded", () => {
  document.getElementById("add").addEventListener("submit", addPatient);
  setInterval(() => {
    for (const node of document.querySelectorAll("[data-since]")) {
      node.textContent = age(node.dataset.since);
    }
  }, 30000);
  connect();
});
