// NarraScore page, the timeline: the narrative curves over time in inline SVG, with the scenes, climax and
// events that can be dragged, the playhead and the hover readout. Loaded before app.js, whose state it reads.
"use strict";

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

