// NarraScore page: score a video, then edit its story like an editor: a sticky viewer over a full-width
// timeline (inline SVG) with scenes, climax and events to drag, undo/redo, re-render, A/B on the picture.
"use strict";

const ROLE_COLORS = {setup: "#8fb3d9", rising: "#f2c879", climax: "#e06c5a", falling: "#b39ddb", resolution: "#8cc9a0"};
const SVG_NS = "http://www.w3.org/2000/svg";
const MIN_SCENE = 0.5;      // seconds: the shortest scene a drag or a split may leave
const SMOOTH_SECONDS = 3;   // moving average of the measured music curve
const $ = (id) => document.getElementById(id);

const state = {
  config: null,
  project: null,      // id of the current project (one per uploaded/picked video)
  source: null,       // what the project was made from: a File or a folder path
  view: null,         // GET /api/projects/<id>
  edit: null,         // the editor's copy of the plan: {scenes: [...], events: [...]}
  curve: null,        // the narrative curve for state.edit (from the server's preview while editing)
  undo: [], redo: [], committed: null,
  conceptDirty: {},
  selected: null,     // selected scene index
  selectedEvent: null,
  listen: null,       // "v<n>" or "original"
  climaxDrag: null,   // where the climax star is being dragged to (s)
  busy: false,
};

// ------------------------------------------------------------------ HTTP
async function api(method, url, body, raw) {
  const init = {method, headers: {}};
  if (raw !== undefined) { init.body = raw; init.headers["Content-Type"] = "application/octet-stream"; }
  else if (body !== undefined) { init.body = JSON.stringify(body); init.headers["Content-Type"] = "application/json"; }
  const response = await fetch(url, init);
  let data = {};
  try { data = await response.json(); } catch (e) { data = {error: `${response.status} ${response.statusText}`}; }
  if (!response.ok) throw new Error(data.error || `${response.status} ${response.statusText}`);
  return data;
}

function showError(message) { $("error").textContent = message || ""; $("error").hidden = !message; }

function setBusy(busy) {
  state.busy = busy;
  $("score-btn").disabled = busy || !(state.source || state.project);
  const scored = !!(state.view && state.view.plan);
  for (const id of ["render-btn", "reset-concept-btn"]) $(id).disabled = busy || !scored;
}

const el = (tag, text) => { const e = document.createElement(tag); e.textContent = text; return e; };
const fmt = (v) => (v >= 0 ? "+" : "\u2212") + Math.abs(v).toFixed(2);
const clone = (x) => JSON.parse(JSON.stringify(x));

function fillSelect(select, values, chosen) {
  select.innerHTML = "";
  for (const v of values) select.append(new Option(v, v));
  if (chosen !== undefined) select.value = chosen;
}

// ------------------------------------------------------------------ setup
async function init() {
  $("file-input").addEventListener("change", () => {
    const file = $("file-input").files[0];
    if (file) { state.source = file; state.project = null; $("folder-select").value = ""; }
    showError(""); setBusy(false);
  });
  $("folder-select").addEventListener("change", () => {
    const name = $("folder-select").value;
    state.source = name ? {folder: name} : null; state.project = null;
    if (name) $("file-input").value = "";
    showError(""); setBusy(false);
  });
  const guard = (f) => () => f().catch((e) => { showError(e.message); setBusy(false); renderState(null); });
  $("score-btn").addEventListener("click", guard(score));
  $("render-btn").addEventListener("click", guard(() => rerender(false)));
  $("reset-concept-btn").addEventListener("click", guard(() => rerender(true)));
  $("options-btn").addEventListener("click", () => {
    const panel = $("options-panel");
    panel.hidden = !panel.hidden;
    $("options-btn").setAttribute("aria-expanded", String(!panel.hidden));
  });
  for (const id of ["edit-style", "edit-key", "edit-mode", "edit-tempo-min", "edit-tempo-max"]) {
    $(id).addEventListener("change", () => { state.conceptDirty[id] = true; conceptNote(); });
  }
  $("play-btn").addEventListener("click", togglePlay);
  $("ab-toggle").addEventListener("click", toggleAB);
  $("undo-btn").addEventListener("click", undo);
  $("redo-btn").addEventListener("click", redo);
  $("split-btn").addEventListener("click", splitAtPlayhead);
  $("merge-btn").addEventListener("click", mergeWithNext);
  $("add-event-btn").addEventListener("click", addEvent);
  $("delete-event-btn").addEventListener("click", deleteEvent);
  $("show-measured").addEventListener("change", drawChart);
  const player = $("player");
  player.addEventListener("play", () => { syncTrack(true); $("track").play().catch(() => {}); tick(); });
  player.addEventListener("pause", () => { $("track").pause(); syncTrack(true); $("play-btn").innerHTML = "&#9654; Play"; drawPlayhead(); });
  player.addEventListener("seeked", () => { syncTrack(true); drawPlayhead(); });
  player.addEventListener("timeupdate", drawPlayhead);
  document.addEventListener("keydown", onKey);
  window.addEventListener("resize", () => drawChart());
  setBusy(false);
  state.config = await api("GET", "/api/config");
  fillSelect($("style-select"), state.config.styles);
  const synth = $("synth-select");
  synth.innerHTML = "";
  const missing = [];
  for (const s of state.config.synth_status) {
    const option = new Option(s.available ? s.name : `${s.name} (not installed)`, s.name);
    option.disabled = !s.available;
    if (!s.available) missing.push(`${s.name}: ${s.install}`);
    synth.append(option);
  }
  synth.value = "procedural";
  $("synth-note").textContent = missing.length ? `Not installed: ${missing.join("; ")}` : "";
  const fonts = $("opt-soundfont");
  fonts.innerHTML = "";
  state.config.soundfonts.forEach((f, i) => fonts.append(new Option(`${f.name} (${humanBytes(f.bytes)})${i ? "" : " \u2014 default"}`, f.path)));
  fillSelect($("edit-style"), state.config.styles.filter((s) => s !== "auto"));
  fillSelect($("edit-key"), state.config.keys);
  fillSelect($("edit-mode"), state.config.modes);
  fillSelect($("event-kind"), state.config.event_kinds);
  if (state.config.folder_videos) {
    $("folder-select").hidden = false;
    $("folder-name").textContent = state.config.folder;
    for (const name of state.config.folder_videos) $("folder-select").append(new Option(name, name));
  }
  const saved = location.hash.slice(1);
  if (/^[0-9a-f]{12}$/.test(saved)) {
    state.project = saved;
    document.body.dataset.project = saved;
    await loadProject().catch(() => { state.project = null; history.replaceState(null, "", location.pathname); });
    setBusy(false);
  }
  document.body.dataset.ready = "1";
}

