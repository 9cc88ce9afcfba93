// The jaxnet report page's parallel coordinates: one vertical axis per config field that
// varies, the ranking metric last; one line per member, coloured by that metric (dark: best).
// Data comes from the same inline JSON block as page.js; stored strings are set as textContent.
"use strict";
(function () {
  const SVG = "http://www.w3.org/2000/svg";
  const data = JSON.parse(document.getElementById("jaxnet-data").textContent);
  const W = 900, H = 320, M = {left: 40, right: 60, top: 34, bottom: 26};

  function svg(tag, attrs, text) {
    const node = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function short(v) {
    if (typeof v !== "number") return String(v);
    const a = Math.abs(v);
    return a !== 0 && (a >= 1e4 || a < 1e-3) ? v.toExponential(1) : String(Number(v.toPrecision(3)));
  }

  // An axis maps a member to [0, 1] (0 at the bottom) from its sort value in column `col`:
  // numbers linearly, or on a log scale when all are positive and span 20x or more; anything
  // else (hidden sizes, names) as evenly spaced categories of its cell text, in sort order.
  function makeAxis(column, members, col) {
    const present = members.filter((mm) => mm.sort[col] !== null && mm.sort[col] !== undefined);
    const label = column.label;
    if (present.length && present.every((mm) => typeof mm.sort[col] === "number")) {
      const values = present.map((mm) => mm.sort[col]);
      const lo = Math.min(...values), hi = Math.max(...values);
      const log = lo > 0 && hi / lo >= 20;
      const f = (v) => (log ? Math.log10(v) : v);
      const span = f(hi) - f(lo) || 1;
      const ticks = hi === lo ? [[0.5, short(lo)]] : [[0, short(lo)], [1, short(hi)]];
      const at = (mm) => {
        const v = mm.sort[col];
        return typeof v !== "number" ? null : hi === lo ? 0.5 : (f(v) - f(lo)) / span;
      };
      return {label, ticks, at, log};
    }
    const firsts = new Map();
    for (const mm of present) if (!firsts.has(mm.text[col])) firsts.set(mm.text[col], mm.sort[col]);
    const cats = [...firsts.entries()].sort((a, b) => compare(a[1], b[1])).map((e) => e[0]);
    const pos = (i) => (cats.length === 1 ? 0.5 : i / (cats.length - 1));
    const at = (mm) => (cats.includes(mm.text[col]) ? pos(cats.indexOf(mm.text[col])) : null);
    return {label, ticks: cats.map((c, i) => [pos(i), c]), at, log: false};
  }

  function compare(a, b) {
    if (Array.isArray(a) && Array.isArray(b)) {
      for (let i = 0; i < Math.max(a.length, b.length); i++) {
        const d = (a[i] ?? -1) - (b[i] ?? -1);
        if (d) return d;
      }
      return 0;
    }
    if (typeof a === "number" && typeof b === "number") return a - b;
    return String(a).localeCompare(String(b));
  }

  // Light yellow (worst) to dark blue (best): readable on white, and in grey print.
  function colour(t) {
    const a = [237, 248, 177], b = [37, 52, 148];
    const c = a.map((x, i) => Math.round(x + (b[i] - x) * t));
    return `rgb(${c[0]},${c[1]},${c[2]})`;
  }

  function draw(chart, sweep) {
    const members = sweep.members;
    const configs = sweep.columns.map((c, i) => [c, i]).filter(([c]) => c.kind === "config");
    const m = sweep.sort;
    if (!members.length || m === null || m === undefined) {
      chart.appendChild(svg("text", {x: W / 2, y: H / 2, "text-anchor": "middle", class: "empty"},
                            "no ranked members yet"));
      return;
    }
    const metric = sweep.columns[m];
    const axes = configs.map(([c, i]) => makeAxis(c, members, i));
    axes.push(makeAxis(metric, members, m));
    const x = (k) => M.left + (axes.length === 1 ? 0.5 : k / (axes.length - 1)) * (W - M.left - M.right);
    const y = (t) => H - M.bottom - t * (H - M.top - M.bottom);
    const last = axes[axes.length - 1];
    const rank = (mm) => {
      const t = last.at(mm);
      return t === null ? null : metric.better === "high" ? t : 1 - t;
    };
    const lines = svg("g", {class: "lines"});
    // worst first, so the best lines are drawn on top
    const order = members.map((mm, i) => [rank(mm), i]).sort((a, b) => (a[0] ?? -1) - (b[0] ?? -1));
    for (const [r, i] of order) {
      const mm = members[i];
      const pts = axes.map((a, k) => {
        const t = k < axes.length - 1 || r !== null ? a.at(mm) : 0;  // no metric: at the bottom
        return t === null ? null : `${x(k).toFixed(1)},${y(t).toFixed(1)}`;
      });
      if (pts.some((p) => p === null)) continue;  // no value on a config axis: nothing to draw
      const line = svg("polyline", {points: pts.join(" "), stroke: r === null ? "#bbb" : colour(r),
                                    "data-id": String(mm.id)});
      line.appendChild(svg("title", {}, `${mm.label}: ${metric.label} ${mm.text[m]}`));
      lines.appendChild(line);
    }
    chart.appendChild(lines);
    axes.forEach((a, k) => {
      const g = svg("g", {class: "axis"});
      g.appendChild(svg("line", {x1: x(k), x2: x(k), y1: y(0), y2: y(1)}));
      g.appendChild(svg("text", {x: x(k), y: M.top - 14, "text-anchor": "middle", class: "axis-label"},
                        a.label + (a.log ? " (log)" : "")));
      for (const [t, text] of a.ticks) {
        g.appendChild(svg("text", {x: x(k) + 4, y: y(t) + 4, class: "tick"}, text));
      }
      chart.appendChild(g);
    });
  }

  document.querySelectorAll("section.sweep").forEach((section) => {
    const chart = section.querySelector("svg.parallel");
    if (chart) draw(chart, data.sweeps[Number(section.dataset.index)]);
  });
})();
