"use strict";
// attnviz page: decodes the attention embedded in #attnviz-data and draws four views of it.
// Every token is put on the page with textContent or as SVG text: token text is data, never markup.
(() => {
  const DATA = JSON.parse(document.getElementById("attnviz-data").textContent);
  const SVG = "http://www.w3.org/2000/svg";
  const PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b",
    "#e377c2", "#17becf", "#bcbd22", "#7f7f7f", "#393b79", "#ad494a"];
  const ALL_LINES_UP_TO = 64 * 64; // past this many (query, key) pairs, lines only for the hovered token
  const $ = (id) => document.getElementById(id);
  const el = (tag, props = {}, parent = null) => {
    const node = Object.assign(document.createElement(tag), props);
    if (parent) parent.appendChild(node);
    return node;
  };
  const svgEl = (tag, attrs, parent) => {
    const node = document.createElementNS(SVG, tag);
    for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, value);
    if (parent) parent.appendChild(node);
    return node;
  };

  const lut = Uint8Array.from(DATA.cmap.lut.match(/../g).map((h) => parseInt(h, 16)));
  const rgb = (t) => {
    const i = 3 * Math.min(255, Math.max(0, Math.floor((Number.isFinite(t) ? t : 0) * 256)));
    return [lut[i], lut[i + 1], lut[i + 2]];
  };
  const css = ([r, g, b]) => `rgb(${r},${g},${b})`;
  const ink = ([r, g, b]) => (0.299 * r + 0.587 * g + 0.114 * b > 140 ? "#111" : "#fff");
  const fmt = (v) => (Math.abs(v) >= 0.0001 || v === 0 ? v.toFixed(4) : v.toExponential(2));
  const seqs = DATA.sequences;
  const measureName = DATA.measure === "weights" ? "weight" : DATA.measure;

  // ---- decoding: base64 -> (inflate) -> uint8/uint16 -> lo + q * step ------------------------
  function fromBase64(text) {
    if (typeof Uint8Array.fromBase64 === "function") return Uint8Array.fromBase64(text);
    const binary = atob(text);
    const out = new Uint8Array(binary.length);
    for (let i = 0; i < binary.length; i++) out[i] = binary.charCodeAt(i);
    return out;
  }
  async function inflate(bytes) {
    const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("deflate"));
    return new Uint8Array(await new Response(stream).arrayBuffer());
  }
  async function decode(m, index) {
    let bytes = fromBase64(m.data);
    if (DATA.encoding.compression === "deflate") bytes = await inflate(bytes);
    const q = DATA.encoding.dtype === "uint16" ? new Uint16Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 2) : bytes;
    const [nq, nk] = m.shape;
    let top = 0;
    for (let i = 0; i < q.length; i++) if (q[i] > top) top = q[i];
    return { index, title: m.title, layer: m.layer, head: m.head, row: m.row, col: m.col, qs: m.q, ks: m.k,
      nq, nk, lo: m.lo, step: m.step, q, min: m.lo, max: m.lo + top * m.step };
  }
  let maps = [];
  const w = (m, i, j) => m.lo + m.q[i * m.nk + j] * m.step;
  // colour position in [0, 1]: weights from 0 (or below) to the map's max; differences around 0
  function scaler(m) {
    if (DATA.diverging) {
      const bound = Math.max(Math.abs(m.min), Math.abs(m.max)) || 1;
      return (v) => 0.5 + v / (2 * bound);
    }
    const base = Math.min(0, m.min);
    const span = m.max - base || 1;
    return (v) => (v - base) / span;
  }

  // ---- state ------------------------------------------------------------------------------
  const state = { view: "model", current: 0, selected: new Set([0]), hover: null, pinned: null, textQuery: DATA.query ?? null };
  const mapAt = (row, col) => maps.find((m) => m.row === row && m.col === col);
  const rowMaps = (row) => maps.filter((m) => m.row === row).sort((a, b) => a.col - b.col);
  const sameTokens = (a, b) => a.qs === b.qs && a.ks === b.ks;
  const colour = (m) => PALETTE[m.col % PALETTE.length];
  const position = (seq, i) => seqs[seq].positions[i];

  function setView(view) {
    state.view = view;
    for (const name of ["model", "head", "matrix", "text"]) {
      $(`view-${name}`).hidden = name !== view;
      const tab = document.querySelector(`nav button[data-view="${name}"]`);
      tab.setAttribute("aria-selected", String(name === view));
    }
    $("pickers").hidden = view === "model";
    hideTip();
    render();
  }
  function open(index, view = "head") {
    state.current = index;
    state.selected = new Set([index]);
    state.hover = null;
    state.pinned = null;
    setView(view);
  }
  function render() {
    if (state.view === "model") drawModel();
    else {
      drawPickers();
      if (state.view === "head") drawHead();
      else if (state.view === "matrix") drawMatrix();
      else drawText();
    }
  }

  // ---- tooltip ----------------------------------------------------------------------------
  const tip = $("tooltip");
  function showTip(event, parts) {
    tip.replaceChildren();
    let lineStart = true;
    for (const [text, cls] of parts) {
      if (cls === "br") {
        tip.appendChild(document.createTextNode("\n"));
        lineStart = true;
        continue;
      }
      if (!lineStart) tip.appendChild(document.createTextNode(" "));
      el("span", { className: cls || "", textContent: text }, tip);
      lineStart = false;
    }
    tip.hidden = false;
    const x = Math.min(event.clientX + 14, window.innerWidth - tip.offsetWidth - 6);
    const y = Math.min(event.clientY + 14, window.innerHeight - tip.offsetHeight - 6);
    tip.style.left = `${Math.max(4, x)}px`;
    tip.style.top = `${Math.max(4, y)}px`;
  }
  function hideTip() {
    tip.hidden = true;
  }
  const pairTip = (m, i, j, event) =>
    showTip(event, [
      [seqs[m.qs].labels[i], "tt-q"], ["→", ""], [seqs[m.ks].labels[j], "tt-k"], ["", "br"],
      [`${m.title} · ${measureName}`, ""], [fmt(w(m, i, j)), "tt-w"], ["", "br"],
      [`query ${position(m.qs, i)}, key ${position(m.ks, j)}`, "hint-tip"],
    ]);

  // ---- model view: every map as a pooled thumbnail -----------------------------------------
  function pooled(m, width, height) {
    // block means of the quantised values: one pass over the map, whatever its size
    const sums = new Float64Array(width * height);
    const counts = new Float64Array(width * height);
    const colOf = new Int32Array(m.nk);
    for (let j = 0; j < m.nk; j++) colOf[j] = Math.floor((j * width) / m.nk);
    for (let i = 0; i < m.nq; i++) {
      const base = Math.floor((i * height) / m.nq) * width;
      const offset = i * m.nk;
      for (let j = 0; j < m.nk; j++) {
        sums[base + colOf[j]] += m.q[offset + j];
        counts[base + colOf[j]] += 1;
      }
    }
    const means = new Float64Array(width * height);
    for (let p = 0; p < means.length; p++) means[p] = counts[p] ? m.lo + (sums[p] / counts[p]) * m.step : 0;
    return means;
  }
  function paint(canvas, values, width, height, toUnit) {
    canvas.width = width;
    canvas.height = height;
    const ctx = canvas.getContext("2d");
    const image = ctx.createImageData(width, height);
    for (let p = 0; p < values.length; p++) {
      const [r, g, b] = rgb(toUnit(values[p]));
      image.data[4 * p] = r;
      image.data[4 * p + 1] = g;
      image.data[4 * p + 2] = b;
      image.data[4 * p + 3] = 255;
    }
    ctx.putImageData(image, 0, 0);
  }
  function thumbnail(m, size) {
    const scale = size / Math.max(m.nq, m.nk);
    const cssW = Math.max(8, Math.round(m.nk * scale));
    const cssH = Math.max(8, Math.round(m.nq * scale));
    const width = Math.min(m.nk, cssW * 2);
    const height = Math.min(m.nq, cssH * 2);
    const values = pooled(m, width, height);
    let top = -Infinity;
    let bottom = Infinity;
    for (const v of values) {
      if (v > top) top = v;
      if (v < bottom) bottom = v;
    }
    // each thumbnail to its own range, as the terminal overview does: patterns, not magnitudes
    const toUnit = DATA.diverging ? scaler(m) : (v) => (v - Math.min(0, bottom)) / (top - Math.min(0, bottom) || 1);
    const canvas = el("canvas");
    paint(canvas, values, width, height, toUnit);
    canvas.style.width = `${cssW}px`;
    canvas.style.height = `${cssH}px`;
    return canvas;
  }
  let modelBuilt = false;
  function drawModel() {
    const root = $("view-model");
    if (!modelBuilt) {
      const cols = DATA.cols.length;
      const avail = Math.max(320, root.clientWidth || window.innerWidth - 40) - 50;
      const cap = cols <= 4 ? 260 : 120;
      const size = Math.max(36, Math.min(cap, Math.floor(avail / cols) - 10));
      const grid = el("div", { className: "grid" }, root);
      grid.style.gridTemplateColumns = `auto repeat(${cols}, ${size + 4}px)`;
      el("div", {}, grid);
      for (const label of DATA.cols) el("div", { className: "label", textContent: label }, grid);
      DATA.rows.forEach((label, row) => {
        el("div", { className: "label rowlabel", textContent: label }, grid);
        DATA.cols.forEach((_, col) => {
          const m = mapAt(row, col);
          if (!m) {
            el("div", {}, grid);
            return;
          }
          const button = el("button", { className: "thumb", title: m.title, type: "button" }, grid);
          button.setAttribute("aria-label", m.title);
          button.dataset.map = String(m.index);
          button.appendChild(thumbnail(m, size));
          button.addEventListener("click", () => open(m.index));
          button.addEventListener("focus", () => markCurrent(m.index, false));
        });
      });
      el("p", { className: "hint", textContent: "Each thumbnail is one head, scaled to its own maximum. Click one to open it." }, root);
      modelBuilt = true;
    }
    markCurrent(state.current, false);
  }
  function markCurrent(index, focus) {
    state.current = index;
    for (const b of document.querySelectorAll(".thumb")) {
      const on = b.dataset.map === String(index);
      b.classList.toggle("current", on);
      if (on && focus) b.focus();
    }
  }

  // ---- pickers: layer (row) and heads (maps of the row) ------------------------------------
  function drawPickers() {
    const current = maps[state.current];
    const select = $("layer-picker");
    if (select.options.length !== DATA.rows.length) {
      select.replaceChildren(...DATA.rows.map((label, i) => el("option", { value: String(i), textContent: label })));
      select.addEventListener("change", () => {
        const target = mapAt(Number(select.value), maps[state.current].col) || rowMaps(Number(select.value))[0];
        if (target) open(target.index, state.view);
      });
    }
    select.value = String(current.row);
    select.parentElement.hidden = DATA.rows.length < 2;
    const picker = $("head-picker");
    picker.replaceChildren();
    for (const m of rowMaps(current.row)) {
      const pressed = state.view === "head" ? state.selected.has(m.index) : m.index === state.current;
      const label = DATA.rows.length > 1 && m.head !== null ? `H${m.head}` : m.title;
      const button = el("button", { type: "button", textContent: label, disabled: !sameTokens(m, current) }, picker);
      button.setAttribute("aria-pressed", String(pressed));
      button.dataset.map = String(m.index);
      if (pressed) button.style.background = state.view === "head" ? colour(m) : "var(--accent)";
      button.addEventListener("click", () => pick(m.index));
    }
    $("picker-hint").textContent = state.view === "head" ? "click heads to add or remove them" : "";
  }
  function pick(index) {
    if (state.view !== "head") {
      state.current = index;
      state.selected = new Set([index]);
    } else if (state.selected.has(index) && state.selected.size > 1) {
      state.selected.delete(index);
      if (state.current === index) state.current = [...state.selected][0];
    } else {
      state.selected.add(index);
      state.current = index;
    }
    render();
  }

  // ---- head view: two token columns joined by lines -----------------------------------------
  let head = null; // the drawn head view: geometry and the lines group
  function drawHead() {
    const root = $("view-head");
    root.replaceChildren();
    const current = maps[state.current];
    const shown = [...state.selected].map((i) => maps[i]).filter((m) => sameTokens(m, current)).sort((a, b) => a.col - b.col);
    const qseq = seqs[current.qs];
    const kseq = seqs[current.ks];
    const n = Math.max(current.nq, current.nk);
    const rowH = n > 200 ? 16 : 20;
    const measure = el("canvas").getContext("2d");
    measure.font = "13px system-ui, sans-serif";
    const widest = (labels) => Math.min(240, Math.max(64, ...labels.map((t) => measure.measureText(t).width)) + 12);
    const leftW = widest(qseq.labels);
    const rightW = widest(kseq.labels);
    const gap = Math.max(180, Math.min(360, (root.clientWidth || 900) - leftW - rightW - 40));
    const x1 = leftW + 6;
    const x2 = leftW + gap - 6;
    const top = 26;
    const height = top + n * rowH + 8;
    const wrap = el("div", { className: "headview" }, root);
    const svg = svgEl("svg", { width: leftW + gap + rightW, height, role: "img" }, wrap);
    svg.setAttribute("aria-label", `head view: ${shown.map((m) => m.title).join(", ")}`);
    svgEl("text", { x: leftW - 4, y: 10, "text-anchor": "end", class: "colhead" }, svg).textContent = "queries";
    svgEl("text", { x: leftW + gap + 4, y: 10, class: "colhead" }, svg).textContent = "keys";
    const bars = svgEl("g", { class: "bars", "pointer-events": "none" }, svg);
    const hoverBox = svgEl("rect", { class: "hover", x: 0, y: 0, width: 0, height: 0, rx: 3 }, svg);
    const lines = svgEl("g", { class: "lines" }, svg);
    const yq = (i) => top + (i + 0.5) * rowH * (n / current.nq);
    const yk = (j) => top + (j + 0.5) * rowH * (n / current.nk);
    const column = (seq, side, count, y, x, anchor) => {
      for (let i = 0; i < count; i++) {
        const cls = [seqs[seq].special[i] ? "special" : "", seqs[seq].generated[i] ? "generated" : ""].join(" ").trim();
        const hit = svgEl("rect", { class: "hit", x: side === "q" ? 0 : leftW + gap, y: y(i) - rowH / 2,
          width: side === "q" ? leftW : rightW, height: rowH }, svg);
        hit.dataset.side = side;
        hit.dataset.index = String(i);
        const text = svgEl("text", { x, y: y(i), "text-anchor": anchor, class: cls }, svg);
        text.textContent = seqs[seq].labels[i];
        text.dataset.side = side;
        text.dataset.index = String(i);
      }
    };
    column(current.qs, "q", current.nq, yq, leftW - 4, "end");
    column(current.ks, "k", current.nk, yk, leftW + gap + 4, "start");
    head = { shown, lines, bars, hoverBox, x1, x2, yq, yk, rowH, leftW, rightW, gap, current };
    svg.addEventListener("mouseover", (event) => {
      const side = event.target.dataset && event.target.dataset.side;
      if (side) setHover({ side, index: Number(event.target.dataset.index) });
    });
    svg.addEventListener("click", (event) => {
      const side = event.target.dataset && event.target.dataset.side;
      if (!side) return;
      const target = { side, index: Number(event.target.dataset.index) };
      state.pinned = state.pinned && state.pinned.side === side && state.pinned.index === target.index ? null : target;
      setHover(target);
    });
    svg.addEventListener("mouseleave", () => {
      hideTip();
      setHover(state.pinned);
    });
    lines.addEventListener("mousemove", (event) => {
      const line = event.target;
      if (line.tagName !== "line") return;
      pairTip(maps[Number(line.dataset.map)], Number(line.dataset.q), Number(line.dataset.k), event);
    });
    lines.addEventListener("mouseleave", hideTip);
    const note = qseq.labels.length * shown.length > 0 && current.nq * current.nk > ALL_LINES_UP_TO
      ? "Hover a token to draw its lines (long input: lines are drawn for one token at a time)."
      : "Hover a token to see only its lines, on either side; click it to keep them. Line opacity: weight relative to the strongest line shown.";
    el("p", { className: "hint", textContent: note }, root);
    drawLines();
  }
  function setHover(target) {
    state.hover = target;
    drawLines();
  }
  function drawLines() {
    if (!head) return;
    const { shown, lines, bars, hoverBox, x1, x2, yq, yk, rowH, current } = head;
    lines.replaceChildren();
    bars.replaceChildren();
    const target = state.hover;
    if (target) {
      const y = target.side === "q" ? yq(target.index) : yk(target.index);
      const x = target.side === "q" ? 0 : head.leftW + head.gap;
      Object.entries({ x, y: y - rowH / 2, width: target.side === "q" ? head.leftW : head.rightW, height: rowH })
        .forEach(([key, value]) => hoverBox.setAttribute(key, value));
    } else hoverBox.setAttribute("width", 0);
    if (!target && current.nq * current.nk > ALL_LINES_UP_TO) return;
    const drawn = [];
    for (const m of shown) {
      if (!target) {
        for (let i = 0; i < m.nq; i++) for (let j = 0; j < m.nk; j++) drawn.push([m, i, j, w(m, i, j)]);
      } else if (target.side === "q") {
        for (let j = 0; j < m.nk; j++) drawn.push([m, target.index, j, w(m, target.index, j)]);
      } else {
        for (let i = 0; i < m.nq; i++) drawn.push([m, i, target.index, w(m, i, target.index)]);
      }
    }
    let strongest = 0;
    for (const d of drawn) strongest = Math.max(strongest, Math.abs(d[3]));
    const floor = strongest * (target ? 0.01 : 0.05);
    // weakest first, so the strongest line is on top and takes the pointer
    const visible = drawn.filter((d) => Math.abs(d[3]) > floor).sort((a, b) => Math.abs(a[3]) - Math.abs(b[3]));
    const fragment = document.createDocumentFragment();
    for (const [m, i, j, value] of visible) {
      const strength = Math.abs(value) / (strongest || 1);
      const line = svgEl("line", { x1, y1: yq(i), x2, y2: yk(j), stroke: colour(m),
        "stroke-width": (1 + 3 * strength).toFixed(2),
        "stroke-opacity": (target ? 0.15 + 0.85 * strength : 0.7 * strength).toFixed(3) }, null);
      Object.assign(line.dataset, { map: String(m.index), q: String(i), k: String(j), w: String(value) });
      fragment.appendChild(line);
    }
    lines.appendChild(fragment);
    if (target && shown.length === 1) {
      // the other column's tokens shaded by their weight: readable even where lines crowd
      const other = target.side === "q" ? "k" : "q";
      const x = other === "k" ? head.leftW + head.gap : 0;
      const width = other === "k" ? head.rightW : head.leftW;
      for (const [m, i, j, value] of visible) {
        const y = other === "k" ? yk(j) : yq(i);
        svgEl("rect", { x, y: y - rowH / 2 + 1, width, height: rowH - 2, rx: 3, fill: colour(m),
          "fill-opacity": (0.45 * Math.abs(value) / (strongest || 1)).toFixed(3) }, bars);
      }
    }
  }

  // ---- matrix view: one head as a heatmap with labels ---------------------------------------
  function drawMatrix() {
    const root = $("view-matrix");
    root.replaceChildren();
    const m = maps[state.current];
    const qseq = seqs[m.qs];
    const kseq = seqs[m.ks];
    const measure = el("canvas").getContext("2d");
    measure.font = "12px system-ui, sans-serif";
    const widest = (labels) => Math.min(160, Math.max(...labels.map((t) => measure.measureText(t).width)) + 10);
    const availW = Math.max(300, (root.clientWidth || 900) - widest(qseq.labels) - 20);
    const availH = Math.max(300, window.innerHeight - 260);
    const cell = Math.max(1, Math.min(40, Math.floor(Math.min(availW / m.nk, Math.max(availH, 400) / m.nq))));
    const font = Math.min(12, cell - 1);
    const every = Math.max(1, Math.ceil(11 / cell));
    const left = Math.ceil(widest(qseq.labels));
    const topPad = Math.ceil(Math.min(160, widest(kseq.labels) * 0.75)) + 6;
    const width = left + m.nk * cell + 4;
    const height = topPad + m.nq * cell + 4;
    const dpr = window.devicePixelRatio || 1;
    const wrap = el("div", { className: "matrix" }, root);
    const canvas = el("canvas", { width: Math.ceil(width * dpr), height: Math.ceil(height * dpr) }, wrap);
    canvas.style.width = `${width}px`;
    canvas.style.height = `${height}px`;
    canvas.setAttribute("role", "img");
    canvas.setAttribute("aria-label", `${m.title} heatmap`);
    const ctx = canvas.getContext("2d");
    ctx.scale(dpr, dpr);
    const toUnit = scaler(m);
    const image = ctx.createImageData(m.nk, m.nq);
    for (let i = 0; i < m.nq; i++) {
      for (let j = 0; j < m.nk; j++) {
        const [r, g, b] = rgb(toUnit(w(m, i, j)));
        const p = 4 * (i * m.nk + j);
        image.data[p] = r;
        image.data[p + 1] = g;
        image.data[p + 2] = b;
        image.data[p + 3] = 255;
      }
    }
    const cells = el("canvas", { width: m.nk, height: m.nq });
    cells.getContext("2d").putImageData(image, 0, 0);
    ctx.imageSmoothingEnabled = false;
    ctx.drawImage(cells, left, topPad, m.nk * cell, m.nq * cell);
    const fg = getComputedStyle(document.documentElement).getPropertyValue("--fg").trim() || "#222";
    const muted = getComputedStyle(document.documentElement).getPropertyValue("--muted").trim() || "#666";
    if (font >= 6) {
      ctx.font = `${font}px system-ui, sans-serif`;
      ctx.textBaseline = "middle";
      ctx.textAlign = "right";
      for (let i = 0; i < m.nq; i += every) {
        ctx.fillStyle = qseq.special[i] ? muted : fg;
        ctx.fillText(clip(ctx, qseq.labels[i], left - 6), left - 4, topPad + (i + 0.5) * cell);
      }
      ctx.textAlign = "left";
      for (let j = 0; j < m.nk; j += every) {
        ctx.save();
        ctx.translate(left + (j + 0.5) * cell, topPad - 4);
        ctx.rotate(-Math.PI / 3);
        ctx.fillStyle = kseq.special[j] ? muted : fg;
        ctx.fillText(clip(ctx, kseq.labels[j], topPad * 1.1), 0, 0);
        ctx.restore();
      }
    }
    // the hovered cell's row and column, outlined on a canvas laid over the heatmap
    const overlay = el("canvas", { className: "overlay", width: canvas.width, height: canvas.height }, wrap);
    overlay.style.width = canvas.style.width;
    overlay.style.height = canvas.style.height;
    const pen = overlay.getContext("2d");
    pen.scale(dpr, dpr);
    const outline = (i, j) => {
      pen.clearRect(0, 0, width, height);
      if (i === null) return;
      pen.strokeStyle = getComputedStyle(document.documentElement).getPropertyValue("--focus").trim() || "#f59e0b";
      pen.lineWidth = 1;
      pen.globalAlpha = 0.55;
      pen.strokeRect(left + 0.5, topPad + i * cell + 0.5, m.nk * cell - 1, cell - 1);
      pen.strokeRect(left + j * cell + 0.5, topPad + 0.5, cell - 1, m.nq * cell - 1);
      pen.globalAlpha = 1;
      pen.lineWidth = 2;
      pen.strokeRect(left + j * cell, topPad + i * cell, cell, cell);
    };
    overlay.addEventListener("mousemove", (event) => {
      const box = overlay.getBoundingClientRect();
      const j = Math.floor((event.clientX - box.left - left) / cell);
      const i = Math.floor((event.clientY - box.top - topPad) / cell);
      if (i < 0 || j < 0 || i >= m.nq || j >= m.nk) {
        outline(null, null);
        return hideTip();
      }
      outline(i, j);
      pairTip(m, i, j, event);
    });
    overlay.addEventListener("mouseleave", () => {
      outline(null, null);
      hideTip();
    });
    legend(root, m);
  }
  function clip(ctx, text, room) {
    if (ctx.measureText(text).width <= room) return text;
    let cut = text;
    while (cut.length > 1 && ctx.measureText(`${cut}…`).width > room) cut = cut.slice(0, -1);
    return `${cut}…`;
  }
  function legend(root, m) {
    const row = el("div", { className: "legend" }, root);
    const toUnit = scaler(m);
    const low = DATA.diverging ? -Math.max(Math.abs(m.min), Math.abs(m.max)) : Math.min(0, m.min);
    const high = DATA.diverging ? -low : m.max;
    el("span", { textContent: fmt(low) }, row);
    const bar = el("canvas", {}, row);
    const values = Float64Array.from({ length: 160 }, (_, p) => low + ((high - low) * p) / 159);
    paint(bar, values, 160, 1, toUnit);
    bar.style.width = "160px";
    bar.style.height = "10px";
    el("span", { textContent: fmt(high) }, row);
    el("span", { textContent: `${m.title} · ${measureName}${DATA.diverging ? "" : ", colours from 0 to the head's largest"}` }, row);
  }

  // ---- text view: the text coloured by the hovered token's weights ---------------------------
  function pieces(seq) {
    const tokens = seqs[seq].tokens;
    const bpe = tokens.some((t) => t.startsWith("Ġ") || t.startsWith("▁"));
    return seqs[seq].labels.map((label, i) => {
      if (!bpe && label.startsWith("##") && label.length > 2) return { text: label.slice(2), joined: i > 0 };
      if (bpe && (label.startsWith("Ġ") || label.startsWith("▁"))) return { text: label.slice(1) || label, joined: false };
      return { text: label, joined: bpe && i > 0 && !seqs[seq].special[i] };
    });
  }
  function drawText() {
    const root = $("view-text");
    root.replaceChildren();
    const m = maps[state.current];
    const wrap = el("div", { className: "textview" }, root);
    const spans = (seq, parent, side) =>
      pieces(seq).map((piece, i) => {
        const span = el("span", { className: "tok", textContent: piece.text }, parent);
        if (piece.joined) span.classList.add("joined");
        if (seqs[seq].special[i]) span.classList.add("special");
        span.dataset.side = side;
        span.dataset.index = String(i);
        parent.appendChild(document.createTextNode(piece.joined ? "" : " "));
        return span;
      });
    const cross = m.qs !== m.ks;
    if (cross) el("h2", { textContent: "queries (hover one)" }, wrap);
    const qspans = spans(m.qs, el("div", {}, wrap), "q");
    if (cross) el("h2", { textContent: "keys" }, wrap);
    const kspans = cross ? spans(m.ks, el("div", {}, wrap), "k") : qspans;
    const caption = el("p", { className: "hint" }, root);
    const paintRow = (query) => {
      for (const s of qspans) s.classList.toggle("query", Number(s.dataset.index) === query);
      let top = 0;
      for (let j = 0; j < m.nk; j++) top = Math.max(top, Math.abs(w(m, query, j)));
      const [r, g, b] = colour(m).match(/[0-9a-f]{2}/g).map((h) => parseInt(h, 16));
      kspans.forEach((s, j) => {
        const value = w(m, query, j);
        if (DATA.diverging) {
          const colourAt = rgb(scaler(m)(value));
          s.style.background = css(colourAt);
          s.style.color = ink(colourAt);
        } else {
          // the head's colour, as opaque as the weight is strong: the words stay readable
          s.style.background = `rgba(${r},${g},${b},${(0.85 * Math.abs(value)) / (top || 1)})`;
        }
      });
      caption.textContent = `${m.title}: the text coloured by what “${seqs[m.qs].labels[query]}” (outlined) attends to; ` +
        `the strongest, ${fmt(top)}, is the top of the scale. Hover another token to move the query.`;
    };
    const firstWord = qspans.findIndex((_, i) => !seqs[m.qs].special[i]);
    if (state.textQuery === null || state.textQuery >= m.nq) state.textQuery = Math.max(0, firstWord);
    paintRow(state.textQuery);
    wrap.addEventListener("mouseover", (event) => {
      const d = event.target.dataset;
      if (d && d.side === "q") {
        state.textQuery = Number(d.index);
        paintRow(state.textQuery);
      }
    });
    wrap.addEventListener("mousemove", (event) => {
      const d = event.target.dataset;
      if (d && d.side === (cross ? "k" : "q")) pairTip(m, state.textQuery, Number(d.index), event);
      else hideTip();
    });
    wrap.addEventListener("mouseleave", hideTip);
  }

  // ---- keyboard -----------------------------------------------------------------------------
  function move(dRow, dCol) {
    const current = maps[state.current];
    const row = Math.min(DATA.rows.length - 1, Math.max(0, current.row + dRow));
    const col = Math.min(DATA.cols.length - 1, Math.max(0, current.col + dCol));
    const target = mapAt(row, col);
    if (!target) return;
    if (state.view === "model") markCurrent(target.index, true);
    else open(target.index, state.view);
  }
  document.addEventListener("keydown", (event) => {
    if (!maps.length || event.altKey || event.ctrlKey || event.metaKey) return;
    if (event.target && event.target.tagName === "SELECT") return;
    const steps = { ArrowLeft: [0, -1], ArrowRight: [0, 1], ArrowUp: [-1, 0], ArrowDown: [1, 0] };
    if (steps[event.key]) {
      event.preventDefault();
      move(...steps[event.key]);
    } else if (event.key === "Enter" && state.view === "model") {
      event.preventDefault();
      open(state.current);
    } else if (event.key === "Escape") {
      if (state.view !== "model") setView("model");
      markCurrent(state.current, true);
    } else if (["1", "2", "3", "4"].includes(event.key)) {
      setView(["model", "head", "matrix", "text"][Number(event.key) - 1]);
    }
  });

  // ---- start --------------------------------------------------------------------------------
  let drawnAt = null;
  async function start() {
    $("title").textContent = DATA.title;
    $("subtitle").textContent = DATA.subtitle;
    document.title = DATA.title;
    if (DATA.encoding.compression === "deflate" && typeof DecompressionStream !== "function") {
      $("status").textContent = "This browser cannot decompress the embedded data (it lacks DecompressionStream).";
      return;
    }
    maps = await Promise.all(DATA.maps.map(decode));
    const first = maps[0];
    const unique = (values) => [...new Set(values.filter((v) => v !== null))].sort((a, b) => a - b);
    const find = (layer, head) => {
      const m = maps.find((x) => x.layer === layer && x.head === head);
      if (!m) throw new RangeError(`layer ${layer} head ${head} is not on this page`);
      return m;
    };
    window.attnviz = Object.freeze({
      tokens: Object.freeze([...seqs[first.qs].tokens]),
      keyTokens: Object.freeze([...seqs[first.ks].tokens]),
      layers: Object.freeze(unique(maps.map((m) => m.layer))),
      heads: Object.freeze(unique(maps.map((m) => m.head))),
      maps: Object.freeze(maps.map((m) => m.title)),
      // half a quantisation step: how far any decoded weight may be from the extraction's
      precision: Math.max(...maps.map((m) => m.step / 2)),
      weight(layer, head, q, k) {
        const m = find(layer, head);
        if (!(Number.isInteger(q) && Number.isInteger(k) && q >= 0 && k >= 0 && q < m.nq && k < m.nk)) {
          throw new RangeError(`no weight at query ${q}, key ${k}`);
        }
        return w(m, q, k);
      },
      get view() {
        return state.view;
      },
      get drawnAt() {
        return drawnAt;
      },
    });
    for (const tab of document.querySelectorAll("nav button")) tab.addEventListener("click", () => setView(tab.dataset.view));
    $("status").textContent = "";
    setView(DATA.query == null ? "model" : "text"); // `show --query WORD -o page.html` opens on that word
    drawnAt = performance.now();
    document.body.dataset.ready = "true";
    let resizing = null;
    window.addEventListener("resize", () => {
      clearTimeout(resizing);
      resizing = setTimeout(() => {
        if (state.view === "model") {
          $("view-model").replaceChildren();
          modelBuilt = false;
        }
        render();
      }, 150);
    });
  }
  start().catch((error) => {
    $("status").textContent = `Could not draw the page: ${error}`;
    throw error;
  });
})();