function onKey(e) {
  if (e.target.closest && e.target.closest("input, select, textarea")) return;
  if ((e.ctrlKey || e.metaKey) && e.key.toLowerCase() === "z") { e.preventDefault(); e.shiftKey ? redo() : undo(); }
  else if ((e.ctrlKey || e.metaKey) && e.key.toLowerCase() === "y") { e.preventDefault(); redo(); }
  else if (e.key === " ") { e.preventDefault(); togglePlay(); }
  else if ((e.key === "Delete" || e.key === "Backspace") && state.selectedEvent !== null) { e.preventDefault(); deleteEvent(); }
  else if (e.key === "a" || e.key === "A") toggleAB();
}

// ------------------------------------------------------------------ scoring and re-rendering
function scoreOptions() {
  const body = {style: $("style-select").value || undefined, synth: $("synth-select").value || undefined,
                seed: parseInt($("seed-input").value || "0", 10), stems: $("opt-stems").checked,
                mix_original: $("opt-mix").checked ? parseFloat($("opt-mix-db").value) : null,
                loudness: parseFloat($("opt-loudness").value)};
  if ($("opt-soundfont").value) body.soundfont = $("opt-soundfont").value;
  return body;
}

async function score() {
  showError("");
  setBusy(true);
  if (!state.project) {
    let opened;
    if (state.source instanceof File) {
      $("progress-title").textContent = "Uploading " + state.source.name;
      $("progress").hidden = false; $("stages").innerHTML = ""; $("notes").textContent = "";
      opened = await api("POST", "/api/upload?name=" + encodeURIComponent(state.source.name), undefined, state.source);
    } else {
      opened = await api("POST", "/api/folder/open", {name: state.source.folder});
    }
    state.project = opened.project;
    document.body.dataset.project = opened.project;
    history.replaceState(null, "", "#" + opened.project);  // a reload comes back to this project
  }
  const job = await api("POST", `/api/projects/${state.project}/score`, scoreOptions());
  await follow(job.job, "Scoring", false);
}

async function rerender(resetConcept) {
  showError("");
  setBusy(true);
  const body = scoreOptions();
  body.style = $("edit-style").value;
  body.scenes = state.edit.scenes.map((s) => ({start: s.start, end: s.end, valence: s.valence, arousal: s.arousal, arc_role: s.arc_role}));
  body.events = state.edit.events;
  if (resetConcept) body.reset_concept = true;
  else {
    const concept = {};
    if (state.conceptDirty["edit-key"]) concept.key = $("edit-key").value;
    if (state.conceptDirty["edit-mode"]) concept.mode = $("edit-mode").value;
    if (state.conceptDirty["edit-tempo-min"]) concept.tempo_min = parseFloat($("edit-tempo-min").value);
    if (state.conceptDirty["edit-tempo-max"]) concept.tempo_max = parseFloat($("edit-tempo-max").value);
    body.concept = concept;
  }
  renderState({stages: [], seconds: 0, state: "queued"});
  const job = await api("POST", `/api/projects/${state.project}/render`, body);
  await follow(job.job, "Re-rendering the music", true);
}

async function follow(jobId, title, inline) {
  if (!inline) { $("progress").hidden = false; $("progress-title").textContent = title; }
  document.body.dataset.job = jobId;
  document.body.dataset.jobState = "running";
  for (;;) {
    const job = await api("GET", `/api/jobs/${jobId}`);
    inline ? renderState(job) : drawProgress(job);
    if (job.state === "done" || job.state === "failed") {
      document.body.dataset.jobState = job.state;
      if (job.state === "failed") { showError(job.error); setBusy(false); if (inline) renderState(null); return; }
      if (!inline) { $("progress-title").textContent = `${title} \u2014 done`; $("progress").hidden = true; }
      await loadProject();
      setBusy(false);
      if (inline) {
        $("render-bar").querySelector("i").style.width = "100%";
        $("render-label").textContent = `version ${state.view.versions} ready in ${job.seconds.toFixed(1)} s`;
      }
      return;
    }
    await new Promise((r) => setTimeout(r, 300));
  }
}

