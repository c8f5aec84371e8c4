// The dashboard's script. Hand-written on purpose: the page must work without
// any network (no CDN for a chart library) and Shipyard has no JavaScript build
// step (no bundler), so it draws its few charts itself, as SVG. Every value is
// put in the page as text (textContent), never as markup.
"use strict";
(function () {
  const SVG = "http://www.w3.org/2000/svg";
  const COLOURS = ["#3b5bdb", "#e69f00", "#009e73", "#d55e00", "#cc79a7", "#56b4e9"];
  const W = 560, H = 220, LEFT = 56, RIGHT = 12, TOP = 10, BOTTOM = 26;
  const DATA_URL = location.pathname.replace(/\/+$/, "") + "/data";
  const $ = (id) => document.getElementById(id);
  let key = keyFromPage();
  let updates = 0;

  // A key given as #key=... is kept for the tab's session and removed from the address bar.
  function keyFromPage() {
    const found = /(?:^#|&)key=([^&]+)/.exec(location.hash);
    if (found) {
      sessionStorage.setItem("shipyard-key", decodeURIComponent(found[1]));
      history.replaceState(null, "", location.pathname + location.search);
    }
    return sessionStorage.getItem("shipyard-key");
  }

  function fmt(value, unit) {
    if (value === null || value === undefined) return "–";
    if (typeof value === "boolean") return value ? "yes" : "no";
    if (unit === "share") return (100 * value).toFixed(1) + "%";
    const size = Math.abs(value);
    if (size !== 0 && (size >= 1e7 || size < 1e-3)) return value.toExponential(2);
    if (size >= 1000) return Math.round(value).toLocaleString("en-US");
    return String(Number(value.toPrecision(4)));
  }

  function clock(t, seconds) {
    const options = {hour: "2-digit", minute: "2-digit", hour12: false};
    if (seconds) options.second = "2-digit";
    return new Date(t * 1000).toLocaleTimeString("en-GB", options);
  }

  function day(t) {
    return t === null || t === undefined ? "–"
      : new Date(t * 1000).toISOString().slice(0, 16).replace("T", " ") + " UTC";
  }

  // A round step (1, 2, 2.5 or 5 times a power of ten) that cuts ``span`` in at most 4.
  function tickStep(span) {
    const power = Math.pow(10, Math.floor(Math.log10(span / 4)));
    for (const m of [1, 2, 2.5, 5, 10]) if (span / (m * power) <= 4) return m * power;
    return 10 * power;
  }

  function svgNode(parent, name, attrs, text) {
    const node = document.createElementNS(SVG, name);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
    if (text !== undefined) node.textContent = text;
    parent.appendChild(node);
    return node;
  }

  function node(parent, name, text, className) {
    const el = document.createElement(name);
    if (text !== undefined && text !== null) el.textContent = text;
    if (className) el.className = className;
    parent.appendChild(el);
    return el;
  }

  // One chart from its spec: bars or lines over time, a reference line, bands.
  function chart(name, spec) {
    const fig = document.querySelector(`[data-chart="${name}"]`);
    fig.dataset.points = spec.points;
    fig.dataset.last = spec.last === null ? "" : String(spec.last);
    if (spec.total !== undefined) fig.dataset.total = spec.total;
    fig.querySelector(".title").textContent = spec.title;
    const last = spec.last === null ? "no data yet" : "latest " + fmt(spec.last, spec.unit);
    fig.querySelector(".last").textContent =
      spec.total !== undefined ? `${last} · ${fmt(spec.total)} in all` : last;
    const svg = fig.querySelector("svg");
    svg.replaceChildren();
    const legend = fig.querySelector(".legend");
    legend.replaceChildren();
    const points = spec.series.flatMap((s) => s.points);
    if (!points.length) {
      svgNode(svg, "text", {x: W / 2, y: H / 2, "text-anchor": "middle", class: "empty"},
              "no data yet");
      return;
    }
    const extra = (spec.bands || []).concat(spec.reference === null || spec.reference === undefined
      ? [] : [spec.reference]);
    const values = points.map((p) => p[1]).concat(extra);
    let t0 = Math.min(...points.map((p) => p[0])), t1 = Math.max(...points.map((p) => p[0]));
    if (spec.kind === "bar") t1 += spec.bucket_s;  // a bar spans its bucket
    if (t1 - t0 < 60) { t0 -= 30; t1 += 30; }
    let v0 = Math.min(0, ...values), v1 = Math.max(...values);
    if (spec.unit === "share") v1 = Math.max(v1, 1);
    if (v1 <= v0) v1 = v0 + 1;
    const step = tickStep(v1 - v0);
    v0 = Math.floor(v0 / step) * step;
    v1 = Math.ceil(v1 / step) * step;
    const x = (t) => LEFT + (t - t0) / (t1 - t0) * (W - LEFT - RIGHT);
    const y = (v) => H - BOTTOM - (v - v0) / (v1 - v0) * (H - TOP - BOTTOM);
    for (let v = v0; v <= v1 + step / 2; v += step) {
      svgNode(svg, "line", {x1: LEFT, x2: W - RIGHT, y1: y(v), y2: y(v), class: "grid"});
      svgNode(svg, "text", {x: LEFT - 6, y: y(v) + 4, "text-anchor": "end"}, fmt(v, spec.unit));
    }
    for (let i = 0; i <= 4; i++) {
      const t = t0 + (t1 - t0) * i / 4;
      svgNode(svg, "text", {x: x(t), y: H - 8, "text-anchor": i ? (i === 4 ? "end" : "middle")
        : "start"}, clock(t, t1 - t0 < 600));
    }
    svgNode(svg, "line", {x1: LEFT, x2: LEFT, y1: TOP, y2: H - BOTTOM, class: "axis"});
    for (const band of spec.bands || []) {
      svgNode(svg, "line", {x1: LEFT, x2: W - RIGHT, y1: y(band), y2: y(band), class: "band"});
    }
    if (spec.reference !== null && spec.reference !== undefined) {
      const at = y(spec.reference);
      svgNode(svg, "line", {x1: LEFT, x2: W - RIGHT, y1: at, y2: at, class: "ref"});
      svgNode(svg, "text", {x: W - RIGHT, y: at - TOP < 14 ? at + 13 : at - 4, "text-anchor": "end"},
              `${spec.reference_label} ${fmt(spec.reference, spec.unit)}`);
    }
    spec.series.forEach((s, i) => {
      const colour = COLOURS[i % COLOURS.length];
      if (!s.points.length) return;
      const swatch = node(legend, "span", null);
      node(swatch, "i").style.background = colour;
      swatch.appendChild(document.createTextNode(s.name));
      if (spec.kind === "bar") {
        const width = Math.max(1, x(t0 + spec.bucket_s) - x(t0) - 1);
        for (const [t, v] of s.points) {
          svgNode(svg, "rect", {x: x(t), y: y(v), width, height: Math.max(0, y(0) - y(v)),
                                fill: colour}, undefined);
        }
        return;
      }
      const path = s.points.map(([t, v], k) => `${k ? "L" : "M"}${x(t)},${y(v)}`).join(" ");
      svgNode(svg, "path", {d: path, fill: "none", stroke: colour, "stroke-width": 2});
      if (s.points.length <= 60) {
        for (const [t, v] of s.points) svgNode(svg, "circle", {cx: x(t), cy: y(v), r: 2.5, fill: colour});
      }
    });
  }

  function card(parent, name, label, value, note, tone) {
    const el = node(parent, "div", null, "card");
    el.dataset.card = name;
    node(el, "div", label, "card-label");
    node(el, "div", value, "card-value" + (tone ? " " + tone : ""));
    if (note) node(el, "div", note, "card-note");
  }

  function table(id, columns, rows) {
    const holder = $(id);
    holder.replaceChildren();
    const t = node(holder, "table");
    const head = node(node(t, "thead"), "tr");
    for (const [title] of columns) node(head, "th", title);
    const body = node(t, "tbody");
    if (!rows.length) {
      const cell = node(node(body, "tr"), "td", "none yet", "none");
      cell.colSpan = columns.length;
    }
    for (const row of rows) {
      const tr = node(body, "tr");
      for (const [, value, kind] of columns) {
        const got = value(row);
        if (got instanceof Node) node(tr, "td").appendChild(got);
        else node(tr, "td", got, kind === "num" ? "num" : "");
      }
    }
  }

  function badge(text, tone) {
    const el = document.createElement("span");
    el.className = "badge " + tone;
    el.textContent = text;
    return el;
  }

  function draw(data) {
    const c = data.champion, s = data.summary, perf = data.charts.performance;
    $("champion-line").textContent = c ? `Champion: version ${c.version} (`
      + `${c.estimator ? c.estimator + ", " : ""}${c.task}), served on the ${c.path} path`
      : "No champion loaded";
    for (const name of Object.keys(data.charts)) chart(name, data.charts[name]);
    const cards = $("cards");
    cards.replaceChildren();
    card(cards, "requests", "requests", fmt(s.requests), "in the traffic window");
    card(cards, "dataset-drift", "dataset drift", s.dataset_drift === null ? "–"
      : (s.dataset_drift ? "yes" : "no"), s.drifted.length ? s.drifted.slice(0, 4).join(", ")
      : "no feature drifted", s.dataset_drift ? "bad" : (s.dataset_drift === false ? "good" : ""));
    card(cards, "drift-share", "drifted share", fmt(s.drift_share, "share"), "of the features");
    const live = perf.series[0].points, estimated = perf.series[1].points;
    card(cards, "live", "live " + perf.unit, live.length ? fmt(live[live.length - 1][1]) : "–",
         s.labelled ? `${fmt(s.labelled)} labelled rows` : "no labels yet");
    card(cards, "estimated", "estimated " + perf.unit,
         estimated.length ? fmt(estimated[estimated.length - 1][1]) : "–", "from scores");
    card(cards, "reference", "reference " + perf.unit, fmt(perf.reference), "champion's holdout");
    card(cards, "passes", "monitoring passes", fmt(s.passes),
         s.last_pass ? "last " + day(s.last_pass) : "none yet");
    const findings = $("findings");
    findings.replaceChildren();
    const items = data.errors.map((e) => ["error", "bad", e])
      .concat(s.problems.map((p) => ["quality", "warn", p]))
      .concat(s.notes.map((n) => ["note", "info", n]));
    if (s.window_rows !== null) items.unshift(["window", "info", `${fmt(s.window_rows)} logged rows`]);
    if (!items.length) node(findings, "li", "No monitoring pass yet.");
    for (const [what, tone, text] of items) {
      const li = node(findings, "li");
      li.appendChild(badge(what, tone));
      li.appendChild(document.createTextNode(text));
    }
    table("features-table", [
      ["feature", (f) => f.feature], ["method", (f) => f.method],
      ["statistic", (f) => fmt(f.statistic), "num"], ["threshold", (f) => fmt(f.threshold), "num"],
      ["drifted", (f) => badge(f.drifted ? "drifted" : "no", f.drifted ? "bad" : "good")],
      ["PSI", (f) => fmt(f.psi), "num"], ["band", (f) => f.psi_band || "–"],
    ], data.features);
    table("decisions-table", [
      ["when", (d) => day(d.at)], ["triggered", (d) => fmt(d.triggered)],
      ["reasons", (d) => d.reasons.join("; ") || "–"],
      ["champion", (d) => d.champion || "–"], ["challenger", (d) => d.challenger || "–"],
      ["champion score", (d) => fmt(d.champion_score), "num"],
      ["challenger score", (d) => fmt(d.challenger_score), "num"],
      ["outcome", (d) => badge(d.outcome || "–", d.promoted ? "good"
        : (String(d.outcome).startsWith("failed") ? "bad" : "info"))],
    ], data.decisions);
    table("versions-table", [
      ["version", (v) => v.version], ["created", (v) => day(v.created)],
      ["aliases", (v) => v.aliases.join(", ") || "–"],
      ["metrics", (v) => Object.entries(v.metrics).map(([k, m]) => `${k} ${fmt(m)}`).join(", ")],
      ["history", (v) => v.notes.join("; ") || "–"],
    ], data.versions);
    table("served-table", [
      ["version", (v) => v.version], ["path", (v) => v.path || "–"], ["run", (v) => v.run_id || "–"],
    ], data.served);
    updates += 1;
    document.body.dataset.updates = updates;
    document.body.dataset.state = "ready";
    status(`updated ${clock(data.generated, true)}`, false);
  }

  function status(text, error) {
    const el = $("status");
    el.textContent = text;
    el.className = "status" + (error ? " error" : "");
  }

  function askForKey(code) {
    document.body.dataset.state = "key";
    $("key-form").hidden = false;
    status(code === 401 ? "an API key is needed" : "that key was refused", true);
  }

  $("key-form").addEventListener("submit", (event) => {
    event.preventDefault();
    key = $("key-input").value.trim();
    sessionStorage.setItem("shipyard-key", key);
    $("key-form").hidden = true;
    refresh();
  });

  let timer = null;
  async function refresh() {
    clearTimeout(timer);
    let wait = 5;
    try {
      const answer = await fetch(DATA_URL, {headers: key ? {"X-API-Key": key} : {},
                                            cache: "no-store"});
      if (answer.status === 401 || answer.status === 403) return askForKey(answer.status);
      if (!answer.ok) throw new Error(`the server answered ${answer.status}`);
      const data = await answer.json();
      draw(data);
      wait = data.refresh_s;
    } catch (err) {
      status(`cannot update: ${err.message}`, true);
    }
    timer = setTimeout(refresh, wait * 1000);
  }
  refresh();
})();
