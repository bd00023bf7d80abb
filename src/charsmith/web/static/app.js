// charsmith's page: plain JavaScript over the JSON API, no build step and nothing from elsewhere.
"use strict";

const $ = (id) => document.getElementById(id);
const SHORTLIST_KEY = "charsmith.shortlist";
const MODEL_KEY = "charsmith.model";
let models = [];
let current = null; // the chosen model's description from /api/models
let streaming = null; // the AbortController of a running completion

// ----- talking to the server ---------------------------------------------------------------
async function post(path, body, signal) {
  const res = await fetch(path, {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body), signal,
  });
  if (!res.ok) {
    let message = `${res.status} ${res.statusText}`;
    try { message = (await res.json()).error || message; } catch (_) { /* not JSON */ }
    throw new Error(message);
  }
  return res;
}

function say(message, isError = false) {
  const s = $("status");
  s.textContent = message;
  s.classList.toggle("error", isError);
}

async function busy(button, work) {
  button.disabled = true;
  try {
    await work();
  } catch (e) {
    if (e.name === "AbortError") say("Stopped"); else say(e.message, true);
  } finally {
    button.disabled = false;
  }
}

// ----- models ----------------------------------------------------------------------------
function supports(what) {
  const s = current.supports;
  return s[what] === true || (s.constraints || []).includes(what);
}

function describe(m) {
  const shape = m.layers != null ? `${m.cell.toUpperCase()} ${m.layers}×${m.hidden}` : m.summary;
  const parts = [shape, `${m.parameters.toLocaleString()} parameters`];
  if (m.source) parts.push(`learned from ${m.source}`);
  if (m.held_out_loss != null) parts.push(`held-out loss ${m.held_out_loss.toFixed(3)} nats/char`);
  parts.push(m.mode === "lines" ? "writes list items" : "writes running text");
  if (m.lowercase) parts.push("lower case");
  return parts.join(" · ");
}

function chooseModel(name) {
  current = models.find((m) => m.name === name) || models[0];
  $("model").value = current.name;
  localStorage.setItem(MODEL_KEY, current.name);
  $("model-info").textContent = describe(current);
  document.querySelectorAll("[data-needs]").forEach((el) => { el.hidden = !supports(el.dataset.needs); });
  if (current.max_len) {
    $("max-len").max = current.max_len;
    $("min-len").max = current.max_len;
  }
  if (current.max_length) $("length").max = current.max_length;
  $("score-title").textContent = current.mode === "lines" ? "Score a name" : "Score a line";
  $("score-input").placeholder = current.mode === "lines" ? "tyrannosaurus" : "ROMEO: good morrow";
  const cat = $("category");
  cat.replaceChildren(new Option("any", ""), ...current.categories.map((c) => new Option(c, c)));
  $("results").replaceChildren();
  $("score-result").hidden = true;
  $("classes").replaceChildren();
  say("");
}

async function loadModels() {
  const res = await fetch("/api/models");
  const data = await res.json();
  models = data.models;
  $("n").max = data.limits.max_n;
  $("model").replaceChildren(...models.map((m) => new Option(m.mode === "lines" ? m.name : `${m.name} (text)`, m.name)));
  // the first model the user served, else the one chosen last time, else the server's pick for a first visit
  const last = models.some((m) => m.name === localStorage.getItem(MODEL_KEY)) ? localStorage.getItem(MODEL_KEY) : null;
  chooseModel(data.default || last || data.first_visit || models[0].name);
}

// ----- making names ------------------------------------------------------------------------
const intOf = (id) => Number.parseInt($(id).value, 10);
const textOf = (id) => $(id).value.trim();

function sampleRequest() {
  const body = {
    model: current.name, n: intOf("n"), temperature: Number($("temperature").value), top_p: Number($("top-p").value),
    prefix: $("prefix").value, allow_known: $("allow-known").checked, unique: $("unique").checked,
  };
  if ($("novel-edits").checked) body.novel_edits = 1;
  if (textOf("min-len") !== "") body.min_len = intOf("min-len"); // an exact constraint when given
  if (textOf("max-len") !== "") body.max_len = intOf("max-len");
  if (textOf("seed") !== "") body.seed = intOf("seed");
  if (supports("category")) {
    const blend = textOf("blend");
    if (blend || $("category").value) body.category = blend || $("category").value;
  }
  for (const key of ["suffix", "exclude", "pattern"]) {
    if (supports(key) && $(key).value !== "") body[key] = $(key).value;
  }
  if (supports("contains") && textOf("contains")) {
    body.contains = textOf("contains").split(",").map((s) => s.trim()).filter(Boolean);
  }
  return body;
}

