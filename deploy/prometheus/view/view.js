// scalelab's offline dashboards. Reads the Grafana dashboard files
// (../dashboards/*.json, generated from tests/dashboards) and draws each
// timeseries panel as SVG from Prometheus' /api/v1/query_range. No library:
// the page must load with no network, and a line chart is a few dozen lines.
//
// URL: index.html?d=<dashboard uid>&range=<seconds>.
// For tests and screenshots, <body data-state> turns "ready" once every
// panel has been drawn once, and each panel's data-state says ok, empty or
// error.
"use strict";

const API = "../../api/v1/";
const COLORS = ["#73bf69", "#f2cc0c", "#8ab8ff", "#ff780a", "#f2495c", "#5794f2",
  "#b877d9", "#96d98d", "#ffb357", "#ca95e5", "#ff7383", "#c0d8ff"];
const REFRESH_MS = 10000;

const params = new URLSearchParams(location.search);
const rangeSel = document.getElementById("range");
selectRange(params.get("range"));

// selectRange picks the URL's range in the menu, adding it when it is not
// one of the menu's (make dashboards-png passes any number of seconds).
function selectRange(seconds) {
  if (!(+seconds > 0)) return;
  if (![...rangeSel.options].some(o => o.value === seconds)) {
    const o = document.createElement("option");
    o.value = seconds;
    o.textContent = +seconds % 60 ? seconds + " seconds" : (+seconds / 60) + " minutes";
    rangeSel.appendChild(o);
  }
  rangeSel.value = seconds;
}

// A request that fails on the network (Chromium aborts those in flight with
// ERR_NETWORK_CHANGED whenever an interface comes or goes, as Docker's do)
// is tried again, twice; an HTTP error is not.
async function getJSON(url, tries = 3) {
  let r;
  try {
    r = await fetch(url, { cache: "no-store" });
  } catch (err) {
    if (tries <= 1) throw err;
    await new Promise(res => setTimeout(res, 500));
    return getJSON(url, tries - 1);
  }
  if (!r.ok) {
    // Prometheus explains a refused query in the body's "error".
    const body = await r.json().catch(() => ({}));
    throw new Error(body.error || url + ": HTTP " + r.status);
  }
  return r.json();
}

// Formats v in a Grafana unit.
function fmt(v, unit) {
  const si = (x, suffix) => {
    const a = Math.abs(x);
    if (a >= 1e9) return (x / 1e9).toPrecision(3) + " G" + suffix;
    if (a >= 1e6) return (x / 1e6).toPrecision(3) + " M" + suffix;
    if (a >= 1e3) return (x / 1e3).toPrecision(3) + " k" + suffix;
    if (a === 0) return "0" + (suffix ? " " + suffix : "");
    return (+x.toPrecision(3)) + (suffix ? " " + suffix : "");
  };
  switch (unit) {
    case "percentunit": return (+(v * 100).toPrecision(3)) + "%";
    case "s":
      if (v === 0) return "0";
      if (Math.abs(v) < 1e-3) return (+(v * 1e6).toPrecision(3)) + " µs";
      if (Math.abs(v) < 1) return (+(v * 1e3).toPrecision(3)) + " ms";
      return (+v.toPrecision(3)) + " s";
    case "bytes": return bytes(v, "");
    case "Bps": return bytes(v, "/s");
    case "reqps": return si(v, "req/s");
    case "ops": return si(v, "/s");
    default: return si(v, "");
  }
}