function renderState(job) {
  // the re-render's own progress, next to its button: the running stage and the share of stages done
  const bar = $("render-bar");
  if (!job) { bar.hidden = true; $("render-label").textContent = ""; return; }
  bar.hidden = false;
  const done = job.stages.filter((s) => s.state === "done").length;
  const running = job.stages.find((s) => s.state === "running");
  const share = job.stages.length ? (done + (running && running.fraction ? running.fraction : 0)) / Math.max(job.stages.length + (running ? 0 : 1), 1) : 0;
  bar.querySelector("i").style.width = `${Math.round(100 * Math.min(1, share))}%`;
  $("render-label").textContent = job.state === "queued" ? "waiting\u2026"
    : running ? `${running.name}${running.fraction !== null ? ` ${Math.round(100 * running.fraction)}%` : ""} \u00b7 ${job.seconds.toFixed(1)} s`
    : `${job.seconds.toFixed(1)} s`;
  bar.dataset.stage = running ? running.name : "";
}

function drawProgress(job) {
  $("progress-time").textContent = `${job.seconds.toFixed(1)} s`;
  const list = $("stages");
  list.innerHTML = "";
  for (const stage of job.stages) {
    const li = document.createElement("li");
    li.dataset.stage = stage.name;
    const bar = document.createElement("div");
    bar.className = "bar " + (stage.state === "running" && stage.fraction === null ? "indeterminate" : stage.state);
    const fill = document.createElement("i");
    fill.style.width = `${Math.round(100 * (stage.fraction ?? 0))}%`;
    bar.append(fill);
    const pct = el("span", stage.state === "done" ? "done" : stage.fraction === null ? "" : `${Math.round(100 * stage.fraction)}%`);
    pct.className = "muted";
    li.append(el("span", stage.name), bar, pct);
    list.append(li);
  }
  if (!job.stages.length) list.innerHTML = `<li class="muted">${job.state === "queued" ? "waiting for the previous job" : "starting"}...</li>`;
  $("notes").textContent = job.notes.join(" \u00b7 ");
}

// ------------------------------------------------------------------ the project
async function loadProject() {
  const view = await api("GET", `/api/projects/${state.project}`);
  if (!view.plan) return;  // opened but not scored yet
  state.view = view;
  state.edit = {scenes: clone(view.plan.scenes), events: clone(view.plan.events || [])};
  state.curve = {times: view.plan.times, valence: view.plan.valence, arousal: view.plan.arousal, climax_time: view.plan.climax_time};
  state.undo = []; state.redo = []; state.committed = JSON.stringify(state.edit);
  state.selectedEvent = null;
  state.conceptDirty = {};
  const o = view.options || {};
  if (o.style) {  // the options this video was last scored with
    $("style-select").value = o.style; $("synth-select").value = o.synth; $("seed-input").value = o.seed;
    $("opt-stems").checked = !!o.stems;
    $("opt-mix").checked = o.mix_original !== null && o.mix_original !== undefined;
    if ($("opt-mix").checked) $("opt-mix-db").value = o.mix_original;
    if (o.loudness !== undefined) $("opt-loudness").value = o.loudness;
    if (o.soundfont) $("opt-soundfont").value = o.soundfont;
  }
  $("editor").hidden = false;
  const base = `/api/projects/${view.id}`;
  const player = $("player");
  const scored = view.files.find((f) => f.name.startsWith("scored."));
  const videoSrc = scored ? `${base}/files/${scored.name}?v=${view.versions}` : `${base}/original`;
  if (player.dataset.src !== videoSrc) {
    const t = player.currentTime || 0;
    player.dataset.src = videoSrc;
    player.src = videoSrc;
    player.addEventListener("loadedmetadata", () => { player.currentTime = Math.min(t, player.duration || t); }, {once: true});
  }
  drawListen(view);
  listen(state.listen === "original" && view.original_playable ? "original" : `v${view.versions}`);  // a new version is heard at once
  drawSummary(view);
  fillConcept(view);
  drawScenes();
  drawChart();
  drawDownloads(view);
  updateUndo();
  document.body.dataset.version = String(view.versions);
}

// ------------------------------------------------------------------ playback: the picture, and the chosen soundtrack locked to it
function sourceOf(name) {
  const base = `/api/projects/${state.view.id}`;
  return name === "original" ? `${base}/original` : `${base}/versions/${name.slice(1)}`;
}

function drawListen(view) {
  const group = $("listen");
  group.innerHTML = "";
  for (let n = 1; n <= view.versions; n++) {
    const b = el("button", `v${n}`);
    b.dataset.listen = `v${n}`;
    b.addEventListener("click", () => listen(`v${n}`));
    group.append(b);
  }
  const original = el("button", "original");
  original.dataset.listen = "original";
  original.disabled = !view.has_audio || !view.original_playable;
  original.addEventListener("click", () => listen("original"));
  group.append(original);
  $("ab-toggle").disabled = view.versions < 2;
  $("audio-note").textContent = !view.has_audio ? "The video has no audio of its own."
    : !view.original_playable ? "The browser cannot play this container; download the original to hear it." : "";
}