function nameButton(row) {
  const button = document.createElement("button");
  button.type = "button";
  button.className = "pick";
  button.dataset.name = row.item;
  const name = document.createElement("span");
  name.className = "name";
  name.textContent = row.item;
  const meta = document.createElement("span");
  meta.className = "meta";
  meta.append(`${row.bits_per_char.toFixed(2)} bits/char`);
  if (row.novel !== null) {
    const badge = document.createElement("span");
    badge.className = row.novel ? "badge" : "badge known";
    badge.textContent = row.novel ? "new" : "in training set";
    meta.append(badge);
  }
  button.append(name, meta);
  button.title = "click to keep (or to let go)";
  button.classList.toggle("kept", isKept(row.item));
  button.addEventListener("click", () => {
    toggleKept({ name: row.item, model: current.name, bits_per_char: row.bits_per_char });
    button.classList.toggle("kept", isKept(row.item));
  });
  const li = document.createElement("li");
  li.append(button);
  return li;
}

async function generate(event) {
  event.preventDefault();
  await busy($("generate-btn"), async () => {
    say("Generating…");
    const data = await (await post("/api/sample", sampleRequest())).json();
    $("results").replaceChildren(...data.items.map(nameButton));
    const notes = [`${data.items.length} names`];
    if (data.dropped_known) notes.push(`${data.dropped_known} dropped as names from the training set`);
    if (data.short_by) notes.push(`${data.short_by} fewer than asked: raise the temperature or keep training names`);
    say(notes.join("; "));
  });
}

// ----- the shortlist ----------------------------------------------------------------------
function shortlist() {
  try { return JSON.parse(localStorage.getItem(SHORTLIST_KEY)) || []; } catch (_) { return []; }
}

function saveShortlist(list) {
  localStorage.setItem(SHORTLIST_KEY, JSON.stringify(list));
  renderShortlist();
}

const isKept = (name) => shortlist().some((k) => k.name === name && k.model === current.name);

function toggleKept(entry) {
  const list = shortlist();
  const at = list.findIndex((k) => k.name === entry.name && k.model === entry.model);
  if (at >= 0) list.splice(at, 1); else list.push(entry);
  saveShortlist(list);
}

function renderShortlist() {
  const list = shortlist();
  $("shortlist").replaceChildren(...list.map((k, i) => {
    const li = document.createElement("li");
    const name = document.createElement("span");
    name.className = "name";
    name.textContent = k.name;
    const from = document.createElement("span");
    from.className = "muted";
    from.textContent = k.model;
    const drop = document.createElement("button");
    drop.type = "button";
    drop.textContent = "×";
    drop.title = `remove ${k.name}`;
    drop.setAttribute("aria-label", `remove ${k.name}`);
    drop.addEventListener("click", () => {
      const rest = shortlist();
      rest.splice(i, 1);
      saveShortlist(rest);
      document.querySelectorAll("#results button.pick").forEach((b) => b.classList.toggle("kept", isKept(b.dataset.name)));
    });
    li.append(name, from, drop);
    return li;
  }));
  $("shortlist-count").textContent = list.length ? `(${list.length})` : "";
  $("shortlist-empty").hidden = list.length > 0;
  for (const id of ["download-txt", "download-csv", "clear-shortlist"]) $(id).disabled = list.length === 0;
}

function download(filename, type, text) {
  const a = document.createElement("a");
  a.href = URL.createObjectURL(new Blob([text], { type }));
  a.download = filename;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 1000);
}

