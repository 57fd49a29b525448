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

init().catch((e) => showError(e.message));
