// The MemoRAG page: upload with progress, pick a corpus, ask, and watch the answer stream with its
// clues and evidence; a passage is shown in place in its document. Plain browser APIs only.
"use strict";

const $ = (id) => document.getElementById(id);
let documentsCache = {};

async function api(path, options = {}) {
  const response = await fetch(path, { credentials: "same-origin", ...options });
  if (!response.ok) {
    let body = {};
    try { body = await response.json(); } catch (e) { /* not JSON */ }
    throw new Error(body.message || `${response.status} ${response.statusText}`);
  }
  return response.status === 204 ? null : response.json();
}

function showError(message) {
  $("error").textContent = message;
  $("error").hidden = !message;
}

async function loadModels() {
  const models = await api("/api/models");
  $("models").textContent = `memory: ${models.memory_model} · embedder: ${models.embedder}`;
  $("model").innerHTML = "";
  for (const name of models.answerers) {
    $("model").append(new Option(name, name));
  }
}

async function loadCorpora(select) {
  const corpora = await api("/api/corpora");
  const current = select || $("corpus").value;
  $("corpus").innerHTML = "";
  for (const c of corpora) {
    const label = c.loadable ? `${c.name} (${c.documents} document${c.documents === 1 ? "" : "s"})`
                             : `${c.name} (another model)`;
    const option = new Option(label, c.name);
    option.disabled = !c.loadable;
    $("corpus").append(option);
  }
  if (current && corpora.some((c) => c.name === current)) $("corpus").value = current;
  showCorpusInfo(corpora.find((c) => c.name === $("corpus").value));
}

function showCorpusInfo(c) {
  $("corpus-info").textContent = c ? `${(c.bytes / 1e6).toFixed(1)} MB · memorized ${c.created_at || ""}` : "no corpus yet";
}

async function upload(event) {
  event.preventDefault();
  showError("");
  const form = new FormData();
  form.append("name", $("corpus-name").value.trim());
  for (const file of $("files").files) form.append("files", file, file.name);
  if ($("text").value.trim()) form.append("text", $("text").value);
  $("upload-button").disabled = true;
  try {
    const job = await api("/api/corpora", { method: "POST", body: form });
    await followJob(job.id);
  } catch (error) {
    showError(error.message);
  } finally {
    $("upload-button").disabled = false;
  }
}

async function followJob(id) {
  $("job").hidden = false;
  for (;;) {
    const job = await api(`/api/jobs/${id}`);
    const share = job.total ? job.done / job.total : 0;
    $("job-progress").value = job.state === "done" ? 1 : share;
    let status = job.state === "queued" ? `queued (position ${job.queue_position})`
               : `${job.stage}: ${job.done}/${job.total}`;
    if (job.eta_s !== null) status += ` · about ${Math.ceil(job.eta_s)} s left`;
    if (job.state === "done") status = `done: ${job.corpus} is memorized`;
    if (job.state === "failed") status = `failed: ${job.error.message}`;
    $("job-status").textContent = status;
    $("job-status").dataset.state = job.state;
    if (job.state === "done") { await loadCorpora(job.corpus); return; }
    if (job.state === "failed") throw new Error(job.error.message);
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

async function renameCorpus() {
  const name = $("corpus").value;
  const next = name && prompt(`New name for ${name}`, name);
  if (!next || next === name) return;
  try {
    await api(`/api/corpora/${encodeURIComponent(name)}`, {
      method: "PATCH", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ name: next }) });
    await loadCorpora(next);
  } catch (error) { showError(error.message); }
}

async function deleteCorpus() {
  const name = $("corpus").value;
  if (!name || !confirm(`Delete the corpus ${name}?`)) return;
  try {
    await api(`/api/corpora/${encodeURIComponent(name)}`, { method: "DELETE" });
    await loadCorpora();
  } catch (error) { showError(error.message); }
}

// -- asking -----------------------------------------------------------------------------------
async function ask(event) {
  event.preventDefault();
  showError("");
  const corpus = $("corpus").value;
  if (!corpus) { showError("upload or pick a corpus first"); return; }
  for (const id of ["answer", "clues", "evidence", "dense", "timings"]) $(id).innerHTML = "";
  $("dense-panel").hidden = true;
  setState("retrieving");
  $("ask-button").disabled = true;
  const body = {
    question: $("question").value, task: $("task").value, k: Number($("k").value),
    max_new_tokens: Number($("max-new-tokens").value), temperature: Number($("temperature").value),
    model: $("model").value || null, compare_dense: $("compare-dense").checked,
    answer_mode: $("answer-mode").value || null,
  };
  try {
    const response = await fetch(`/api/corpora/${encodeURIComponent(corpus)}/ask`, {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
      credentials: "same-origin" });
    if (!response.ok) {
      const problem = await response.json().catch(() => ({}));
      throw new Error(problem.message || response.statusText);
    }
    await readEvents(response, corpus);
  } catch (error) {
    showError(error.message);
    setState("failed");
  } finally {
    $("ask-button").disabled = false;
  }
}