const csvField = (s) => (/[",\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s);

function downloadTxt() {
  download("shortlist.txt", "text/plain", shortlist().map((k) => k.name).join("\n") + "\n");
}

function downloadCsv() {
  const rows = shortlist().map((k) => [k.name, k.model, k.bits_per_char.toFixed(4)].map(csvField).join(","));
  download("shortlist.csv", "text/csv", ["name,model,bits_per_char", ...rows].join("\n") + "\n");
}

// ----- scoring --------------------------------------------------------------------------------
function surprisalColour(bits) {
  const t = Math.min(Math.max(bits, 0), 8) / 8; // 0 bits: green ... 8 bits and more: red
  return `hsl(${Math.round(140 * (1 - t))} 75% 78%)`;
}

function charSpan(text, bits, label, extraClass = "") {
  const span = document.createElement("span");
  span.textContent = text;
  span.className = extraClass;
  span.style.background = surprisalColour(bits);
  span.dataset.bits = bits.toFixed(2);
  span.title = `${label}: ${bits.toFixed(2)} bits`;
  return span;
}

async function score(event) {
  event.preventDefault();
  const item = $("score-input").value;
  if (!item.trim()) return;
  await busy($("score-btn"), async () => {
    const data = await (await post("/api/score", { model: current.name, items: [item.trim()] })).json();
    const row = data.items[0];
    const chars = [...row.item];
    const spans = chars.map((ch, i) => charSpan(ch, row.surprisal_bits[i], `“${ch}”`));
    spans.push(charSpan("⏎", row.surprisal_bits[chars.length], current.mode === "lines" ? "the end" : "a line break", "end"));
    $("scored").replaceChildren(...spans);
    const novelty = row.novel === null ? "" : row.novel ? " · not in the training set" : " · in the training set";
    $("score-summary").textContent = `${row.bits_per_char.toFixed(2)} bits/char${novelty}${unknownNote(row.unknown_chars)}`
      + " · hover a letter for its bits";
    $("score-result").hidden = false;
    say("");
  });
}

// how many characters of an item the model never saw: each is scored at the unknown class's small probability
function unknownNote(n) {
  if (!n) return "";
  return ` · ${n} character${n === 1 ? "" : "s"} the model never saw`;
}

// ----- continuing a text ------------------------------------------------------------------
async function complete(event) {
  event.preventDefault();
  const out = $("completion");
  const prompt = document.createElement("b");
  prompt.textContent = $("prompt").value;
  const added = document.createTextNode("");
  out.replaceChildren(prompt, added);
  const body = {
    model: current.name, prompt: $("prompt").value, length: intOf("length"),
    temperature: Number($("c-temperature").value),
  };
  if (textOf("c-seed") !== "") body.seed = intOf("c-seed");
  if (supports("pattern") && $("c-pattern").value !== "") body.pattern = $("c-pattern").value;
  streaming = new AbortController();
  $("stop-btn").disabled = false;
  await busy($("complete-btn"), async () => {
    say("Writing…");
    const res = await post("/api/complete", body, streaming.signal);
    const reader = res.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let end;
      while ((end = buffer.indexOf("\n")) >= 0) {
        const line = buffer.slice(0, end);
        buffer = buffer.slice(end + 1);
        if (!line) continue;
        const msg = JSON.parse(line);
        if (msg.text) added.appendData(msg.text);
        else if (msg.error) say(msg.error, true);
        else if (msg.done) say(`${msg.length} characters written`);
      }
      out.scrollTop = out.scrollHeight;
    }
  });
  $("stop-btn").disabled = true;
  streaming = null;
}

// ----- which style --------------------------------------------------------------------------
async function classify(event) {
  event.preventDefault();
  const item = textOf("classify-input");
  if (!item) return;
  await busy($("classify-btn"), async () => {
    const data = await (await post("/api/classify", { model: current.name, items: [item], top: 5 })).json();
    $("classes").replaceChildren(...data.items[0].categories.map((c) => {
      const li = document.createElement("li");
      li.textContent = `${c.category} ${(100 * c.probability).toFixed(1)}%`;
      return li;
    }));
    const note = unknownNote(data.items[0].unknown_chars);
    $("classify-note").textContent = note ? `Classified by the other characters${note} (the same small probability `
      + "under every style)." : "";
    $("classify-note").hidden = !note;
  });
}

// ----- learning a pasted list ---------------------------------------------------------------------
const sleep = (ms) => new Promise((resolve) => { setTimeout(resolve, ms); });

async function trainList(event) {
  event.preventDefault();
  const status = $("train-status");
  await busy($("train-btn"), async () => {
    let job = await (await post("/api/train", { items: $("train-items").value, name: textOf("train-name") })).json();
    while (job.state === "running") {
      status.textContent = `Training: ${job.stage} (${job.seconds.toFixed(0)} s)`;
      await sleep(500);
      const res = await fetch(`/api/train/${job.id}`);
      job = await res.json();
    }
    if (job.state === "failed") throw new Error(job.error);
    await loadModels();
    chooseModel(job.model);
    status.textContent = `Trained ${job.model} in ${job.seconds.toFixed(0)} s; it is chosen above.`;
  });
}

// ----- wiring ----------------------------------------------------------------------------------
function mirror(rangeId, outputId, digits) {
  const show = () => { $(outputId).value = Number($(rangeId).value).toFixed(digits); };
  $(rangeId).addEventListener("input", show);
  show();
}

function start() {
  mirror("temperature", "temperature-out", 2);
  mirror("top-p", "top-p-out", 2);
  mirror("c-temperature", "c-temperature-out", 2);
  $("model").addEventListener("change", (e) => chooseModel(e.target.value));
  $("sample-form").addEventListener("submit", generate);
  $("score-form").addEventListener("submit", score);
  $("complete-form").addEventListener("submit", complete);
  $("classify-form").addEventListener("submit", classify);
  $("train-form").addEventListener("submit", trainList);
  $("stop-btn").addEventListener("click", () => streaming && streaming.abort());
  $("download-txt").addEventListener("click", downloadTxt);
  $("download-csv").addEventListener("click", downloadCsv);
  $("clear-shortlist").addEventListener("click", () => saveShortlist([]));
  renderShortlist();
  loadModels()
    .then(() => document.body.setAttribute("data-ready", "1"))
    .catch((e) => say(`cannot reach the server: ${e.message}`, true));
}

document.addEventListener("DOMContentLoaded", start);
