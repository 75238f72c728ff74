// The legevakt board's page: shows the board its server sends, adds and removes patients.
// No person id is ever put in a URL; the server answers with masked ids only.
"use strict";

const RISK_TEXT = { low: "lav", "low-medium": "lav–middels", medium: "middels", high: "høy" };
const TREND = { rising: "↑ stigende", falling: "↓ fallende", stable: "→ uendret" };
const STATUS = { active: "aktiv", planned: "planlagt", paused: "pause", ended: "avsluttet" };
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

function scoreCell(news2, restricted) {
  if (restricted && !news2) return el("td", {}, el("span", { class: "mark" }, "sperret"));
  if (!news2) return el("td", { class: "news2" }, "–");
  const band = news2.risk || "unknown";
  const total = news2.complete ? String(news2.total) : `≥${news2.total}`;
  const title = news2.risk ? `Risiko: ${RISK_TEXT[news2.risk]}` : "Ufullstendig sett";
  return el("td", { class: "news2" },
    el("span", { class: `score ${band}`, "data-risk": band, title }, total));
}

function render() {
  const rows = document.getElementById("rows");
  rows.replaceChildren();
  if (!latest || latest.patients.length === 0) {
    rows.append(el("tr", { class: "empty" }, el("td", { colspan: "7" }, "Ingen pasienter på tavla.")));
    return;
  }
  for (const p of latest.patients) {
    const n = p.news2;
    const marks = el("td", { class: "marks" });
    if (n && !n.complete) marks.append(el("span", { class: "mark", title: `Ikke målt: ${n.unscored.join(", ")}` }, "ufullstendig"));
    if (n && n.source_scored) marks.append(el("span", { class: "mark", title: "Skåren er regnet ut av journalsystemet, ikke av plattformen" }, "skåret av kilden"));
    if (p.restricted) marks.append(el("span", { class: "mark" }, "sperret"));
    const services = el("ul", { class: "services" });
    for (const s of p.services || []) {
      const unit = s.unit ? ` – ${s.unit.name}${s.unit.phone ? `, tlf. ${s.unit.phone}` : ""}` : "";
      services.append(el("li", { class: `status-${s.status}` }, `${s.name} (${STATUS[s.status] || s.status})${unit}`));
    }
    const remove = el("button", { type: "button", class: "remove", "data-key": p.key }, "Fjern");
    remove.addEventListener("click", () => removePatient(p.key));
    rows.append(el("tr", { "data-key": p.key },
      el("td", { class: "patient" }, p.masked),
      scoreCell(n, p.restricted),
      el("td", { class: "trend" }, n && n.trend ? TREND[n.trend.change] : "–"),
      el("td", { class: "age", "data-effective": n ? n.effective : "" }, n ? age(n.effective) : "–"),
      marks,
      el("td", {}, services),
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
    for (const cell of document.querySelectorAll("td.age[data-effective]")) {
      if (cell.dataset.effective) cell.textContent = age(cell.dataset.effective);
    }
  }, 30000);
  connect();
});
