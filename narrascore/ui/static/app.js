// NarraScore page: upload/pick a video, score it, show the emotion curve (inline SVG), edit, re-render, compare.
"use strict";

const ROLE_COLORS = {setup: "#8fb3d9", rising: "#f2c879", climax: "#e06c5a", falling: "#b39ddb", resolution: "#8cc9a0"};
const SVG_NS = "http://www.w3.org/2000/svg";
const $ = (id) => document.getElementById(id);

const state = {
  config: null,
  project: null,      // id of the current project (one per uploaded/picked video)
  source: null,       // what the project was made from: a File or a folder path
  view: null,         // GET /api/projects/<id>
  scenes: [],         // the editor's copy of the scenes (valence, arousal, arc_role)
  conceptDirty: {},   // concept fields the user changed since the last render
  selected: null,     // selected scene index
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

function showError(message) {
  const box = $("error");
  box.textContent = message || "";
  box.hidden = !message;
}

function setBusy(busy) {
  state.busy = busy;
  $("score-btn").disabled = busy || !(state.source || state.project);
  $("render-btn").disabled = busy || !state.view || !state.view.plan;
  $("reset-concept-btn").disabled = busy || !state.view || !state.view.plan;
}

// ------------------------------------------------------------------ setup
async function init() {
  // listeners first: a file chosen while the choices are still loading must not be missed
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
  $("score-btn").addEventListener("click", () => score().catch((e) => { showError(e.message); setBusy(false); }));
  $("render-btn").addEventListener("click", () => rerender(false).catch((e) => { showError(e.message); setBusy(false); }));
  $("reset-concept-btn").addEventListener("click", () => rerender(true).catch((e) => { showError(e.message); setBusy(false); }));
  $("audio-score").addEventListener("click", () => switchAudio(false));
  $("audio-original").addEventListener("click", () => switchAudio(true));
  for (const id of ["edit-style", "edit-key", "edit-mode", "edit-tempo-min", "edit-tempo-max"]) {
    $(id).addEventListener("change", () => { state.conceptDirty[id] = true; conceptNote(); });
  }
  $("player").addEventListener("timeupdate", drawPlayhead);
  $("player").addEventListener("seeked", drawPlayhead);
  window.addEventListener("resize", () => drawChart());
  setBusy(false);
  state.config = await api("GET", "/api/config");
  fillSelect($("style-select"), state.config.styles);
  fillSelect($("synth-select"), state.config.synths, "procedural");
  fillSelect($("edit-style"), state.config.styles.filter((s) => s !== "auto"));
  fillSelect($("edit-key"), state.config.keys);
  fillSelect($("edit-mode"), state.config.modes);
  if (state.config.folder_videos) {
    $("folder-field").hidden = false;
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

function fillSelect(select, values, chosen) {
  select.innerHTML = "";
  for (const v of values) select.append(new Option(v, v));
  if (chosen !== undefined) select.value = chosen;
}

// ------------------------------------------------------------------ scoring and re-rendering
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
  await follow(job.job, "Scoring");
}

function scoreOptions() {
  // an empty choice (the page still loading) means the default
  return {style: $("style-select").value || undefined, synth: $("synth-select").value || undefined,
          seed: parseInt($("seed-input").value || "0", 10)};
}

async function rerender(resetConcept) {
  showError("");
  setBusy(true);
  const body = scoreOptions();
  body.style = $("edit-style").value;
  body.scenes = state.scenes.map((s) => ({valence: s.valence, arousal: s.arousal, arc_role: s.arc_role}));
  if (resetConcept) body.reset_concept = true;
  else {
    const concept = {};
    if (state.conceptDirty["edit-key"]) concept.key = $("edit-key").value;
    if (state.conceptDirty["edit-mode"]) concept.mode = $("edit-mode").value;
    if (state.conceptDirty["edit-tempo-min"]) concept.tempo_min = parseFloat($("edit-tempo-min").value);
    if (state.conceptDirty["edit-tempo-max"]) concept.tempo_max = parseFloat($("edit-tempo-max").value);
    body.concept = concept;
  }
  const job = await api("POST", `/api/projects/${state.project}/render`, body);
  await follow(job.job, "Re-rendering the music");
}

async function follow(jobId, title) {
  $("progress").hidden = false;
  $("progress-title").textContent = title;
  document.body.dataset.job = jobId;
  document.body.dataset.jobState = "running";
  for (;;) {
    const job = await api("GET", `/api/jobs/${jobId}`);
    drawProgress(job);
    if (job.state === "done" || job.state === "failed") {
      document.body.dataset.jobState = job.state;
      if (job.state === "failed") { showError(job.error); setBusy(false); return; }
      $("progress-title").textContent = `${title} \u2014 done`;
      await loadProject();
      setBusy(false);
      return;
    }
    await new Promise((r) => setTimeout(r, 350));
  }
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
    const pct = document.createElement("span");
    pct.className = "muted";
    pct.textContent = stage.state === "done" ? "done" : stage.fraction === null ? "" : `${Math.round(100 * stage.fraction)}%`;
    const label = document.createElement("span");
    label.textContent = stage.name;
    li.append(label, bar, pct);
    list.append(li);
  }
  if (!job.stages.length) list.innerHTML = `<li class="muted">${job.state === "queued" ? "waiting for the previous job" : "starting"}...</li>`;
  $("notes").textContent = job.notes.join(" \u00b7 ");
}

// ------------------------------------------------------------------ results
async function loadProject() {
  const view = await api("GET", `/api/projects/${state.project}`);
  if (!view.plan) return;  // opened but not scored yet
  const previousVersion = state.view && state.view.id === view.id ? state.view.versions : 0;
  state.view = view;
  state.scenes = view.plan.scenes.map((s) => ({...s}));
  state.conceptDirty = {};
  if (view.options && view.options.style) {  // the options this video was last scored with
    $("style-select").value = view.options.style;
    $("synth-select").value = view.options.synth;
    $("seed-input").value = view.options.seed;
  }
  for (const id of ["result-card", "chart-card", "edit-card", "compare-card"]) $(id).hidden = false;
  const base = `/api/projects/${view.id}`;
  const stamp = `?v=${view.versions}`;
  const player = $("player");
  const wasOriginal = $("audio-original").classList.contains("on");
  const videoFile = view.files.find((f) => f.name.startsWith("scored."));
  player.dataset.scored = videoFile ? `${base}/files/${videoFile.name}${stamp}` : "";
  player.dataset.original = `${base}/original`;
  switchAudio(wasOriginal && view.has_audio, true);
  $("audio-original").disabled = !view.has_audio || !view.original_playable;
  $("audio-note").textContent = !view.has_audio ? "The video has no audio of its own."
    : !view.original_playable ? "The browser cannot play this container; download the original to hear it." : "";
  $("audio-current").src = `${base}/versions/${view.versions}`;
  $("current-label").textContent = `version ${view.versions}`;
  if (view.versions > 1) {
    $("take-before").hidden = false;
    $("audio-before").src = `${base}/versions/${view.versions - 1}`;
    $("before-label").textContent = `version ${view.versions - 1}`;
  } else $("take-before").hidden = true;
  drawSummary(view);
  fillConcept(view);
  drawScenes();
  drawChart();
  drawDownloads(view);
  document.body.dataset.version = String(view.versions);
  if (previousVersion && previousVersion !== view.versions) $("compare-card").scrollIntoView({behavior: "smooth", block: "nearest"});
}

function switchAudio(original, reload) {
  const player = $("player");
  const src = original ? player.dataset.original : player.dataset.scored;
  $("audio-original").classList.toggle("on", original);
  $("audio-score").classList.toggle("on", !original);
  if (!src || (!reload && player.getAttribute("src") === src)) return;
  const time = player.currentTime || 0;
  const playing = !player.paused;
  player.src = src;
  player.addEventListener("loadedmetadata", () => {
    player.currentTime = Math.min(time, player.duration || time);
    if (playing) player.play().catch(() => {});
  }, {once: true});
}

function drawSummary(view) {
  const c = view.concept || {};
  const plan = view.plan;
  const rows = [
    ["Video", `${view.name} \u00b7 ${plan.duration.toFixed(1)} s`],
    ["Scenes", `${plan.scenes.length}, climax at ${plan.climax_time.toFixed(1)} s`],
    ["Style", c.style ? `${c.style} (${c.genre})` : "\u2014"],
    ["Key", c.key ? `${c.key} ${c.mode}, ${c.beats_per_bar}/4` : "\u2014"],
    ["Tempo", c.tempo_min ? `${Math.round(c.tempo_min)}\u2013${Math.round(c.tempo_max)} BPM` : "\u2014"],
  ];
  const dl = $("summary");
  dl.innerHTML = "";
  for (const [k, v] of rows) { dl.append(el("dt", k), el("dd", v)); }
  const story = el("dd", plan.s_global);
  story.className = "story";
  dl.append(story);
}

function el(tag, text) { const e = document.createElement(tag); e.textContent = text; return e; }

function fillConcept(view) {
  const c = view.concept;
  if (!c) return;
  $("edit-style").value = c.style;
  $("edit-key").value = c.key;
  $("edit-mode").value = c.mode;
  $("edit-tempo-min").value = Math.round(c.tempo_min);
  $("edit-tempo-max").value = Math.round(c.tempo_max);
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
  state.scenes.forEach((scene, i) => {
    const tr = document.createElement("tr");
    tr.dataset.index = i;
    if (state.selected === i) tr.className = "selected";
    tr.append(el("td", String(i + 1)), el("td", `${scene.start.toFixed(1)}\u2013${scene.end.toFixed(1)} s`));
    const role = document.createElement("select");
    role.className = "scene-role";
    role.dataset.index = i;
    fillSelect(role, state.config.arc_roles, scene.arc_role);
    role.addEventListener("change", () => { scene.arc_role = role.value; drawChart(); });
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
  const out = document.createElement("output");
  out.textContent = fmt(scene[name]);
  input.addEventListener("input", () => { scene[name] = parseFloat(input.value); out.textContent = fmt(scene[name]); drawChart(); });
  wrap.append(input, out);
  td.append(wrap);
  return td;
}

function fmt(v) { return (v >= 0 ? "+" : "\u2212") + Math.abs(v).toFixed(2); }

function selectScene(i) {
  state.selected = i;
  for (const tr of $("scene-rows").children) tr.classList.toggle("selected", Number(tr.dataset.index) === i);
  drawChart();
}

function drawDownloads(view) {
  const box = $("downloads");
  box.innerHTML = "";
  const labels = {"soundtrack.wav": "Soundtrack", "scored.mp4": "Scored video", "scored.mkv": "Scored video",
                  "score.mid": "MIDI score", "figure.png": "Figure"};
  for (const f of view.files) {
    const a = document.createElement("a");
    a.href = `/api/projects/${view.id}/files/${f.name}?download=1&v=${view.versions}`;
    a.dataset.file = f.name;
    a.setAttribute("download", f.name);
    a.append(document.createTextNode(labels[f.name] ? `${labels[f.name]} (${f.name})` : f.name));
    const size = document.createElement("small");
    size.textContent = humanBytes(f.bytes);
    a.append(size);
    box.append(a);
  }
}

function humanBytes(n) {
  return n < 1024 ? `${n} B` : n < 1 << 20 ? `${(n / 1024).toFixed(1)} kB` : `${(n / (1 << 20)).toFixed(1)} MB`;
}

// ------------------------------------------------------------------ the chart (inline SVG)
const M = {left: 44, right: 16, top: 30, bottom: 34};

function svg(tag, attrs, parent) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  if (parent) parent.append(node);
  return node;
}

function chartScales() {
  const chart = $("chart");
  const width = chart.clientWidth || 900, height = chart.clientHeight || 330;
  const duration = state.view.plan.duration;
  const x = (t) => M.left + (t / duration) * (width - M.left - M.right);
  const y = (v) => M.top + ((1 - v) / 2) * (height - M.top - M.bottom);
  const t = (px) => Math.max(0, Math.min(duration, ((px - M.left) / (width - M.left - M.right)) * duration));
  const v = (py) => Math.max(-1, Math.min(1, 1 - (2 * (py - M.top)) / (height - M.top - M.bottom)));
  return {width, height, duration, x, y, t, v};
}

function linePath(times, values, s) {
  return times.map((t, i) => `${i ? "L" : "M"}${s.x(t).toFixed(1)},${s.y(values[i]).toFixed(1)}`).join("");
}

function drawChart() {
  if (!state.view || !state.view.plan) return;
  const chart = $("chart");
  chart.innerHTML = "";
  const s = chartScales();
  chart.setAttribute("viewBox", `0 0 ${s.width} ${s.height}`);
  const plan = state.view.plan;
  const bottom = s.y(-1), top = s.y(1);

  // scene bands by arc role, with their labels
  state.scenes.forEach((scene, i) => {
    const band = svg("rect", {x: s.x(scene.start), y: top, width: Math.max(1, s.x(scene.end) - s.x(scene.start)), height: bottom - top,
                              fill: ROLE_COLORS[scene.arc_role] || "#ddd", "fill-opacity": 0.22,
                              class: "band" + (state.selected === i ? " selected" : "")}, chart);
    band.dataset.index = i;
    band.addEventListener("click", (e) => { selectScene(i); seek(e); });
    const label = svg("text", {x: (s.x(scene.start) + s.x(scene.end)) / 2, y: top - 9, "text-anchor": "middle", class: "role"}, chart);
    label.textContent = scene.arc_role;
  });
  // grid and axes
  for (const v of [-1, -0.5, 0, 0.5, 1]) {
    svg("line", {x1: M.left, x2: s.width - M.right, y1: s.y(v), y2: s.y(v), class: v === 0 ? "zero" : "grid"}, chart);
    const label = svg("text", {x: M.left - 8, y: s.y(v) + 4, "text-anchor": "end", class: "ylab"}, chart);
    label.textContent = v.toString().replace("-", "\u2212");
  }
  const axis = svg("g", {class: "axis"}, chart);
  const step = niceStep(s.duration / 10);
  for (let t = 0; t <= s.duration + 1e-9; t += step) {
    svg("line", {x1: s.x(t), x2: s.x(t), y1: bottom, y2: bottom + 5, stroke: "#9ca3af"}, axis);
    const label = svg("text", {x: s.x(t), y: bottom + 18, "text-anchor": "middle"}, axis);
    label.textContent = formatTime(t, step);
  }
  const unit = svg("text", {x: s.width - M.right, y: s.height - 2, "text-anchor": "end"}, axis);
  unit.textContent = "time (s)";
  // cuts: scene cuts dotted across, shot cuts as ticks along the bottom
  for (const scene of state.scenes.slice(1)) {
    svg("line", {x1: s.x(scene.start), x2: s.x(scene.start), y1: top, y2: bottom, stroke: "#4b5563", "stroke-dasharray": "2 3",
                 "stroke-width": 1.2, class: "scene-cut"}, chart);
  }
  for (const t of state.view.shot_cuts) {
    svg("line", {x1: s.x(t), x2: s.x(t), y1: bottom - 9, y2: bottom, stroke: "#4b5563", "stroke-width": 1.2, class: "shot-cut"}, chart);
  }
  // measured music curve (dashed), then the narrative curves
  const m = state.view.measured;
  if (m && m.times.length) {
    svg("path", {d: linePath(m.times, m.valence, s), fill: "none", stroke: "var(--valence)", "stroke-width": 1.4,
                 "stroke-dasharray": "5 4", opacity: 0.8, class: "curve-measured"}, chart);
    svg("path", {d: linePath(m.times, m.arousal, s), fill: "none", stroke: "var(--arousal)", "stroke-width": 1.4,
                 "stroke-dasharray": "5 4", opacity: 0.8, class: "curve-measured"}, chart);
  }
  $("legend-measured").hidden = !(m && m.times.length);
  // each value holds for one hop: carry the last one to the end of the video
  const times = plan.times.concat([plan.duration]);
  const hold = (values) => values.concat(values.slice(-1));
  svg("path", {d: linePath(times, hold(plan.valence), s), fill: "none", stroke: "var(--valence)", "stroke-width": 2.4,
               "stroke-linejoin": "round", class: "curve-valence"}, chart);
  svg("path", {d: linePath(times, hold(plan.arousal), s), fill: "none", stroke: "var(--arousal)", "stroke-width": 2.4,
               "stroke-linejoin": "round", class: "curve-arousal"}, chart);
  // climax
  const cx = s.x(plan.climax_time);
  svg("line", {x1: cx, x2: cx, y1: top, y2: bottom, stroke: "#b42318", "stroke-width": 1.2, opacity: 0.55}, chart);
  const ca = interp(plan.times, plan.arousal, plan.climax_time);
  const star = svg("text", {x: cx, y: s.y(ca) + 6, "text-anchor": "middle", fill: "#b42318", "font-size": 20, class: "climax",
                            stroke: "#fff", "stroke-width": 0.8}, chart);
  star.textContent = "\u2605";
  const clabel = svg("text", {x: cx + 10, y: s.y(ca) - 8, fill: "#b42318", "font-size": 11, "font-weight": 700}, chart);
  clabel.textContent = "climax";
  // each scene's own valence/arousal as draggable dots (the edit; the curve is re-derived on re-render)
  state.scenes.forEach((scene, i) => {
    const mid = (scene.start + scene.end) / 2;
    for (const [name, color, dx] of [["valence", "var(--valence)", -7], ["arousal", "var(--arousal)", 7]]) {
      svg("line", {x1: s.x(scene.start) + 3, x2: s.x(scene.end) - 3, y1: s.y(scene[name]), y2: s.y(scene[name]), stroke: color,
                   "stroke-width": 1, "stroke-opacity": 0.45}, chart);
      const dot = svg("circle", {cx: s.x(mid) + dx, cy: s.y(scene[name]), r: 6.5, fill: color, class: `handle handle-${name}`}, chart);
      dot.dataset.index = i;
      dragHandle(dot, scene, i, name);
    }
  });
  svg("line", {class: "playhead", id: "playhead", x1: M.left, x2: M.left, y1: top, y2: bottom, visibility: "hidden"}, chart);
  chart.onclick = (e) => { if (e.target === chart) seek(e); };
  drawPlayhead();
}

function dragHandle(dot, scene, i, name) {
  dot.addEventListener("pointerdown", (e) => {
    e.preventDefault();
    e.stopPropagation();
    selectScene(i);
    const chart = $("chart");
    const move = (ev) => {
      const box = chart.getBoundingClientRect();
      const s = chartScales();
      scene[name] = Math.round(s.v((ev.clientY - box.top) * (s.height / box.height)) * 20) / 20;
      const row = $("scene-rows").children[i];
      const input = row.querySelector(`input.${name}`);
      input.value = scene[name];
      row.querySelector(`input.${name} + output`).textContent = fmt(scene[name]);
      drawChart();
    };
    const up = () => { window.removeEventListener("pointermove", move); window.removeEventListener("pointerup", up); };
    window.addEventListener("pointermove", move);
    window.addEventListener("pointerup", up);
  });
}

function seek(e) {
  const chart = $("chart");
  const box = chart.getBoundingClientRect();
  const s = chartScales();
  const player = $("player");
  if (player.readyState > 0) player.currentTime = s.t((e.clientX - box.left) * (s.width / box.width));
}

function drawPlayhead() {
  const line = document.getElementById("playhead");
  if (!line || !state.view) return;
  const s = chartScales();
  const t = $("player").currentTime || 0;
  line.setAttribute("x1", s.x(t));
  line.setAttribute("x2", s.x(t));
  line.setAttribute("visibility", t > 0 ? "visible" : "hidden");
}

function interp(xs, ys, x) {
  if (!xs.length) return 0;
  if (x <= xs[0]) return ys[0];
  for (let i = 1; i < xs.length; i++) {
    if (x <= xs[i]) return ys[i - 1] + ((ys[i] - ys[i - 1]) * (x - xs[i - 1])) / (xs[i] - xs[i - 1]);
  }
  return ys[ys.length - 1];
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