function bytes(v, suffix) {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (Math.abs(v) >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  return (+v.toPrecision(3)) + " " + units[i] + suffix;
}

// Grafana's legend format: {{label}} replaced by the series' label value.
function legend(format, metric) {
  if (format) {
    const s = format.replace(/\{\{\s*(\w+)\s*\}\}/g, (_, k) => metric[k] ?? "").trim();
    if (s) return s; // else: an "or vector(0)" series has none of the labels
  }
  const labels = Object.entries(metric).filter(([k]) => k !== "__name__");
  return labels.length ? labels.map(([k, v]) => k + "=" + v).join(" ") : (metric.__name__ || "value");
}

const svgNS = "http://www.w3.org/2000/svg";
function el(name, attrs, parent) {
  const e = document.createElementNS(svgNS, name);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (parent) parent.appendChild(e);
  return e;
}

// Draws series [{name, points: [[t, v]...]}] into svg, y from 0.
function draw(svg, series, start, end, unit) {
  svg.replaceChildren();
  const W = 400, H = 180, L = 58, R = 6, T = 6, B = 18;
  svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
  svg.setAttribute("preserveAspectRatio", "none");
  let max = 0;
  for (const s of series) for (const [, v] of s.points) max = Math.max(max, v);
  if (max === 0) max = unit === "percentunit" ? 1 : 1;
  const x = t => L + (t - start) / (end - start) * (W - L - R);
  const y = v => T + (1 - v / max) * (H - T - B);
  for (let i = 0; i <= 4; i++) {
    const v = max * i / 4;
    el("line", { x1: L, x2: W - R, y1: y(v), y2: y(v), class: "gridline" }, svg);
    el("text", { x: L - 4, y: y(v) + 3, "text-anchor": "end", class: "axis" }, svg).textContent = fmt(v, unit);
  }
  for (let i = 0; i <= 3; i++) {
    const t = start + (end - start) * i / 3;
    const d = new Date(t * 1000);
    el("text", { x: x(t), y: H - 4, "text-anchor": i === 0 ? "start" : i === 3 ? "end" : "middle", class: "axis" }, svg)
      .textContent = d.toTimeString().slice(0, 5);
  }
  series.forEach((s, i) => {
    // A gap in the data (more than 3 steps) breaks the line.
    let d = "", last = null;
    for (const [t, v] of s.points) {
      d += (last === null || t - last > 3 * s.step ? "M" : "L") + x(t).toFixed(1) + " " + y(v).toFixed(1);
      last = t;
    }
    el("path", { d, fill: "none", stroke: COLORS[i % COLORS.length], "stroke-width": 1.5,
      "vector-effect": "non-scaling-stroke" }, svg);
  });
}

async function renderPanel(p, node, start, end, step) {
  const unit = p.fieldConfig?.defaults?.unit || "short";
  const series = [];
  for (const t of p.targets || []) {
    const q = new URLSearchParams({ query: t.expr, start, end, step });
    const r = await getJSON(API + "query_range?" + q);
    if (r.status !== "success") throw new Error(r.error || "query failed");
    for (const s of r.data.result) {
      // NaN (a quantile of no requests) and Inf are gaps, not points.
      const points = s.values.map(([t, v]) => [t, parseFloat(v)]).filter(([, v]) => isFinite(v));
      if (points.length) series.push({ name: legend(t.legendFormat, s.metric), points, step });
    }
  }
  const svg = node.querySelector("svg"), lg = node.querySelector(".legend"), msg = node.querySelector(".msg");
  draw(svg, series, start, end, unit);
  lg.replaceChildren();
  msg.textContent = "";
  series.forEach((s, i) => {
    const span = document.createElement("span");
    const sw = document.createElement("i");
    sw.style.background = COLORS[i % COLORS.length];
    span.append(sw, s.name + ": " + fmt(s.points[s.points.length - 1][1], unit));
    lg.appendChild(span);
  });
  if (!series.length) msg.textContent = "no data";
  node.dataset.state = series.length ? "ok" : "empty";
  node.dataset.series = series.length;
}

async function main() {
  const index = await getJSON("dashboards.json");
  const uid = params.get("d") || index[0].uid;
  const entry = index.find(e => e.uid === uid);
  if (!entry) throw new Error("no dashboard " + uid);
  const nav = document.getElementById("nav");
  for (const e of index) {
    const a = document.createElement("a");
    a.href = "?d=" + encodeURIComponent(e.uid) + "&range=" + rangeSel.value;
    a.textContent = e.title.replace(/^scalelab: /, "");
    if (e.uid === uid) a.className = "current";
    nav.appendChild(a);
  }
  const dash = await getJSON("../dashboards/" + entry.file);
  document.title = dash.title;
  document.getElementById("title").textContent = dash.title;
  document.getElementById("about").textContent = dash.description || "";

  // Grafana's flat panel list: a row panel starts a section.
  const rows = document.getElementById("rows");
  let grid = null;
  const panels = [];
  for (const p of dash.panels) {
    if (p.type === "row") {
      const h = document.createElement("h2");
      h.textContent = p.title;
      grid = document.createElement("div");
      grid.className = "grid";
      rows.append(h, grid);
      continue;
    }
    const node = document.createElement("section");
    node.className = "panel";
    node.id = "panel-" + p.id;
    node.dataset.state = "loading";
    node.innerHTML = '<h3></h3><p class="desc"></p><svg></svg><div class="legend"></div><div class="msg"></div>';
    node.querySelector("h3").textContent = p.title;
    node.querySelector(".desc").textContent = p.description || "";
    node.replaceChild(el("svg", {}), node.querySelector("svg"));
    (grid || rows).appendChild(node);
    panels.push([p, node]);
  }

  async function refresh() {
    const end = Date.now() / 1000, range = +rangeSel.value;
    const start = end - range, step = Math.max(5, Math.round(range / 240));
    await Promise.all(panels.map(async ([p, node]) => {
      try {
        await renderPanel(p, node, start, end, step);
      } catch (err) {
        node.dataset.state = "error";
        node.querySelector(".msg").textContent = String(err.message || err);
        console.error(p.title + ": " + (err.message || err));
      }
    }));
    document.getElementById("updated").textContent = "updated " + new Date().toLocaleTimeString();
  }
  rangeSel.addEventListener("change", () => {
    params.set("range", rangeSel.value);
    history.replaceState(null, "", "?" + params);
    refresh();
  });
  await refresh();
  document.body.dataset.state = "ready";
  setInterval(refresh, REFRESH_MS);
}

main().catch(err => {
  document.body.dataset.state = "error";
  document.getElementById("about").textContent = "cannot load the dashboards: " + (err.message || err);
  console.error(err);
});