function listen(name) {
  // switch the soundtrack at the playhead: the picture does not move
  const track = $("track");
  const player = $("player");
  state.listen = name;
  document.body.dataset.listen = name;
  for (const b of $("listen").children) b.classList.toggle("on", b.dataset.listen === name);
  const src = sourceOf(name);
  if (track.dataset.src === src) return;
  track.dataset.src = src;
  track.src = src;
  track.addEventListener("loadedmetadata", () => {
    track.currentTime = player.currentTime || 0;
    if (!player.paused) track.play().catch(() => {});
  }, {once: true});
  drawChart();
}

function toggleAB() {
  if (!state.view || state.view.versions < 2) return;
  const n = state.view.versions;
  listen(state.listen === `v${n}` ? `v${n - 1}` : `v${n}`);
}

function togglePlay() {
  const player = $("player");
  if (!player.src) return;
  if (player.paused) { player.play().catch((e) => showError(e.message)); $("play-btn").innerHTML = "&#10073;&#10073; Pause"; }
  else player.pause();
}

function syncTrack(force) {
  const track = $("track"), player = $("player");
  if (track.readyState < 1) return;
  if (force || Math.abs(track.currentTime - player.currentTime) > 0.12) track.currentTime = player.currentTime;
}

function tick() {
  const player = $("player");
  drawPlayhead();
  syncTrack(false);
  if (!player.paused && !player.ended) requestAnimationFrame(tick);
}

function timecode(t) {
  const fps = state.view && state.view.fps ? state.view.fps : 25;
  const nominal = Math.round(fps);
  const frame = Math.floor(t * fps + 1e-6);
  const ff = frame % nominal, secs = Math.floor(frame / nominal);
  const pad = (n) => String(n).padStart(2, "0");
  return `${pad(Math.floor(secs / 3600))}:${pad(Math.floor(secs / 60) % 60)}:${pad(secs % 60)}:${pad(ff)}`;
}

// ------------------------------------------------------------------ summary, concept, scenes table, downloads
function drawSummary(view) {
  const c = view.concept || {};
  const plan = view.plan;
  const rows = [
    ["Video", `${view.name} \u00b7 ${plan.duration.toFixed(1)} s \u00b7 ${Number(view.fps).toFixed(3).replace(/\.?0+$/, "")} fps`],
    ["Music", c.style ? `${c.style}, ${c.key} ${c.mode}, ${Math.round(c.tempo_min)}\u2013${Math.round(c.tempo_max)} BPM` : "\u2014"],
  ];
  const dl = $("summary");
  dl.innerHTML = "";
  for (const [k, v] of rows) dl.append(el("dt", k), el("dd", v));
  const story = el("dd", plan.s_global);
  story.className = "story";
  dl.append(story);
}

function fillConcept(view) {
  const c = view.concept;
  if (!c) return;
  $("edit-style").value = c.style; $("edit-key").value = c.key; $("edit-mode").value = c.mode;
  $("edit-tempo-min").value = Math.round(c.tempo_min); $("edit-tempo-max").value = Math.round(c.tempo_max);
  conceptNote();
}

function conceptNote() {
  const set = Object.keys((state.view && state.view.overrides) || {});
  const changed = Object.keys(state.conceptDirty).map((k) => k.replace("edit-", "").replace("-", " "));
  let text = "Key, mode and tempo follow the story unless you set them.";
  if (set.length) text = `Set by you: ${set.join(", ").replaceAll("_", " ")}.`;
  if (changed.length) text += ` Changed, not yet rendered: ${changed.join(", ")}.`;
  $("concept-note").textContent = text;
}

function drawScenes() {
  const body = $("scene-rows");
  body.innerHTML = "";
  state.edit.scenes.forEach((scene, i) => {
    const tr = document.createElement("tr");
    tr.dataset.index = i;
    if (state.selected === i) tr.className = "selected";
    tr.append(el("td", String(i + 1)), el("td", `${timecode(scene.start)} \u2013 ${timecode(scene.end)}`));
    const role = document.createElement("select");
    role.className = "scene-role";
    role.dataset.index = i;
    fillSelect(role, state.config.arc_roles, scene.arc_role);
    role.addEventListener("change", () => { scene.arc_role = role.value; edited(true); });
    const roleCell = document.createElement("td");
    roleCell.append(role);
    tr.append(roleCell, sliderCell(scene, i, "valence"), sliderCell(scene, i, "arousal"));
    tr.addEventListener("click", () => selectScene(i));
    body.append(tr);
  });
}

function sliderCell(scene, i, name) {
  const td = document.createElement("td");
  const wrap = document.createElement("div");
  wrap.className = "slider";
  const input = document.createElement("input");
  Object.assign(input, {type: "range", min: -1, max: 1, step: 0.05, value: scene[name]});
  input.className = `${name} scene-${name}`;
  input.dataset.index = i;
  const out = el("output", fmt(scene[name]));
  input.addEventListener("input", () => { scene[name] = parseFloat(input.value); out.textContent = fmt(scene[name]); edited(false); });
  input.addEventListener("change", () => edited(true));
  wrap.append(input, out);
  td.append(wrap);
  return td;
}

function selectScene(i) {
  state.selected = i;
  for (const tr of $("scene-rows").children) tr.classList.toggle("selected", Number(tr.dataset.index) === i);
  drawChart();
}

function link(box, href, label, bytes, name) {
  const a = document.createElement("a");
  a.href = href;
  a.dataset.file = name;
  a.setAttribute("download", "");
  a.append(document.createTextNode(label));
  if (bytes !== undefined) a.append(el("small", humanBytes(bytes)));
  box.append(a);
  return a;
}