async function readEvents(response, corpus) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let cut;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      const name = (block.match(/^event: (.*)$/m) || [])[1];
      const data = JSON.parse((block.match(/^data: (.*)$/m) || [])[1] || "null");
      handleEvent(name, data, corpus);
    }
  }
}

let answerText = "";

function handleEvent(name, data, corpus) {
  if (name === "clues") {
    const items = [...data.spans.map((s) => ["clue", s]), ...data.surrogate_questions.map((q) => ["question", q])];
    if (data.draft) items.push(["draft", data.draft]);
    for (const [kind, text] of items) {
      const li = document.createElement("li");
      li.textContent = `${kind}: ${text}`;
      $("clues").append(li);
    }
    if (!items.length) $("clues").innerHTML = "<li class='muted'>(nothing: this task asks the memory alone)</li>";
  } else if (name === "evidence" || name === "dense") {
    showEvidence($(name), data, corpus);
    if (name === "dense") $("dense-panel").hidden = false;
    setState("writing");
    answerText = "";
  } else if (name === "quotes") {
    $("answer").title = data.mode === "extractive" ? "sentences quoted from the corpus; [n] is their evidence passage" : "";
  } else if (name === "token") {
    answerText += data.text;
    renderAnswer();
  } else if (name === "timings") {
    $("timings").textContent = Object.entries(data)
      .filter(([, v]) => v !== null).map(([k, v]) => `${k} ${v.toFixed(2)} s`).join(" · ");
  } else if (name === "done") {
    setState("done");
  } else if (name === "error") {
    showError(data.message);
    setState("failed");
  }
}

function renderAnswer() {
  // Numbered citations [n] link to the evidence passage n.
  $("answer").innerHTML = "";
  const parts = answerText.split(/(\[\d+\])/);
  for (const part of parts) {
    const cite = part.match(/^\[(\d+)\]$/);
    if (cite) {
      const span = document.createElement("span");
      span.className = "cite";
      span.textContent = part;
      span.onclick = () => { const li = $("evidence").children[Number(cite[1]) - 1]; if (li) li.click(); };
      $("answer").append(span);
    } else {
      $("answer").append(document.createTextNode(part));
    }
  }
}

function showEvidence(list, evidence, corpus) {
  list.innerHTML = "";
  evidence.forEach((e) => {
    const li = document.createElement("li");
    const meta = document.createElement("div");
    meta.className = "meta";
    meta.textContent = `${e.doc_id} chars ${e.char_span[0]}-${e.char_span[1]} · score ${e.score.toFixed(4)} · ` +
      `found by: ${e.matched_queries.join(" | ") || "the question"}`;
    const text = document.createElement("div");
    text.className = "text";
    text.textContent = e.text.length > 240 ? e.text.slice(0, 240) + "…" : e.text;
    li.append(meta, text);
    li.onclick = () => showInPlace(corpus, e, li);
    list.append(li);
  });
}

async function showInPlace(corpus, evidence, li) {
  document.querySelectorAll("ol li.active").forEach((x) => x.classList.remove("active"));
  li.classList.add("active");
  const key = `${corpus}/${evidence.doc_id}`;
  if (!documentsCache[key]) {
    const doc = await api(`/api/corpora/${encodeURIComponent(corpus)}/documents/${encodeURIComponent(evidence.doc_id)}`);
    documentsCache[key] = doc.text;
  }
  const text = documentsCache[key];
  const [start, end] = evidence.char_span;
  const pre = $("document");
  pre.classList.remove("muted");
  pre.innerHTML = "";
  const mark = document.createElement("mark");
  mark.textContent = text.slice(start, end);
  pre.append(document.createTextNode(text.slice(0, start)), mark, document.createTextNode(text.slice(end)));
  $("doc-title").textContent = `${evidence.doc_id}, chars ${start}-${end}`;
  mark.scrollIntoView({ block: "center" });
}

function setState(state) {
  $("state").textContent = state;
  $("state").dataset.state = state;
}

$("upload").addEventListener("submit", upload);
$("ask").addEventListener("submit", ask);
$("rename").addEventListener("click", renameCorpus);
$("delete").addEventListener("click", deleteCorpus);
$("corpus").addEventListener("change", () => loadCorpora($("corpus").value));
Promise.all([loadModels(), loadCorpora()]).catch((error) => showError(error.message));
