// The jaxnet report page: sortable, filterable members tables and SVG curves of selected rows.
// Data comes from the inline JSON block; stored strings reach the page only as textContent.
"use strict";
(function () {
  const SVG = "http://www.w3.org/2000/svg";
  const PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd",
                   "#8c564b", "#e377c2", "#17becf", "#7f7f7f", "#bcbd22"];
  const data = JSON.parse(document.getElementById("jaxnet-data").textContent);
  const saved = readHash();
  const views = [];

  // --- state in the address's # part, so a reload (watch mode) or a shared link keeps it ---
  function readHash() {
    try {
      const text = decodeURIComponent(location.hash.replace(/^#state=/, ""));
      const state = text ? JSON.parse(text) : {};
      return state && typeof state === "object" ? state : {};
    } catch (e) {
      return {};
    }
  }

  function writeHash() {
    const state = {};
    views.forEach((v, i) => {
      state[i] = {sort: v.sort, dir: v.dir, filter: v.filter.value, sel: [...v.selected.keys()],
                  more: v.more};
    });
    history.replaceState(null, "", "#state=" + encodeURIComponent(JSON.stringify(state)));
  }

  function el(tag, attrs, text) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function svg(tag, attrs) {
    const node = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
    return node;
  }

  // --- sorting -------------------------------------------------------------------------------
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

  function sortedMembers(view) {
    const members = view.sweep.members.slice();
    const c = view.sort, sign = view.dir === "desc" ? -1 : 1;
    return members.sort((x, y) => {
      // rows of an earlier version of the sweep file come last, never ranked among the others
      const tier = Boolean(x.earlier) - Boolean(y.earlier);
      if (tier || c === null) return tier || x.id - y.id;
      const a = x.sort[c], b = y.sort[c];
      if (a === null || b === null) return (a === null) - (b === null);  // missing last
      return sign * compare(a, b) || x.id - y.id;
    });
  }

  // --- filtering: words that must all hold; `key=value`, `key<value`, ... or plain text -----
  const OPS = ["!=", "<=", ">=", "=", "<", ">"];

  function parseFilter(text, sweep) {
    const names = {};
    sweep.columns.forEach((c, i) => { names[c.key] = i; names[c.label] = i; });
    const aliases = data.aliases || {};
    const terms = [], unknown = [];
    for (const word of text.trim().split(/\s+/).filter(Boolean)) {
      const op = OPS.find((o) => word.includes(o) && word.indexOf(o) > 0);
      if (!op) { terms.push({text: word.toLowerCase()}); continue; }
      const value = word.slice(word.indexOf(op) + op.length);
      let key = word.slice(0, word.indexOf(op));
      if (!(key in names) && key in aliases) key = aliases[key];
      const known = key in names || (sweep.members[0] && key in sweep.members[0].fields);
      if (!known) { unknown.push(key); continue; }
      terms.push({key: key, op: op, value: value});
    }
    return {terms: terms, unknown: unknown, names: names};
  }

  function fieldOf(member, key, names) {
    if (key in names) {
      const i = names[key];
      return {text: member.text[i], value: member.sort[i]};
    }
    const v = member.fields[key];
    return {text: v === null ? "-" : String(v), value: v};
  }

  function holds(member, term, names) {
    if (term.text !== undefined) {
      return member.text.some((t) => t.toLowerCase().includes(term.text)) ||
        member.label.toLowerCase().includes(term.text);
    }
    const f = fieldOf(member, term.key, names);
    const want = Number(term.value);
    let raw = f.value;
    if (typeof raw === "boolean") raw = raw ? 1 : 0;
    const numeric = typeof raw === "number" && term.value !== "" && !Number.isNaN(want);
    if (term.op === "=" || term.op === "!=") {
      const truth = { yes: 1, true: 1, no: 0, false: 0 };
      let same = f.text.toLowerCase() === term.value.toLowerCase();
      if (numeric) same = same || Math.abs(raw - want) <= 1e-9 * Math.max(1, Math.abs(want));
      else if (typeof raw === "number" && term.value.toLowerCase() in truth) {
        same = same || raw === truth[term.value.toLowerCase()];
      }
      return term.op === "=" ? same : !same;
    }
    if (!numeric || raw === null) return false;
    if (term.op === "<") return raw < want;
    if (term.op === ">") return raw > want;
    if (term.op === "<=") return raw <= want;
    return raw >= want;
  }

  // --- the members table ---------------------------------------------------------------------
  // The columns drawn: all, or all but the metrics marked `more` (so the table fits a laptop).
  function shownColumns(view) {
    return view.sweep.columns.map((c, i) => i).filter((i) => view.more || !view.sweep.columns[i].more);
  }

  function buildMore(view) {
    const extra = view.sweep.columns.filter((c) => c.more).length;
    view.moreButton.hidden = extra === 0;
    view.moreButton.textContent = view.more ? "fewer metrics" : `+${extra} more metrics`;
    view.moreButton.setAttribute("aria-expanded", String(view.more));
  }

  function buildHead(view) {
    const row = el("tr");
    row.appendChild(el("th", {class: "pick", scope: "col", title: "draw this row's curves"}, ""));
    shownColumns(view).forEach((i) => {
      const c = view.sweep.columns[i];
      // a break after each underscore lets long metric names wrap instead of widening the table
      const th = el("th", {scope: "col", "data-key": c.key, class: c.kind}, c.label.replaceAll("_", "_\u200b"));
      if (c.numeric) th.classList.add("num");
      th.title = c.kind === "metric" ? `sort by ${c.label} (${c.better} is better)` : `sort by ${c.label}`;
      th.tabIndex = 0;  // sortable from the keyboard too
      th.addEventListener("click", () => {
        if (view.sort === i) view.dir = view.dir === "asc" ? "desc" : "asc";
        else { view.sort = i; view.dir = c.better === "high" ? "desc" : "asc"; }
        renderTable(view);
        writeHash();
      });
      th.addEventListener("keydown", (e) => {
        if (e.key === "Enter" || e.key === " ") { e.preventDefault(); th.click(); }
      });
      row.appendChild(th);
    });
    view.table.tHead.replaceChildren(row);
  }

  function renderTable(view) {
    const {terms, unknown, names} = parseFilter(view.filter.value, view.sweep);
    const body = document.createDocumentFragment();
    let shown = 0;
    for (const m of sortedMembers(view)) {
      if (unknown.length || !terms.every((t) => holds(m, t, names))) continue;
      shown++;
      const tr = el("tr", {"data-id": String(m.id)});
      if (m.diverged) tr.classList.add("diverged");
      if (m.earlier) tr.classList.add("earlier");
      const pick = el("td", {class: "pick"});
      const box = el("input", {type: "checkbox", "aria-label": "draw curves of " + m.label});
      box.checked = view.selected.has(m.id);
      if (box.checked) {
        tr.classList.add("selected");
        pick.style.setProperty("--swatch", view.selected.get(m.id));
      }
      pick.appendChild(box);
      tr.appendChild(pick);
      shownColumns(view).forEach((i) => {
        const c = view.sweep.columns[i], t = m.text[i];
        const td = el("td", {class: c.kind + (c.numeric ? " num" : "")}, t);
        if (c.kind === "status" && m.diverged) td.classList.add("bad");
        tr.appendChild(td);
      });
      tr.addEventListener("click", () => toggle(view, m.id));
      body.appendChild(tr);
    }
    view.table.tBodies[0].replaceChildren(body);
    const drawn = shownColumns(view);
    view.table.querySelectorAll("th[data-key]").forEach((th, k) => {
      const i = drawn[k];
      th.setAttribute("aria-sort", view.sort === i ? (view.dir === "asc" ? "ascending" : "descending") : "none");
    });
    const total = view.sweep.members.length;
    const earlier = view.sweep.members.filter((m) => m.earlier).length;
    view.count.textContent = unknown.length
      ? `no column called ${unknown.join(", ")}; columns: ${Object.keys(names).join(", ")}`
      : `${shown} of ${total} members` + (earlier ? ` (${earlier} of an earlier file, listed last)` : "");
    view.count.classList.toggle("bad", unknown.length > 0);
  }

  function toggle(view, id) {
    if (view.selected.has(id)) view.selected.delete(id);
    else {
      const used = new Set(view.selected.values());
      const free = PALETTE.find((c) => !used.has(c)) || PALETTE[view.selected.size % PALETTE.length];
      view.selected.set(id, free);
    }
    renderTable(view);
    renderChart(view);
    writeHash();
  }

  // --- the curves chart ----------------------------------------------------------------------
  const W = 560, H = 340, M = {left: 58, right: 22, top: 12, bottom: 40};

  function niceTicks(lo, hi, count) {
    const step0 = (hi - lo) / Math.max(count, 1);
    const mag = Math.pow(10, Math.floor(Math.log10(step0)));
    const step = [1, 2, 5, 10].map((k) => k * mag).find((s) => s >= step0) || step0;
    const ticks = [];
    for (let t = Math.ceil(lo / step) * step; t <= hi + step * 1e-9; t += step) ticks.push(t);
    return ticks;
  }

  function label(v) {
    if (v === 0) return "0";
    const a = Math.abs(v);
    return a >= 1e4 || a < 1e-3 ? v.toExponential(0) : String(Number(v.toPrecision(3)));
  }

  function lines(view) {
    const out = [];
    for (const [id, color] of view.selected) {
      const m = view.sweep.members.find((x) => x.id === id);
      if (!m) continue;
      const train = m.curve.map((y, i) => [(i + 0.5) * m.stride, y]);
      const val = m.val.map((y, i) => [m.val_steps[i], y]);
      out.push({m: m, color: color, train: train, val: val});
    }
    return out;
  }

  function renderChart(view) {
    const chart = view.chart, legend = view.legend;
    chart.replaceChildren();
    legend.replaceChildren();
    const drawn = lines(view);
    const points = drawn.flatMap((d) => d.train.concat(d.val)).filter((p) => p[1] !== null);
    if (!points.length) {
      const t = svg("text", {x: W / 2, y: H / 2, "text-anchor": "middle", class: "empty"});
      t.textContent = drawn.length ? "no finite loss values" : "select rows to draw their curves";
      chart.appendChild(t);
      return;
    }
    const log = points.every((p) => p[1] > 0);
    const ys = points.map((p) => (log ? Math.log10(p[1]) : p[1]));
    let [ylo, yhi] = [Math.min(...ys), Math.max(...ys)];
    if (yhi - ylo < 1e-9) { ylo -= 0.5; yhi += 0.5; }
    const xhi = Math.max(...points.map((p) => p[0]), 1);
    const px = (x) => M.left + (x / xhi) * (W - M.left - M.right);
    const py = (y) => H - M.bottom - ((y - ylo) / (yhi - ylo)) * (H - M.top - M.bottom);
    const axes = svg("g", {class: "axes"});
    for (const t of niceTicks(0, xhi, 5)) {
      axes.appendChild(svg("line", {x1: px(t), x2: px(t), y1: M.top, y2: H - M.bottom, class: "grid"}));
      const text = svg("text", {x: px(t), y: H - M.bottom + 16, "text-anchor": "middle"});
      text.textContent = label(t);
      axes.appendChild(text);
    }
    const yticks = log
      ? niceTicks(Math.floor(ylo), Math.ceil(yhi), Math.max(1, Math.min(6, Math.ceil(yhi) - Math.floor(ylo)))).filter((t) => Number.isInteger(Math.round(t * 1e6) / 1e6))
      : niceTicks(ylo, yhi, 5);
    for (const t of yticks) {
      if (t < ylo - 1e-9 || t > yhi + 1e-9) continue;
      axes.appendChild(svg("line", {x1: M.left, x2: W - M.right, y1: py(t), y2: py(t), class: "grid"}));
      const text = svg("text", {x: M.left - 6, y: py(t) + 4, "text-anchor": "end"});
      text.textContent = label(log ? Math.pow(10, t) : t);
      axes.appendChild(text);
    }
    const xl = svg("text", {x: (M.left + W - M.right) / 2, y: H - 6, "text-anchor": "middle", class: "axis-label"});
    xl.textContent = "step";
    const yl = svg("text", {x: 14, y: (M.top + H - M.bottom) / 2, "text-anchor": "middle", class: "axis-label",
                            transform: `rotate(-90 14 ${(M.top + H - M.bottom) / 2})`});
    yl.textContent = log ? "loss (log scale)" : "loss";
    axes.append(xl, yl, svg("rect", {x: M.left, y: M.top, width: W - M.left - M.right,
                                      height: H - M.top - M.bottom, class: "frame"}));
    chart.appendChild(axes);
    const path = (pts) => {
      let d = "", pen = false;  // a missing value (a step never taken) breaks the line
      for (const [x, y] of pts) {
        if (y === null || (log && y <= 0)) { pen = false; continue; }
        d += `${pen ? "L" : "M"}${px(x).toFixed(1)},${py(log ? Math.log10(y) : y).toFixed(1)}`;
        pen = true;
      }
      return d;
    };
    for (const d of drawn) {
      const g = svg("g", {class: "series", "data-id": String(d.m.id)});
      const title = svg("title");
      title.textContent = d.m.label;
      g.appendChild(title);
      g.appendChild(svg("path", {d: path(d.train), stroke: d.color, class: "train"}));
      if (d.val.length) g.appendChild(svg("path", {d: path(d.val), stroke: d.color, class: "val"}));
      chart.appendChild(g);
      const item = el("li");
      const swatch = el("span", {class: "swatch"});
      swatch.style.background = d.color;
      item.append(swatch, document.createTextNode(d.m.label + (d.m.diverged ? " (diverged)" : "")));
      legend.appendChild(item);
    }
  }

  // --- wiring --------------------------------------------------------------------------------
  document.querySelectorAll("section.sweep").forEach((section) => {
    const i = Number(section.dataset.index);
    const sweep = data.sweeps[i];
    const state = saved[i] || {};
    const view = {
      sweep: sweep,
      table: section.querySelector("table"),
      filter: section.querySelector("input.filter"),
      count: section.querySelector(".count"),
      chart: section.querySelector("svg.chart"),
      legend: section.querySelector("ul.legend"),
      moreButton: section.querySelector("button.more"),
      more: state.more === true,
      sort: Number.isInteger(state.sort) && state.sort >= 0 && state.sort < sweep.columns.length
        ? state.sort : sweep.sort,
      dir: state.dir === "asc" || state.dir === "desc" ? state.dir : null,
      selected: new Map(),
    };
    if (view.dir === null) {
      const c = sweep.columns[view.sort];
      view.dir = c && c.better === "high" ? "desc" : "asc";
    }
    view.filter.value = typeof state.filter === "string" ? state.filter : "";
    const ids = new Set(sweep.members.map((m) => m.id));
    const wanted = Array.isArray(state.sel) ? state.sel : sortedMembers(view).slice(0, 3).map((m) => m.id);
    wanted.filter((id) => ids.has(id)).slice(0, PALETTE.length).forEach((id, k) => view.selected.set(id, PALETTE[k]));
    views.push(view);
    buildMore(view);
    buildHead(view);
    renderTable(view);
    renderChart(view);
    view.filter.addEventListener("input", () => { renderTable(view); writeHash(); });
    view.moreButton.addEventListener("click", () => {
      view.more = !view.more;
      buildMore(view);
      buildHead(view);
      renderTable(view);
      writeHash();
    });
    section.querySelector("button.clear").addEventListener("click", () => {
      view.selected.clear();
      renderTable(view);
      renderChart(view);
      writeHash();
    });
  });

  // --- watch mode: reload when `jaxnet report --watch` writes a new page ------------------------
  if (data.watching) {
    window.jaxnetStamp = (stamp) => { if (stamp !== data.stamp) location.reload(); };
    setInterval(() => {
      const s = document.createElement("script");
      s.src = "stamp.js?t=" + Date.now();
      s.onload = s.onerror = () => s.remove();
      document.head.appendChild(s);
    }, 2000);
  }
})();