function drawDownloads(view) {
  const box = $("downloads");
  box.innerHTML = "";
  const base = `/api/projects/${view.id}`;
  const labels = {"soundtrack.wav": "Soundtrack", "scored.mp4": "Scored video", "scored.mkv": "Scored video",
                  "score.mid": "MIDI score", "figure.png": "Figure"};
  for (const f of view.files) {
    link(box, `${base}/files/${f.name}?download=1&v=${view.versions}`, labels[f.name] ? `${labels[f.name]} (${f.name})` : f.name, f.bytes, f.name);
  }
  for (const f of view.stems || []) link(box, `${base}/stems/${f.name}?download=1&v=${view.versions}`, `stem ${f.name}`, f.bytes, `stem:${f.name}`);
  for (let n = 1; n <= view.versions; n++) link(box, `${base}/versions/${n}?download=1`, `Soundtrack v${n}`, undefined, `v${n}`);
  link(box, `${base}/original?download=1`, `Original (${view.name})`, undefined, "original");
  const timelines = $("timeline-downloads");
  timelines.innerHTML = "";
  const names = {fcp7: "FCP 7 XML (Premiere, Resolve)", edl: "EDL (CMX 3600)", otio: "OpenTimelineIO", fcpx: "FCP X XML"};
  for (const t of view.timelines || []) {
    const a = link(timelines, `${base}/timeline?format=${t.format}&download=1&v=${view.versions}`, `Timeline: ${names[t.format] || t.format}`, undefined, `timeline:${t.format}`);
    if (!t.ok) { a.removeAttribute("href"); a.title = t.reason; a.classList.add("muted"); }
  }
}

function humanBytes(n) {
  return n < 1024 ? `${n} B` : n < 1 << 20 ? `${(n / 1024).toFixed(1)} kB` : `${(n / (1 << 20)).toFixed(1)} MB`;
}

// ------------------------------------------------------------------ editing: every change redraws at once, the curve follows from the server
function edited(commit) {
  drawChart();
  requestPreview();
  if (commit) {
    const now = JSON.stringify(state.edit);
    if (now !== state.committed) { state.undo.push(state.committed); state.redo = []; state.committed = now; }
    drawScenes();
    updateUndo();
  }
}

function restore(snapshot) {
  state.edit = JSON.parse(snapshot);
  state.committed = snapshot;
  state.selectedEvent = null;
  drawScenes(); drawChart(); requestPreview(); updateUndo();
}

function undo() { if (state.undo.length) { state.redo.push(state.committed); restore(state.undo.pop()); } }
function redo() { if (state.redo.length) { state.undo.push(state.committed); restore(state.redo.pop()); } }

function updateUndo() {
  $("undo-btn").disabled = !state.undo.length;
  $("redo-btn").disabled = !state.redo.length;
  $("delete-event-btn").disabled = state.selectedEvent === null;
  $("merge-btn").disabled = state.selected === null || state.selected >= state.edit.scenes.length - 1;
  document.body.dataset.undo = String(state.undo.length);
}

let previewBusy = false, previewAgain = false, previews = 0;
async function requestPreview() {
  if (previewBusy) { previewAgain = true; return; }
  previewBusy = true;
  document.body.dataset.previewing = "1";
  try {
    do {
      previewAgain = false;
      const scenes = state.edit.scenes.map((s) => ({start: s.start, end: s.end, valence: s.valence, arousal: s.arousal, arc_role: s.arc_role}));
      const curve = await api("POST", `/api/projects/${state.project}/preview`, {scenes});
      if (!previewAgain) { state.curve = curve; drawChart(); }
      document.body.dataset.previews = String(++previews);
    } while (previewAgain);
  } catch (e) { showError(e.message); }
  finally { previewBusy = false; document.body.dataset.previewing = "0"; }
}

function splitAtPlayhead() {
  const t = $("player").currentTime || 0;
  const scenes = state.edit.scenes;
  const i = scenes.findIndex((s) => t >= s.start && t < s.end);
  if (i < 0 || t - scenes[i].start < MIN_SCENE || scenes[i].end - t < MIN_SCENE) {
    showError(`split: put the playhead at least ${MIN_SCENE} s inside a scene`); return;
  }
  showError("");
  // one climax only: a split climax scene keeps it in its first half, the second half falls from it
  const left = {...scenes[i], end: t}, right = {...scenes[i], start: t, arc_role: scenes[i].arc_role === "climax" ? "falling" : scenes[i].arc_role};
  scenes.splice(i, 1, left, right);
  state.selected = i + 1;
  edited(true);
}

function mergeWithNext() {
  const i = state.selected;
  const scenes = state.edit.scenes;
  if (i === null || i >= scenes.length - 1) return;
  const a = scenes[i], b = scenes[i + 1];
  const wa = a.end - a.start, wb = b.end - b.start;
  const merged = {...a, end: b.end, valence: round2((a.valence * wa + b.valence * wb) / (wa + wb)),
                  arousal: round2((a.arousal * wa + b.arousal * wb) / (wa + wb)), arc_role: a.arc_role === "climax" || b.arc_role === "climax" ? "climax" : a.arc_role};
  scenes.splice(i, 2, merged);
  edited(true);
}

const round2 = (v) => Math.round(v * 100) / 100;

