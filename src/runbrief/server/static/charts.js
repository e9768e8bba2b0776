// Time-series charts with the vendored uPlot (static/vendor/uplot, loaded by index.html as
// the global `uPlot`). Series come straight from the operations' JSON: `t` in epoch
// seconds and one array per series, the same length. Deploys are drawn as vertical
// markers on the canvas and listed under the chart as links.
"use strict";

import { el, eidLink, fmtTime, isoToSec } from "./lib.js";

const COLORS = ["#0b5cad", "#b31d28", "#e36209", "#22863a", "#6f42c1", "#005cc5", "#d73a49", "#735c0f", "#032f62", "#5a32a3"];
export const charts = []; // every chart drawn on the current view: {el, u}

export function resetCharts() {
  for (const c of charts.splice(0)) c.u.destroy();
}

function markerPlugin(markers) {
  return {
    hooks: {
      draw: [(u) => {
        const { ctx } = u;
        const { top, height } = u.bbox;
        ctx.save();
        ctx.strokeStyle = "#6f42c1";
        ctx.fillStyle = "#6f42c1";
        ctx.lineWidth = 2 * devicePixelRatio;
        ctx.setLineDash([6 * devicePixelRatio, 4 * devicePixelRatio]);
        ctx.font = `${11 * devicePixelRatio}px system-ui, sans-serif`;
        for (const m of markers) {
          const x = u.valToPos(m.x, "x", true);
          if (x < u.bbox.left || x > u.bbox.left + u.bbox.width) continue;
          ctx.beginPath();
          ctx.moveTo(x, top);
          ctx.lineTo(x, top + height);
          ctx.stroke();
          ctx.fillText(m.label, x + 3 * devicePixelRatio, top + 12 * devicePixelRatio);
        }
        ctx.restore();
      }],
    },
  };
}

// opts: {title, t: [sec], series: [{label, values, color?, scale?, bars?}], markers: [{ts, label, id}],
//        height, yLabel, y2Label}
export function timeChart(opts) {
  const box = el("figure", { class: "chart" });
  if (opts.title) box.append(el("figcaption", {}, opts.title));
  const holder = el("div", { class: "plot" });
  box.append(holder);
  const markers = (opts.markers || []).map((m) => ({ x: isoToSec(m.ts), label: m.label || m.id || "", id: m.id }));
  // Times in UTC, like the rest of the page and the CLI.
  const span = opts.t.length ? opts.t[opts.t.length - 1] - opts.t[0] : 0;
  const utc = (s) => new Date(s * 1000).toISOString();
  const tick = (s) => (span > 2 * 86400 ? utc(s).slice(5, 16).replace("T", " ") : utc(s).slice(11, 16));
  const series = [{ value: (u, v) => (v == null ? "--" : `${utc(v).slice(0, 16).replace("T", " ")}Z`) }];
  const scales = { x: { time: true } };
  const axes = [{ space: 70, values: (u, splits) => splits.map(tick) }, { label: opts.yLabel || "", size: 60 }];
  let second = false;
  opts.series.forEach((s, i) => {
    const color = s.color || COLORS[i % COLORS.length];
    series.push({ label: s.label, stroke: color, width: 1.5, fill: s.fill ? color + "22" : undefined,
      scale: s.scale || "y", spanGaps: false, points: { show: false } });
    if (s.scale && s.scale !== "y") second = s.scale;
  });
  const floor = opts.yMin || 1;  // the top of the y axis when every value is 0 (a flat line stays readable)
  scales.y = { auto: true, range: (u, min, max) => [Math.min(0, min ?? 0), (max ?? 0) > 0 ? max * 1.05 : floor] };
  if (second) {
    scales[second] = { auto: true };
    axes.push({ scale: second, side: 1, label: opts.y2Label || "", grid: { show: false }, size: 60 });
  }
  const data = [opts.t, ...opts.series.map((s) => s.values)];
  // Drawn once the figure is in the document, so it can take the figure's width.
  const draw = (tries) => {
    if (!box.isConnected) { // not shown yet (its view is still being built), or left already
      if (tries > 0) requestAnimationFrame(() => draw(tries - 1));
      return;
    }
    const width = Math.max(300, (holder.clientWidth || box.clientWidth || 800));
    const u = new uPlot({ width, height: opts.height || 200, series, scales, axes,
      legend: { live: true }, cursor: { drag: { x: true, y: false } }, plugins: [markerPlugin(markers)] }, data, holder);
    charts.push({ el: box, u });
    box.dataset.points = String(u.data[0].length);
    box.dataset.series = String(u.series.length - 1);
    box.dataset.ready = "1";
  };
  requestAnimationFrame(() => draw(120));
  box.dataset.expected = String(opts.t.length);
  if (markers.length) {
    box.append(el("div", { class: "markers" }, "deploys: ",
      ...(opts.markers || []).map((m) => el("span", { class: "marker" }, eidLink(m.id), ` ${m.label || ""} ${fmtTime(m.ts)}`))));
  }
  return box;
}

export function deployMarkers(deploys) {
  return (deploys || []).map((d) => ({ ts: d.ts, id: d.id, label: `${d.service} ${d.version || ""}`.trim() }));
}

// Charts follow the window's width.
let resizing = 0;
window.addEventListener("resize", () => {
  cancelAnimationFrame(resizing);
  resizing = requestAnimationFrame(() => {
    for (const { el: box, u } of charts) {
      const w = Math.max(300, box.querySelector(".plot")?.clientWidth || 0);
      if (w && Math.abs(w - u.width) > 2) u.setSize({ width: w, height: u.height });
    }
  });
});