function addEvent() {
  const t = Math.min(state.view.plan.duration, $("player").currentTime || 0);
  state.edit.events.push({time: Math.round(t * 1000) / 1000, kind: $("event-kind").value, strength: 0.8});
  state.edit.events.sort((a, b) => a.time - b.time);
  state.selectedEvent = state.edit.events.findIndex((e) => e.time === Math.round(t * 1000) / 1000);
  edited(true);
}

function deleteEvent() {
  if (state.selectedEvent === null) return;
  state.edit.events.splice(state.selectedEvent, 1);
  state.selectedEvent = null;
  edited(true);
}

function moveClimax(t) {
  // the climax is the peak of the scene whose arc role is climax: dropping the star in a scene makes it that scene
  const scenes = state.edit.scenes;
  const j = scenes.findIndex((s) => t >= s.start && t < s.end);
  if (j < 0 || scenes[j].arc_role === "climax") return;
  scenes.forEach((s, i) => { if (s.arc_role === "climax") s.arc_role = i < j ? "rising" : "falling"; });
  scenes[j].arc_role = "climax";
}

// ------------------------------------------------------------------ the timeline chart (inline SVG)
const M = {left: 40, right: 14, top: 26, bottom: 40};

function svg(tag, attrs, parent) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  if (parent) parent.append(node);
  return node;
}

function chartScales() {
  const chart = $("chart");
  const width = chart.clientWidth || 900, height = chart.clientHeight || 270;
  const duration = state.view.plan.duration;
  const x = (t) => M.left + (Math.max(0, Math.min(duration, t)) / duration) * (width - M.left - M.right);
  const y = (v) => M.top + ((1 - v) / 2) * (height - M.top - M.bottom);
  const t = (px) => Math.max(0, Math.min(duration, ((px - M.left) / (width - M.left - M.right)) * duration));
  const v = (py) => Math.max(-1, Math.min(1, 1 - (2 * (py - M.top)) / (height - M.top - M.bottom)));
  return {width, height, duration, x, y, t, v};
}

function pointer(e) {
  const box = $("chart").getBoundingClientRect();
  const s = chartScales();
  return {s, px: (e.clientX - box.left) * (s.width / box.width), py: (e.clientY - box.top) * (s.height / box.height)};
}

function linePath(times, values, s) {
  // only the part inside the video: a curve measured past the end is cut at the plot's edge
  const parts = [];
  times.forEach((t, i) => { if (t <= s.duration + 1e-9) parts.push(`${parts.length ? "L" : "M"}${s.x(t).toFixed(1)},${s.y(values[i]).toFixed(1)}`); });
  return parts.join("");
}

function smooth(times, values) {
  if (times.length < 2) return values;
  const hop = times[1] - times[0];
  const half = Math.max(1, Math.round(SMOOTH_SECONDS / hop / 2));
  return values.map((_, i) => {
    const lo = Math.max(0, i - half), hi = Math.min(values.length, i + half + 1);
    let sum = 0;
    for (let k = lo; k < hi; k++) sum += values[k];
    return sum / (hi - lo);
  });
}

function interp(xs, ys, x) {
  if (!xs.length) return 0;
  if (x <= xs[0]) return ys[0];
  for (let i = 1; i < xs.length; i++) {
    if (x <= xs[i]) return ys[i - 1] + ((ys[i] - ys[i - 1]) * (x - xs[i - 1])) / (xs[i] - xs[i - 1]);
  }
  return ys[ys.length - 1];
}

function drawChart() {
  if (!state.view || !state.view.plan || !state.edit) return;
  const chart = $("chart");
  chart.innerHTML = "";
  const s = chartScales();
  chart.setAttribute("viewBox", `0 0 ${s.width} ${s.height}`);
  const bottom = s.y(-1), top = s.y(1), right = s.x(s.duration);
  const defs = svg("defs", {}, chart);
  const clip = svg("clipPath", {id: "plot-clip"}, defs);
  svg("rect", {x: M.left, y: top - 1, width: right - M.left, height: bottom - top + 2}, clip);
  const plot = svg("g", {"clip-path": "url(#plot-clip)", class: "plot"}, chart);
  const scenes = state.edit.scenes;

  // numbered scene bands by arc role
  scenes.forEach((scene, i) => {
    const band = svg("rect", {x: s.x(scene.start), y: top, width: Math.max(1, s.x(scene.end) - s.x(scene.start)), height: bottom - top,
                              fill: ROLE_COLORS[scene.arc_role] || "#ddd", "fill-opacity": 0.22,
                              class: "band" + (state.selected === i ? " selected" : "")}, plot);
    band.dataset.index = i;
    band.addEventListener("click", (e) => { selectScene(i); seek(e); });
    const w = s.x(scene.end) - s.x(scene.start);
    const label = svg("text", {x: (s.x(scene.start) + s.x(scene.end)) / 2, y: top - 8, "text-anchor": "middle", class: "role scene-number"}, chart);
    label.textContent = w > 70 ? `${i + 1} \u00b7 ${scene.arc_role}` : String(i + 1);
  });
  for (const v of [-1, -0.5, 0, 0.5, 1]) {
    svg("line", {x1: M.left, x2: right, y1: s.y(v), y2: s.y(v), class: v === 0 ? "zero" : "grid"}, chart);
    const label = svg("text", {x: M.left - 6, y: s.y(v) + 4, "text-anchor": "end", class: "ylab"}, chart);
    label.textContent = v.toString().replace("-", "\u2212");
  }
  const axis = svg("g", {class: "axis"}, chart);
  const step = niceStep(s.duration / 10);
  for (let t = 0; t <= s.duration + 1e-9; t += step) {
    svg("line", {x1: s.x(t), x2: s.x(t), y1: bottom, y2: bottom + 5, stroke: "#9ca3af"}, axis);
    const label = svg("text", {x: s.x(t), y: bottom + 17, "text-anchor": "middle"}, axis);
    label.textContent = formatTime(t, step);
  }
  for (const t of state.view.shot_cuts) {
    svg("line", {x1: s.x(t), x2: s.x(t), y1: bottom - 7, y2: bottom, stroke: "#4b5563", "stroke-width": 1.2, class: "shot-cut"}, plot);
  }
  // the other version's narrative curve (A/B overlay), the measured music (smoothed), then the live narrative curve
  const other = otherVersion();
  const curves = state.view.version_curves || {};
  if (other && curves[other]) {
    const c = curves[other];
    for (const name of ["valence", "arousal"]) {
      svg("path", {d: linePath(c.times.concat([s.duration]), c[name].concat(c[name].slice(-1)), s), fill: "none",
                   stroke: `var(--${name})`, "stroke-width": 1.3, opacity: 0.35, class: `curve-other curve-other-${name}`}, plot);
    }
  }
  $("legend-before").hidden = !(other && curves[other]);
  const m = state.view.measured;
  const showMeasured = $("show-measured").checked && m && m.times.length;
  if (showMeasured) {
    for (const name of ["valence", "arousal"]) {
      svg("path", {d: linePath(m.times, smooth(m.times, m[name]), s), fill: "none", stroke: `var(--${name})`, "stroke-width": 1.3,
                   "stroke-dasharray": "5 4", opacity: 0.55, class: "curve-measured"}, plot);
    }
  }
  $("legend-measured").hidden = !showMeasured;
  const c = state.curve;
  const times = c.times.concat([s.duration]);
  const hold = (values) => values.concat(values.slice(-1));
  svg("path", {d: linePath(times, hold(c.valence), s), fill: "none", stroke: "var(--valence)", "stroke-width": 2.4,
               "stroke-linejoin": "round", class: "curve-valence"}, plot);
  svg("path", {d: linePath(times, hold(c.arousal), s), fill: "none", stroke: "var(--arousal)", "stroke-width": 2.4,
               "stroke-linejoin": "round", class: "curve-arousal"}, plot);
  // each scene's own valence/arousal as draggable dots
  scenes.forEach((scene, i) => {
    const mid = (scene.start + scene.end) / 2;
    for (const [name, dx] of [["valence", -7], ["arousal", 7]]) {
      svg("line", {x1: s.x(scene.start) + 3, x2: s.x(scene.end) - 3, y1: s.y(scene[name]), y2: s.y(scene[name]), stroke: `var(--${name})`,
                   "stroke-width": 1, "stroke-opacity": 0.45}, plot);
      const dot = svg("circle", {cx: s.x(mid) + dx, cy: s.y(scene[name]), r: 6.5, fill: `var(--${name})`, class: `handle handle-${name}`}, plot);
      dot.dataset.index = i;
      dragValue(dot, i, name);
    }
  });
  // climax: drag the star into another scene
  const cx = Math.max(M.left + 8, Math.min(right - 8, s.x(state.climaxDrag ?? c.climax_time)));  // the whole star inside the plot
  svg("line", {x1: cx, x2: cx, y1: top, y2: bottom, stroke: "#b42318", "stroke-width": 1.2, opacity: 0.55, class: "climax-line", "pointer-events": "none"}, plot);
  const star = svg("text", {x: cx, y: top + 16, "text-anchor": "middle", fill: "#b42318", "font-size": 20, class: "climax",
                            stroke: "#fff", "stroke-width": 0.8}, plot);
  star.textContent = "\u2605";
  dragClimax(star);
  // events: triangles along the bottom
  state.edit.events.forEach((ev, i) => {
    const x = s.x(ev.time), yb = bottom - 2;
    const tri = svg("path", {d: `M${x},${yb - 13} L${x - 7},${yb} L${x + 7},${yb} Z`, fill: "#d97706", opacity: 0.5 + 0.5 * ev.strength,
                             class: "event" + (state.selectedEvent === i ? " selected" : "")}, plot);
    tri.dataset.index = i;
    const title = svg("title", {}, tri);
    title.textContent = `${ev.kind} ${ev.strength.toFixed(2)} at ${timecode(ev.time)}`;
    dragEvent(tri, i);
  });
  // scene boundaries: drag sideways
  scenes.slice(1).forEach((scene, k) => {
    const x = s.x(scene.start);
    svg("line", {x1: x, x2: x, y1: top, y2: bottom, stroke: "#4b5563", "stroke-dasharray": "2 3", "stroke-width": 1.2, class: "scene-cut"}, plot);
    const grip = svg("rect", {x: x - 5, y: top, width: 10, height: bottom - top, fill: "transparent", class: "boundary"}, plot);
    grip.dataset.index = k + 1;
    dragBoundary(grip, k + 1);
  });
  svg("line", {class: "playhead", id: "playhead", x1: M.left, x2: M.left, y1: top - 4, y2: bottom}, chart);
  svg("line", {class: "hoverline", id: "hoverline", x1: 0, x2: 0, y1: top, y2: bottom, visibility: "hidden"}, chart);
  chart.onpointermove = hover;
  chart.onpointerleave = () => { $("hover").hidden = true; $("hoverline").setAttribute("visibility", "hidden"); };
  chart.onclick = (e) => { if (e.target === chart) seek(e); };
  drawPlayhead();
  updateUndo();
}

function otherVersion() {
  // the version not heard: with v2 playing, v1's curve lies under the live one
  if (!state.view || state.view.versions < 2) return null;
  const n = state.view.versions;
  return state.listen === `v${n - 1}` ? String(n) : String(n - 1);
}

function hover(e) {
  const {s, px, py} = pointer(e);
  const box = $("hover");
  if (px < M.left || px > s.x(s.duration) || py < M.top - 20 || py > s.y(-1)) { box.hidden = true; return; }
  const t = s.t(px);
  const c = state.curve;
  const i = state.edit.scenes.findIndex((sc) => t >= sc.start && t < sc.end);
  const scene = state.edit.scenes[i >= 0 ? i : state.edit.scenes.length - 1];
  let text = `${timecode(t)} \u00b7 valence ${fmt(interp(c.times, c.valence, t))} \u00b7 arousal ${fmt(interp(c.times, c.arousal, t))}`;
  text += ` \u00b7 scene ${(i >= 0 ? i : state.edit.scenes.length - 1) + 1} ${scene.arc_role}`;
  const m = state.view.measured;
  if ($("show-measured").checked && m && m.times.length) {
    text += ` \u00b7 music ${fmt(interp(m.times, smooth(m.times, m.valence), t))} / ${fmt(interp(m.times, smooth(m.times, m.arousal), t))}`;
  }
  box.textContent = text;
  box.hidden = false;
  const chartBox = $("chart").getBoundingClientRect();
  const left = e.clientX - chartBox.left + 12;
  box.style.left = `${Math.min(left, chartBox.width - box.offsetWidth - 4)}px`;
  box.style.top = "2px";
  const line = $("hoverline");
  line.setAttribute("x1", s.x(t)); line.setAttribute("x2", s.x(t)); line.setAttribute("visibility", "visible");
}

function drag(node, onMove, onDone, onStart) {
  node.addEventListener("pointerdown", (e) => {
    e.preventDefault();
    e.stopPropagation();
    if (onStart) onStart();
    const move = (ev) => { onMove(pointer(ev)); edited(false); };
    const up = () => {
      window.removeEventListener("pointermove", move);
      window.removeEventListener("pointerup", up);
      if (onDone) onDone();
      edited(true);
    };
    window.addEventListener("pointermove", move);
    window.addEventListener("pointerup", up);
  });
}

function snapFrame(t) {
  const fps = state.view.fps || 25;
  return Math.round(t * fps) / fps;
}

function dragBoundary(grip, i) {
  drag(grip, ({s, px}) => {
    const scenes = state.edit.scenes;
    const lo = scenes[i - 1].start + MIN_SCENE, hi = scenes[i].end - MIN_SCENE;
    const t = Math.max(lo, Math.min(hi, snapFrame(s.t(px))));
    scenes[i - 1].end = t; scenes[i].start = t;
  });
}

function dragValue(dot, i, name) {
  drag(dot, ({s, py}) => {
    selectSceneQuiet(i);
    state.edit.scenes[i][name] = Math.round(s.v(py) * 20) / 20;
    const row = $("scene-rows").children[i];
    if (row) {
      row.querySelector(`input.${name}`).value = state.edit.scenes[i][name];
      row.querySelector(`input.${name} + output`).textContent = fmt(state.edit.scenes[i][name]);
    }
  });
}

function selectSceneQuiet(i) { state.selected = i; }

function dragClimax(star) {
  drag(star, ({s, px}) => { state.climaxDrag = s.t(px); },
       () => { if (state.climaxDrag !== null && state.climaxDrag !== undefined) moveClimax(state.climaxDrag); state.climaxDrag = null; });
}

function dragEvent(tri, i) {
  // selected on press: the redraw at release replaces the node before a click could reach it
  drag(tri, ({s, px}) => { state.edit.events[i].time = Math.round(snapFrame(s.t(px)) * 1e6) / 1e6; },
       null, () => { state.selectedEvent = i; });
}

function seek(e) {
  const {s, px} = pointer(e);
  const player = $("player");
  if (player.readyState > 0) player.currentTime = s.t(px);
}

function drawPlayhead() {
  const t = $("player").currentTime || 0;
  $("timecode").textContent = timecode(t);
  const line = document.getElementById("playhead");
  if (!line || !state.view) return;
  const s = chartScales();
  line.setAttribute("x1", s.x(t));
  line.setAttribute("x2", s.x(t));
  document.body.dataset.playhead = t.toFixed(3);
}

function niceStep(raw) {
  const steps = [0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600];
  return steps.find((s) => s >= raw) || 3600;
}

function formatTime(t, step) {
  if (step < 60) return step < 1 ? t.toFixed(1) : String(Math.round(t));
  const m = Math.floor(t / 60), sec = Math.round(t % 60);
  return `${m}:${String(sec).padStart(2, "0")}`;
}

init().catch((e) => showError(e.message));
