/* app.js - the explorer dashboard (served at /ui/app.js by src/collector/ui.c).
 *
 * Reads the collector's explorer API (OONI's shapes: /api/v1/aggregation, /api/v1/measurements,
 * /api/v1/measurement/{uid}; ours: /api/v1/detector/changepoints and /events) and draws the
 * dashboard for the country / network (ASN) / domain kept in the URL's hash
 * (#cc=PK&asn=64500&domain=example.com&since=...&until=...&m=UID), so a link is shareable.
 *
 * Every string from the API is hostile: the DOM is built with createElement(NS) and
 * textContent / setAttribute only (never an API that parses a string as HTML), URLs are
 * shown as text, and the only links go to this collector's own paths, built with
 * encodeURIComponent / URLSearchParams. The page's CSP (default-src 'self', no inline script)
 * is the second line of defence, not the first. */
'use strict';
(function () {
  const API = '/api/v1/';
  const SVGNS = 'http://www.w3.org/2000/svg';
  const MAX_TEXT = 300; /* characters of a hostile string shown in a table cell */
  const LIST_LIMIT = 50;

  /* ---- DOM helpers: text only --------------------------------------------------------- */
  /* el('td', {class: 'num'}, 'text', node, ...): attributes via setAttribute, children are
   * text (strings, numbers) or nodes. Attribute names are constants of this file; values may
   * be hostile (setAttribute does not parse them). */
  function build(node, attrs, kids) {
    if (attrs) {
      for (const k of Object.keys(attrs)) {
        const v = attrs[k];
        if (v === undefined || v === null || v === false) continue;
        node.setAttribute(k, v === true ? '' : String(v));
      }
    }
    for (const c of kids) {
      if (c === undefined || c === null || c === false) continue;
      node.appendChild(typeof c === 'object' ? c : document.createTextNode(String(c)));
    }
    return node;
  }
  function el(tag, attrs, ...kids) { return build(document.createElement(tag), attrs, kids); }
  function sv(tag, attrs, ...kids) { return build(document.createElementNS(SVGNS, tag), attrs, kids); }
  function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); return node; }
  function $(id) { return document.getElementById(id); }
  /* A hostile string for display: a string, cut to max characters (the full text stays in
   * the title attribute when cut). */
  function str(v) {
    if (v === undefined || v === null) return '';
    return typeof v === 'string' ? v : (typeof v === 'object' ? JSON.stringify(v) : String(v));
  }
  function cut(v, max) {
    const s = str(v);
    const m = max || MAX_TEXT;
    return s.length <= m ? s : s.slice(0, m) + '…';
  }
  function textCell(v, cls, max) {
    const s = str(v);
    const td = el('td', { class: cls || null }, cut(s, max));
    if (s.length > (max || MAX_TEXT)) td.setAttribute('title', s.slice(0, 4000));
    return td;
  }
  function numCell(n) { return el('td', { class: 'num' }, String(n)); }
  function pct(a, b) { return b > 0 ? (100 * a / b).toFixed(1) + '%' : '–'; }
  function num(v) { const n = Number(v); return Number.isFinite(n) ? n : 0; }
  function asn(v) { return str(v).replace(/^AS/i, ''); }
  /* "2026-12-03T05:00:00Z" / "2026-12-03 05:00:00" -> "2026-12-03 05:00" (UTC); others as they are */
  function when(v) {
    const t = str(v);
    const m = /^(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2})(:\d{2}(\.\d+)?)?(Z|[+-]00(:?00)?)?$/.exec(t);
    return m ? m[1] + ' ' + m[2] : t;
  }
  function empty(text) { return el('p', { class: 'empty' }, text); }
  function scroll(table) { return el('div', { class: 'scroll' }, table); }
  function table(id, caption, heads, rows) {
    const t = el('table', { id: id });
    if (caption) t.appendChild(el('caption', null, caption));
    t.appendChild(el('thead', null, el('tr', null, ...heads.map(h =>
      el('th', { scope: 'col', class: h.num ? 'num' : null }, h.label || h)))));
    t.appendChild(el('tbody', null, ...rows));
    return scroll(t);
  }

  /* ---- state in the URL's hash --------------------------------------------------------- */
  const KEYS = ['cc', 'asn', 'domain', 'since', 'until', 'm', 'off'];
  function readHash() {
    const p = new URLSearchParams(location.hash.replace(/^#/, ''));
    const s = {};
    for (const k of KEYS) s[k] = (p.get(k) || '').slice(0, 2048);
    s.cc = s.cc.toUpperCase();
    s.asn = asn(s.asn);
    s.off = Math.max(0, Math.floor(num(s.off)));
    return s;
  }
  function hashOf(s) {
    const p = new URLSearchParams();
    for (const k of KEYS) if (s[k]) p.set(k, String(s[k]));
    return '#' + p.toString();
  }
  function go(changes) {
    const s = Object.assign(readHash(), changes);
    const h = hashOf(s);
    if (h === location.hash || (h === '#' && !location.hash)) load();
    else location.hash = h;
  }

  /* Filters of the API (OONI's parameter names) for a state. */
  function filters(s, opts) {
    const f = {};
    if (s.cc) f.probe_cc = s.cc;
    if (s.asn && !(opts && opts.noAsn)) f.probe_asn = s.asn;
    if (s.domain && !(opts && opts.noDomain)) f.domain = s.domain;
    if (s.since) f.since = s.since;
    if (s.until) f.until = s.until;
    return f;
  }

  /* ---- API ------------------------------------------------------------------------------ */
  async function getJSON(path, params) {
    const q = params ? new URLSearchParams(params).toString() : '';
    const r = await fetch(API + path + (q ? '?' + q : ''),
      { headers: { Accept: 'application/json' }, credentials: 'same-origin' });
    if (!r.ok) {
      let why = '';
      try { const j = await r.json(); why = str(j && j.error); } catch (e) { why = ''; }
      throw new Error('HTTP ' + r.status + (why ? ': ' + cut(why, 200) : ''));
    }
    return r.json();
  }
  async function aggregate(f, axisX, axisY) {
    const p = Object.assign({}, f);
    if (axisX) p.axis_x = axisX;
    if (axisY) p.axis_y = axisY;
    if (axisX === 'measurement_start_day' || axisY === 'measurement_start_day') p.time_grain = 'day';
    const j = await getJSON('aggregation', p);
    const r = j && j.result;
    if (Array.isArray(r)) return r;
    return r && typeof r === 'object' ? [r] : [];
  }
  /* OONI's counts: anomaly_count excludes the confirmed ones, so blocked = both. */
  function counts(row) {
    return {
      total: num(row.measurement_count), ok: num(row.ok_count), fail: num(row.failure_count),
      blocked: num(row.anomaly_count) + num(row.confirmed_count), confirmed: num(row.confirmed_count),
    };
  }

  /* ---- names, colours and patterns -------------------------------------------------------- */
  const CATEGORY = {
    ALDR: 'Alcohol & drugs', REL: 'Religion', PORN: 'Pornography', PROV: 'Provocative attire',
    POLR: 'Political criticism', HUMR: 'Human rights', ENV: 'Environment', MILX: 'Terrorism & militants',
    HATE: 'Hate speech', NEWS: 'News media', XED: 'Sex education', PUBH: 'Public health',
    GMB: 'Gambling', ANON: 'Anonymization & circumvention', DATE: 'Online dating',
    GRP: 'Social networking', LGBT: 'LGBTQ+', FILE: 'File sharing', HACK: 'Hacking tools',
    COMT: 'Communication tools', MMED: 'Media sharing', HOST: 'Hosting & blogging',
    SRCH: 'Search engines', GAME: 'Gaming', CULTR: 'Culture', ECON: 'Economics',
    GOVT: 'Government', COMM: 'E-commerce', CTRL: 'Control content', IGO: 'Intergovernmental orgs',
    MISC: 'Miscellaneous',
  };
  function categoryLabel(code) {
    const c = str(code);
    if (!c) return 'uncategorised';
    return Object.prototype.hasOwnProperty.call(CATEGORY, c) ? CATEGORY[c] + ' (' + c + ')' : c;
  }
  const METHOD_COLOUR = {
    dns: '#c0392b', tcp_ip: '#d35400', tls: '#8e44ad', http_failure: '#a0522d',
    blockpage: '#d63384', http_diff: '#d63384', throttled: '#1f618d', blocked: '#5d6d7e',
  };
  const PALETTE = ['#b7950b', '#117a65', '#6c3483', '#1a5276', '#7b241c', '#616a6b'];
  const PATTERNS = ['diag', 'dots', 'cross', 'vert', 'rdiag', 'grid', 'horiz'];
  const METHOD_TEXT = {
    dns: 'DNS', tcp_ip: 'TCP/IP', tls: 'TLS', http_failure: 'HTTP failure', blockpage: 'blockpage',
    http_diff: 'HTTP diff', throttled: 'throttled', blocked: 'blocked',
  };
  function methodLabel(m) {
    const s = str(m);
    return Object.prototype.hasOwnProperty.call(METHOD_TEXT, s) ? METHOD_TEXT[s] : s;
  }
  /* Series of a by-method chart: reachable, one per method, no verdict. */
  function seriesFor(methods) {
    const out = [{ key: 'ok', label: 'reachable', colour: '#1e8449', pattern: 'solid' }];
    methods.forEach((m, i) => out.push({
      key: 'method:' + m, label: m === '' ? 'blocked (method unknown)' : 'blocked: ' + cut(methodLabel(m), 60),
      colour: METHOD_COLOUR[m] || PALETTE[i % PALETTE.length], pattern: PATTERNS[i % PATTERNS.length],
    }));
    out.push({ key: 'failure', label: 'no verdict', colour: '#95a5a6', pattern: 'horiz' });
    return out;
  }
  function patternDef(id, colour, kind) {
    const p = sv('pattern', { id: id, patternUnits: 'userSpaceOnUse', width: 8, height: 8 },
      sv('rect', { width: 8, height: 8, fill: colour }));
    const line = d => p.appendChild(sv('path', { d: d, stroke: '#ffffff', 'stroke-width': 1.6, fill: 'none' }));
    if (kind === 'diag') line('M-2,2 L2,-2 M0,8 L8,0 M6,10 L10,6');
    else if (kind === 'rdiag') line('M-2,6 L2,10 M0,0 L8,8 M6,-2 L10,2');
    else if (kind === 'cross') { line('M0,8 L8,0'); line('M0,0 L8,8'); }
    else if (kind === 'vert') line('M4,0 L4,8');
    else if (kind === 'horiz') line('M0,4 L8,4');
    else if (kind === 'grid') line('M4,0 L4,8 M0,4 L8,4');
    else if (kind === 'dots') p.appendChild(sv('circle', { cx: 4, cy: 4, r: 1.8, fill: '#ffffff' }));
    return p;
  }
  let uniq = 0;
  function fills(series) {
    const defs = sv('defs');
    const base = 'pat' + (++uniq);
    series.forEach((s, i) => { s.fill = 'url(#' + base + '-' + i + ')'; defs.appendChild(patternDef(base + '-' + i, s.colour, s.pattern)); });
    return defs;
  }
  function legend(series) {
    return el('ul', { class: 'legend' }, ...series.map(s => el('li', { 'data-series': s.key },
      sv('svg', { viewBox: '0 0 18 14', 'aria-hidden': 'true', focusable: 'false' },
        sv('rect', { width: 18, height: 14, fill: s.fill })), s.label)));
  }
  function niceMax(v) {
    if (v <= 5) return Math.max(1, v);
    const p = Math.pow(10, Math.floor(Math.log10(v)));
    for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
    return v;
  }
  function isDay(s) { return /^\d{4}-\d{2}-\d{2}/.test(s); }
  function dayOf(s) { return str(s).slice(0, 10); }
  /* Every day from a to b (YYYY-MM-DD, inclusive), at most 400. */
  function daysBetween(a, b) {
    const out = [];
    let t = Date.parse(a + 'T00:00:00Z');
    const end = Date.parse(b + 'T00:00:00Z');
    if (!Number.isFinite(t) || !Number.isFinite(end)) return out;
    while (t <= end && out.length < 400) { out.push(new Date(t).toISOString().slice(0, 10)); t += 86400000; }
    return out;
  }

  /* ---- stacked bar chart (x: categories, y: counts) ------------------------------------- */
  function stackedBars(id, title, xs, series, value, xLabel) {
    const W = 720, H = 250, L = 46, R = 10, T = 12, B = 42;
    const pw = W - L - R, ph = H - T - B;
    const totals = xs.map(x => series.reduce((a, s) => a + value(x, s.key), 0));
    const ymax = niceMax(Math.max(0, ...totals));
    const svg = sv('svg', { class: 'chart wide', id: id, viewBox: '0 0 ' + W + ' ' + H, role: 'img',
      'aria-labelledby': id + '-t' });
    svg.appendChild(sv('title', { id: id + '-t' }, title));
    svg.appendChild(fills(series));
    svg.appendChild(sv('rect', { class: 'bg', x: L, y: T, width: pw, height: ph }));
    for (let i = 0; i <= 4; i++) {
      const v = ymax * i / 4, y = T + ph - ph * i / 4;
      svg.appendChild(sv('line', { class: 'grid', x1: L, x2: L + pw, y1: y, y2: y }));
      svg.appendChild(sv('text', { x: L - 5, y: y + 4, 'text-anchor': 'end' },
        Number.isInteger(v) ? String(v) : v.toFixed(1)));
    }
    const slot = pw / Math.max(1, xs.length), bw = Math.max(1, slot * 0.78);
    const every = Math.max(1, Math.ceil(xs.length / 12));
    xs.forEach((x, i) => {
      const g = sv('g', { class: 'bar', 'data-x': x, 'data-total': totals[i] });
      let y = T + ph;
      const bx = L + i * slot + (slot - bw) / 2;
      for (const s of series) {
        const n = value(x, s.key);
        if (n <= 0) continue;
        const h = ph * n / ymax;
        y -= h;
        g.appendChild(sv('rect', { class: 'seg', x: bx.toFixed(2), y: y.toFixed(2), width: bw.toFixed(2),
          height: h.toFixed(2), fill: s.fill, 'data-series': s.key, 'data-value': n },
          sv('title', null, xLabel(x) + ' — ' + s.label + ': ' + n)));
      }
      svg.appendChild(g);
      if (i % every === 0) {
        svg.appendChild(sv('text', { x: (L + i * slot + slot / 2).toFixed(2), y: T + ph + 16,
          'text-anchor': 'middle' }, cut(xLabel(x), 12)));
      }
    });
    svg.appendChild(sv('line', { class: 'axis', x1: L, x2: L, y1: T, y2: T + ph }));
    svg.appendChild(sv('line', { class: 'axis', x1: L, x2: L + pw, y1: T + ph, y2: T + ph }));
    svg.appendChild(sv('text', { x: L + pw / 2, y: H - 6, 'text-anchor': 'middle' },
      'UTC day (measurements per day)'));
    return svg;
  }

  /* ---- sections --------------------------------------------------------------------------- */
  function setStatus(text, err) {
    const s = $('status');
    s.textContent = text;
    s.className = 'status' + (err ? ' err' : '');
  }
  function failed(node, what, e) {
    clear(node).appendChild(el('p', { class: 'empty err' }, 'Could not load ' + what + ': ' + cut(e && e.message, 240)));
  }
  function section(id, show) { const s = $(id); if (s) s.hidden = !show; }

  function renderSummary(rows) {
    const c = rows.reduce((a, r) => { const k = counts(r); for (const x of Object.keys(a)) a[x] += k[x]; return a; },
      { total: 0, ok: 0, blocked: 0, confirmed: 0, fail: 0 });
    const card = (k, cls, n, label) => el('div', { class: 'card ' + cls, 'data-k': k },
      el('span', { class: 'n' }, String(n)), el('span', { class: 'l' }, label));
    clear($('summary')).append(
      card('measurements', '', c.total, 'measurements'),
      card('blocked', 'blocked', c.blocked, 'blocked (' + pct(c.blocked, c.total) + ')'),
      card('confirmed', 'blocked', c.confirmed, 'confirmed by a blockpage fingerprint'),
      card('ok', 'ok', c.ok, 'reachable'),
      card('failure', 'fail', c.fail, 'no verdict (data did not support one)'));
    return c.total;
  }

  function renderTime(rows, s) {
    const box = clear($('chart-time'));
    if (!rows.length) { box.appendChild(empty('No measurements in this range.')); return; }
    const v = new Map(); /* day -> key -> n */
    const mtot = new Map();
    const add = (d, k, n) => { if (!v.has(d)) v.set(d, new Map()); const m = v.get(d); m.set(k, (m.get(k) || 0) + n); };
    for (const r of rows) {
      const d = dayOf(r.measurement_start_day), c = counts(r);
      const m = r.blocking_type === undefined || r.blocking_type === null ? '' : str(r.blocking_type);
      add(d, 'ok', c.ok);
      add(d, 'failure', c.fail);
      if (c.blocked > 0) { add(d, 'method:' + m, c.blocked); mtot.set(m, (mtot.get(m) || 0) + c.blocked); }
    }
    const methods = [...mtot.keys()].sort((a, b) => mtot.get(b) - mtot.get(a) || (a < b ? -1 : 1));
    const series = seriesFor(methods);
    let days = [...v.keys()].sort();
    if (days.every(isDay)) {
      const first = s.since && isDay(s.since) ? s.since : days[0];
      let last = days[days.length - 1];
      if (s.until && isDay(s.until)) {
        const u = new Date(Date.parse(s.until + 'T00:00:00Z') - 86400000).toISOString().slice(0, 10);
        if (u > last) last = u;
      }
      const all = daysBetween(first < days[0] ? first : days[0], last);
      if (all.length && all.length <= 400) days = all;
    }
    const value = (d, k) => (v.get(d) && v.get(d).get(k)) || 0;
    const title = 'Measurements per day by blocking method' + where(s);
    const chart = stackedBars('chart-time-svg', title, days, series, value, d => d.slice(5));
    box.append(el('figure', null, el('div', { class: 'scroll' }, chart), legend(series)));
    /* the same numbers as a table (readable without colour, and by screen readers) */
    const heads = [{ label: 'Day' }].concat(series.map(x => ({ label: x.label, num: true })), [{ label: 'Total', num: true }]);
    const trs = days.map(d => el('tr', { 'data-x': d }, el('th', { scope: 'row' }, d),
      ...series.map(x => el('td', { class: 'num', 'data-series': x.key }, String(value(d, x.key)))),
      numCell(series.reduce((a, x) => a + value(d, x.key), 0))));
    box.appendChild(el('details', null, el('summary', null, 'Numbers by day'),
      table('t-time', title, heads, trs)));
    const csv = new URLSearchParams(Object.assign(filters(s), { axis_x: 'measurement_start_day', axis_y: 'blocking_type',
      time_grain: 'day', format: 'CSV', download: 'true' }));
    box.appendChild(el('p', { class: 'note' }, 'Download these numbers: ',
      el('a', { href: '/api/v1/aggregation?' + csv.toString() }, 'CSV'), ' (from the aggregation API).'));
  }

  function where(s) {
    const parts = [];
    if (s.cc) parts.push(s.cc);
    if (s.asn) parts.push('AS' + s.asn);
    if (s.domain) parts.push(s.domain);
    return parts.length ? ' (' + parts.join(', ') + ')' : '';
  }

  function renderCategories(rows, s) {
    const box = clear($('chart-cat'));
    if (!rows.length) { box.appendChild(empty('No measurements in this range.')); return; }
    const items = rows.map(r => ({ code: r.category_code === null || r.category_code === undefined ? '' : str(r.category_code), c: counts(r) }));
    items.sort((a, b) => (b.c.blocked / Math.max(1, b.c.total)) - (a.c.blocked / Math.max(1, a.c.total)) ||
      b.c.total - a.c.total || (a.code < b.code ? -1 : 1));
    const series = [
      { key: 'blocked', label: 'blocked', colour: '#c0392b', pattern: 'diag' },
      { key: 'ok', label: 'reachable', colour: '#1e8449', pattern: 'solid' },
      { key: 'failure', label: 'no verdict', colour: '#95a5a6', pattern: 'horiz' },
    ];
    const shown = items.slice(0, 40);
    const W = 720, rowH = 22, L = 210, R = 120, T = 6;
    const H = T * 2 + rowH * shown.length;
    const svg = sv('svg', { class: 'chart wide', id: 'chart-cat-svg', viewBox: '0 0 ' + W + ' ' + H, role: 'img',
      'aria-labelledby': 'chart-cat-t' });
    svg.appendChild(sv('title', { id: 'chart-cat-t' }, 'Share of measurements blocked, by category' + where(s)));
    svg.appendChild(fills(series));
    const pw = W - L - R;
    shown.forEach((it, i) => {
      const y = T + i * rowH;
      const g = sv('g', { class: 'bar', 'data-x': it.code, 'data-total': it.c.total });
      g.appendChild(sv('text', { x: L - 6, y: y + 15, 'text-anchor': 'end' }, cut(categoryLabel(it.code), 28)));
      let x = L;
      for (const ser of series) {
        const n = ser.key === 'blocked' ? it.c.blocked : ser.key === 'ok' ? it.c.ok : it.c.fail;
        if (n <= 0) continue;
        const w = pw * n / Math.max(1, it.c.total);
        g.appendChild(sv('rect', { class: 'seg', x: x.toFixed(2), y: y + 3, width: w.toFixed(2), height: rowH - 6,
          fill: ser.fill, 'data-series': ser.key, 'data-value': n },
          sv('title', null, categoryLabel(it.code) + ' — ' + ser.label + ': ' + n + ' of ' + it.c.total)));
        x += w;
      }
      g.appendChild(sv('text', { x: L + pw + 6, y: y + 15 }, pct(it.c.blocked, it.c.total) + ' of ' + it.c.total));
      svg.appendChild(g);
    });
    box.append(el('figure', null, el('div', { class: 'scroll' }, svg), legend(series)));
    if (items.length > shown.length) box.appendChild(el('p', { class: 'note' }, 'The chart shows the first ' + shown.length + ' of ' + items.length + ' categories; the table has all.'));
    const trs = items.map(it => el('tr', { 'data-cat': it.code }, textCell(categoryLabel(it.code)),
      numCell(it.c.total), numCell(it.c.blocked), numCell(it.c.ok), numCell(it.c.fail), numCell(pct(it.c.blocked, it.c.total))));
    box.appendChild(table('t-cat', 'By category' + where(s),
      ['Category', { label: 'Measurements', num: true }, { label: 'Blocked', num: true }, { label: 'Reachable', num: true },
        { label: 'No verdict', num: true }, { label: 'Blocked share', num: true }], trs));
  }

  function renderIsp(byDay, byMethod, s) {
    const box = clear($('isp'));
    const isps = new Map(); /* asn -> {c, days: Map, methods: Map} */
    const get = a => { if (!isps.has(a)) isps.set(a, { total: 0, ok: 0, fail: 0, blocked: 0, days: new Map(), methods: new Map() }); return isps.get(a); };
    for (const r of byDay) {
      const it = get(asn(r.probe_asn)), c = counts(r);
      it.total += c.total; it.ok += c.ok; it.fail += c.fail; it.blocked += c.blocked;
      const d = dayOf(r.measurement_start_day);
      const dd = it.days.get(d) || { total: 0, blocked: 0 };
      dd.total += c.total; dd.blocked += c.blocked; it.days.set(d, dd);
    }
    for (const r of byMethod) {
      const c = counts(r);
      if (c.blocked <= 0) continue;
      const it = get(asn(r.probe_asn));
      const m = r.blocking_type === null || r.blocking_type === undefined ? '' : str(r.blocking_type);
      it.methods.set(m, (it.methods.get(m) || 0) + c.blocked);
    }
    if (!isps.size) { box.appendChild(empty('No measurements in this range.')); return; }
    const list = [...isps.entries()].sort((a, b) => b[1].blocked / Math.max(1, b[1].total) - a[1].blocked / Math.max(1, a[1].total) || b[1].total - a[1].total);
    const trs = list.map(([a, it]) => {
      const ms = [...it.methods.entries()].sort((x, y) => y[1] - x[1]).map(([m, n]) => (m === '' ? 'unknown' : methodLabel(m)) + ' ' + n).join(', ');
      const link = el('a', { href: hashOf(Object.assign(readHash(), { asn: a, m: '', off: 0 })) }, 'AS' + a);
      return el('tr', { 'data-asn': a, class: a === s.asn ? 'sel' : null, 'aria-current': a === s.asn ? 'true' : null },
        el('th', { scope: 'row' }, link, a === s.asn ? ' (selected)' : ''), numCell(it.total), numCell(it.blocked),
        numCell(it.ok), numCell(it.fail), numCell(pct(it.blocked, it.total)), textCell(ms || '–'));
    });
    box.appendChild(table('t-isp', 'Per network' + where(Object.assign({}, s, { asn: '' })),
      ['Network', { label: 'Measurements', num: true }, { label: 'Blocked', num: true }, { label: 'Reachable', num: true },
        { label: 'No verdict', num: true }, { label: 'Blocked share', num: true }, 'Blocking methods (blocked measurements)'], trs));
    /* small multiples: blocked share per day, same x scale for every network */
    let days = [...new Set(byDay.map(r => dayOf(r.measurement_start_day)))].sort();
    if (days.length && days.every(isDay)) { const all = daysBetween(days[0], days[days.length - 1]); if (all.length) days = all; }
    const grid = el('div', { class: 'multiples', id: 'isp-multiples' });
    for (const [a, it] of list.slice(0, 48)) {
      const W = 200, H = 64, T = 4, B = 14, ph = H - T - B;
      const svg = sv('svg', { class: 'chart', viewBox: '0 0 ' + W + ' ' + H, role: 'img', 'aria-label':
        'AS' + a + ': share of measurements blocked per day, ' + pct(it.blocked, it.total) + ' overall' });
      svg.appendChild(sv('rect', { class: 'bg', x: 0, y: T, width: W, height: ph }));
      const slot = W / Math.max(1, days.length);
      days.forEach((d, i) => {
        const dd = it.days.get(d);
        if (!dd || !dd.total) return;
        const h = ph * dd.blocked / dd.total;
        svg.appendChild(sv('rect', { class: 'seg', x: (i * slot + slot * 0.1).toFixed(2), y: (T + ph - h).toFixed(2),
          width: Math.max(0.5, slot * 0.8).toFixed(2), height: Math.max(h, 0.5).toFixed(2), fill: h > 0 ? '#c0392b' : '#1e8449',
          'data-x': d, 'data-blocked': dd.blocked, 'data-total': dd.total },
          sv('title', null, 'AS' + a + ' ' + d + ': ' + dd.blocked + ' of ' + dd.total + ' blocked')));
      });
      svg.appendChild(sv('line', { class: 'axis', x1: 0, x2: W, y1: T + ph, y2: T + ph }));
      svg.appendChild(sv('text', { x: 0, y: H - 2 }, days.length ? days[0].slice(5) : ''));
      svg.appendChild(sv('text', { x: W, y: H - 2, 'text-anchor': 'end' }, days.length ? days[days.length - 1].slice(5) : ''));
      grid.appendChild(el('figure', { 'data-asn': a }, el('figcaption', null, 'AS' + a + ' — ' + pct(it.blocked, it.total) + ' blocked'), svg));
    }
    box.appendChild(el('h3', null, 'Blocked share per day, per network'));
    box.appendChild(grid);
  }

  function tsOf(r) { return str(r.ts || r.ts_first || r.time || r.start || r.hour || ''); }
  function methodsOf(r) {
    const m = Array.isArray(r.blocking_types) ? r.blocking_types : [r.blocking_type];
    return m.filter(x => x !== undefined && x !== null).map(methodLabel).join(', ');
  }
  function renderAlerts(cps, evs, s) {
    const box = clear($('alerts'));
    if (cps.err) box.appendChild(el('p', { class: 'empty' }, 'Change points: ' + cps.err));
    if (evs.err) box.appendChild(el('p', { class: 'empty' }, 'Country-wide events: ' + evs.err));
    const items = [];
    for (const r of cps.rows) items.push({ kind: 'changepoint', ts: tsOf(r), lane: 'AS' + asn(r.probe_asn), r: r });
    for (const r of evs.rows) items.push({ kind: 'event', ts: tsOf(r), lane: 'country-wide', r: r });
    if (!items.length) {
      if (!cps.err && !evs.err) box.appendChild(empty('No alerts in this range.'));
      return;
    }
    items.sort((a, b) => (a.ts < b.ts ? -1 : a.ts > b.ts ? 1 : 0));
    const times = items.map(i => Date.parse(i.ts)).filter(Number.isFinite);
    let t0 = s.since ? Date.parse(s.since + 'T00:00:00Z') : NaN, t1 = s.until ? Date.parse(s.until + 'T00:00:00Z') : NaN;
    if (!Number.isFinite(t0)) t0 = Math.min(...times) - 3600000;
    if (!Number.isFinite(t1)) t1 = Math.max(...times) + 3600000;
    if (!(t1 > t0)) t1 = t0 + 86400000;
    const lanes = [...new Set(items.map(i => i.lane))].sort((a, b) => (a === 'country-wide' ? -1 : b === 'country-wide' ? 1 : a < b ? -1 : 1)).slice(0, 30);
    const W = 720, L = 120, R = 12, T = 8, laneH = 24, B = 26;
    const H = T + B + laneH * lanes.length, pw = W - L - R;
    const svg = sv('svg', { class: 'chart wide', id: 'alerts-svg', viewBox: '0 0 ' + W + ' ' + H, role: 'img', 'aria-labelledby': 'alerts-t' });
    svg.appendChild(sv('title', { id: 'alerts-t' }, 'Alert timeline' + where(s) + ': ▲ blocking started, ▼ blocking ended, ◆ country-wide event'));
    lanes.forEach((ln, i) => {
      const y = T + i * laneH + laneH / 2;
      svg.appendChild(sv('line', { class: 'lane', x1: L, x2: L + pw, y1: y, y2: y }));
      svg.appendChild(sv('text', { x: L - 6, y: y + 4, 'text-anchor': 'end' }, cut(ln, 18)));
    });
    const xOf = t => L + pw * Math.min(1, Math.max(0, (t - t0) / (t1 - t0)));
    for (const it of items) {
      const li = lanes.indexOf(it.lane), t = Date.parse(it.ts);
      if (li < 0 || !Number.isFinite(t)) continue;
      const x = xOf(t), y = T + li * laneH + laneH / 2, dir = num(it.r.change_dir);
      let shape, what;
      if (it.kind === 'event') {
        shape = sv('path', { d: 'M' + x + ',' + (y - 7) + ' l7,7 l-7,7 l-7,-7 z', fill: '#7d3c98' });
        what = 'country-wide event';
      } else if (dir < 0) {
        shape = sv('path', { d: 'M' + (x - 6) + ',' + (y - 5) + ' h12 l-6,11 z', fill: '#1e8449' });
        what = 'blocking ended';
      } else {
        shape = sv('path', { d: 'M' + (x - 6) + ',' + (y + 6) + ' h12 l-6,-11 z', fill: '#c0392b' });
        what = 'blocking started';
      }
      shape.setAttribute('class', 'mark');
      shape.setAttribute('data-ts', it.ts);
      shape.setAttribute('data-kind', it.kind);
      shape.setAttribute('data-dir', String(dir));
      shape.appendChild(sv('title', null, it.ts + ' ' + it.lane + ' ' + str(it.r.domain) + ' ' + methodsOf(it.r) + ': ' + what));
      svg.appendChild(shape);
    }
    svg.appendChild(sv('line', { class: 'axis', x1: L, x2: L + pw, y1: H - B + 2, y2: H - B + 2 }));
    svg.appendChild(sv('text', { x: L, y: H - 8 }, when(new Date(t0).toISOString())));
    svg.appendChild(sv('text', { x: L + pw, y: H - 8, 'text-anchor': 'end' }, when(new Date(t1).toISOString()) + ' UTC'));
    box.appendChild(el('figure', null, el('div', { class: 'scroll' }, svg)));
    const trs = items.slice().reverse().map(it => {
      const r = it.r, dir = num(r.change_dir);
      const change = it.kind === 'event'
        ? (dir < 0 ? '▼ country-wide: blocking ended' : '◆ country-wide: blocking started')
        : (dir < 0 ? '▼ blocking ended' : '▲ blocking started');
      let scope = it.lane;
      const asns = r.probe_asns || r.asns;
      if (it.kind === 'event') scope = str(r.probe_cc) + (Array.isArray(asns) ? ': ' + asns.map(a => 'AS' + asn(a)).join(', ') : (r.asn_count ? ': ' + num(r.asn_count) + ' networks' : ''));
      else scope = str(r.probe_cc) + ' ' + it.lane;
      const stat = it.kind === 'event' ? '' : 's+ ' + num(r.s_pos).toFixed(2) + ' / s− ' + num(r.s_neg).toFixed(2);
      return el('tr', { 'data-kind': it.kind, 'data-ts': it.ts }, textCell(when(it.ts), 'time'), el('td', { class: 'verdict ' + (dir < 0 ? 'ok' : 'blocked') }, change),
        textCell(scope), textCell(r.domain, 'url'), textCell(methodsOf(r)), textCell(stat, 'num'));
    });
    box.appendChild(table('t-alerts', 'Alerts, newest first', ['Time (UTC)', 'Change', 'Where', 'Domain', 'Method', { label: 'CUSUM', num: true }], trs));
  }

  /* One measurement's verdict as text (and a class for colour). */
  function verdictOf(r) {
    const failure = r.failure === true || r.msm_failure === true;
    if (failure) return ['no verdict', 'fail'];
    if (r.anomaly === true || r.confirmed === true) {
      const m = r.blocking_type ? ': ' + methodLabel(r.blocking_type) : '';
      return ['blocked' + m + (r.confirmed === true ? ' (confirmed)' : ''), 'blocked'];
    }
    if (r.anomaly === false) return ['reachable', 'ok'];
    return [str(r.outcome) || 'unknown', 'fail'];
  }

  function renderList(j, s) {
    const box = clear($('list'));
    const rows = (j && Array.isArray(j.results)) ? j.results : [];
    const md = (j && j.metadata) || {};
    if (!rows.length) { box.appendChild(empty(s.off ? 'No more measurements.' : 'No measurements in this range.')); }
    else {
      const trs = rows.map(r => {
        const uid = str(r.measurement_uid);
        const [v, cls] = verdictOf(r);
        const link = el('a', { href: hashOf(Object.assign(readHash(), { m: uid })) }, 'evidence');
        return el('tr', { 'data-uid': uid }, textCell(when(r.measurement_start_time), 'time', 40),
          textCell(str(r.probe_cc) + ' AS' + asn(r.probe_asn), null, 40), textCell(r.test_name, null, 64),
          textCell(r.input, 'url', 200), el('td', { class: 'verdict ' + cls }, cut(v, 80)), el('td', null, link));
      });
      box.appendChild(table('t-list', 'Measurements, newest first' + where(s), ['Started (UTC)', 'Network', 'Test', 'Input', 'Verdict', 'Details'], trs));
    }
    const nav = el('p', { class: 'pager' });
    if (s.off > 0) {
      const b = el('button', { type: 'button' }, 'Newer');
      b.addEventListener('click', () => go({ off: Math.max(0, s.off - LIST_LIMIT) || '' }));
      nav.appendChild(b);
    }
    if (rows.length >= LIST_LIMIT) {
      const b = el('button', { type: 'button' }, 'Older');
      b.addEventListener('click', () => go({ off: s.off + LIST_LIMIT }));
      nav.appendChild(b);
    }
    if (md.count !== undefined && md.count !== null) nav.appendChild(document.createTextNode(' ' + num(md.count) + ' measurements match.'));
    if (nav.firstChild) box.appendChild(nav);
  }

  /* ---- one measurement's evidence ------------------------------------------------------- */
  function rawOf(d) {
    for (const k of ['raw_measurement', 'content', 'measurement']) {
      let v = d[k];
      if (typeof v === 'string') { try { v = JSON.parse(v); } catch (e) { v = null; } }
      if (v && typeof v === 'object') return v;
    }
    return null;
  }
  function kv(pairs) {
    const dl = el('dl', { class: 'kv' });
    for (const [k, v, cls] of pairs) {
      if (v === undefined || v === null || v === '') continue;
      dl.append(el('dt', null, k), el('dd', { class: cls || null, 'data-k': k }, cut(v, 2000)));
    }
    return dl;
  }
  function stepTable(id, caption, heads, rows) {
    if (!Array.isArray(rows) || !rows.length) return null;
    return table(id, caption, heads, rows.slice(0, 100).map(r => el('tr', null, ...r.map(c => textCell(c, 'ev', 400)))));
  }
  function failureText(f) { return f === null || f === undefined ? 'ok' : str(f); }
  function renderMeasurement(d) {
    const box = clear($('meas'));
    const raw = rawOf(d) || {};
    const tk = (raw.test_keys && typeof raw.test_keys === 'object') ? raw.test_keys : {};
    const [v, cls] = verdictOf(d);
    const uid = str(d.measurement_uid);
    box.appendChild(kv([
      ['Measurement', uid, 'mono'], ['Started (UTC)', when(d.measurement_start_time || raw.measurement_start_time)],
      ['Country', d.probe_cc || raw.probe_cc], ['Network', 'AS' + asn(d.probe_asn || raw.probe_asn) + (raw.probe_network_name ? ' ' + str(raw.probe_network_name) : '')],
      ['Test', str(d.test_name || raw.test_name) + (raw.test_version ? ' ' + str(raw.test_version) : '')],
      ['Input', d.input || raw.input, 'mono'], ['Category', d.category_code ? categoryLabel(d.category_code) : ''],
      ['Verdict', v, 'verdict ' + cls], ['Outcome', d.outcome || tk.x_outcome], ['Method', d.blocking_type ? methodLabel(d.blocking_type) : ''],
      ['Evidence', d.evidence || tk.x_evidence], ['Censorship', tk.x_censorship === undefined ? '' : str(tk.x_censorship)],
      ['Analysis rule', tk.x_analysis_reason], ['Blocking (OONI)', tk.blocking === undefined ? '' : str(tk.blocking)],
      ['Report', d.report_id || raw.report_id, 'mono'],
    ]));
    const steps = el('div', { id: 'meas-steps' });
    const dns = stepTable('t-dns', 'DNS lookups', ['Name', 'Type', 'Resolver', 'Result', 'Answers'],
      (Array.isArray(tk.queries) ? tk.queries : []).map(q => [q.hostname, q.query_type, str(q.engine) + (q.resolver_address ? ' ' + str(q.resolver_address) : ''),
        failureText(q.failure), (Array.isArray(q.answers) ? q.answers : []).map(a => str(a.ipv4 || a.ipv6 || a.hostname || a.answer_type)).join(', ')]));
    const tcp = stepTable('t-tcp', 'TCP connects', ['Address', 'Port', 'Result', 'Time (s)'],
      (Array.isArray(tk.tcp_connect) ? tk.tcp_connect : []).map(c => [c.ip, c.port, c.status ? (c.status.success ? 'connected' : failureText(c.status.failure)) : '', c.t]));
    const tls = stepTable('t-tls', 'TLS handshakes', ['Address', 'SNI', 'Result', 'Version', 'Time (s)'],
      (Array.isArray(tk.tls_handshakes) ? tk.tls_handshakes : []).map(h => [h.address, h.server_name, failureText(h.failure), h.tls_version, h.t]));
    const http = stepTable('t-http', 'HTTP requests', ['URL', 'Result', 'Status', 'Body (bytes)'],
      (Array.isArray(tk.requests) ? tk.requests : []).map(q => {
        const resp = q.response || {}, body = resp.body;
        const len = typeof body === 'string' ? body.length : (body && typeof body === 'object' && typeof body.data === 'string' ? body.data.length : '');
        return [q.request && q.request.url, failureText(q.failure), resp.code, len];
      }));
    for (const t of [dns, tcp, tls, http]) if (t) steps.appendChild(t);
    if (!steps.firstChild) steps.appendChild(empty('This measurement has no DNS/TCP/TLS/HTTP steps in the usual places; see the raw measurement.'));
    box.appendChild(el('h3', null, 'Steps'));
    box.appendChild(steps);
    box.appendChild(el('h3', null, 'Raw measurement'));
    box.appendChild(el('p', null, el('a', { href: '/api/v1/measurement/' + encodeURIComponent(uid) }, 'as JSON from the API'), ' · ',
      el('a', { href: hashOf(Object.assign(readHash(), { m: '' })) }, 'close')));
    const pre = el('pre', { class: 'raw', id: 'meas-raw', tabindex: '0' });
    pre.textContent = JSON.stringify(rawOf(d) || d, null, 2);
    box.appendChild(pre);
  }

  /* ---- the filters' choices ------------------------------------------------------------- */
  function fillSelect(sel, allText, items, chosen, label) {
    clear(sel).appendChild(el('option', { value: '' }, allText));
    let found = false;
    for (const it of items) {
      const o = el('option', { value: it.value }, label(it));
      if (it.value === chosen) { o.selected = true; found = true; }
      sel.appendChild(o);
    }
    if (chosen && !found) { const o = el('option', { value: chosen }, cut(chosen, 80) + ' (no measurements)'); o.selected = true; sel.appendChild(o); }
  }
  async function loadChoices(s) {
    const base = {};
    if (s.since) base.since = s.since;
    if (s.until) base.until = s.until;
    const byCount = (a, b) => b.n - a.n || (a.value < b.value ? -1 : 1);
    const [ccs, asns, doms] = await Promise.all([
      aggregate(base, 'probe_cc'),
      aggregate(Object.assign({}, base, s.cc ? { probe_cc: s.cc } : {}), 'probe_asn'),
      aggregate(Object.assign({}, base, s.cc ? { probe_cc: s.cc } : {}, s.asn ? { probe_asn: s.asn } : {}), 'domain'),
    ]);
    fillSelect($('f-cc'), 'All countries', ccs.map(r => ({ value: str(r.probe_cc), n: num(r.measurement_count) })).filter(x => x.value).sort(byCount), s.cc,
      it => cut(it.value, 40) + ' (' + it.n + ')');
    fillSelect($('f-asn'), 'All networks', asns.map(r => ({ value: asn(r.probe_asn), n: num(r.measurement_count) })).filter(x => x.value).sort(byCount), s.asn,
      it => 'AS' + cut(it.value, 40) + ' (' + it.n + ')');
    fillSelect($('f-domain'), 'All domains', doms.map(r => ({ value: str(r.domain), n: num(r.measurement_count) })).filter(x => x.value).sort(byCount).slice(0, 1000), s.domain,
      it => cut(it.value, 80) + ' (' + it.n + ')');
  }

  /* ---- load everything for the hash's state ------------------------------------------- */
  let generation = 0;
  async function load() {
    const gen = ++generation;
    const s = readHash();
    const live = () => gen === generation;
    $('f-since').value = isDay(s.since) ? s.since.slice(0, 10) : '';
    $('f-until').value = isDay(s.until) ? s.until.slice(0, 10) : '';
    setStatus('Loading' + where(s) + '…');
    const f = filters(s);
    const jobs = [];
    const job = (p, ok, node, what) => jobs.push(p.then(v => { if (live()) ok(v); }, e => { if (live()) { failed(node, what, e); throw e; } }));
    job(loadChoices(s), () => {}, $('status'), 'the lists of countries, networks and domains');
    job(aggregate(f), rows => renderSummary(rows), $('summary'), 'the summary');
    job(aggregate(f, 'measurement_start_day', 'blocking_type'), rows => renderTime(rows, s), $('chart-time'), 'blocking over time');
    job(aggregate(f, 'category_code'), rows => renderCategories(rows, s), $('chart-cat'), 'the categories');
    const fi = filters(s, { noAsn: true });
    job(Promise.all([aggregate(fi, 'measurement_start_day', 'probe_asn'), aggregate(fi, 'probe_asn', 'blocking_type')]),
      ([a, b]) => renderIsp(a, b, s), $('isp'), 'the per-ISP comparison');
    const soft = p => p.then(j => ({ rows: (j && Array.isArray(j.results)) ? j.results : [] }), e => ({ rows: [], err: 'not available (' + cut(e.message, 120) + ')' }));
    const evf = filters(s, { noAsn: true });
    job(Promise.all([soft(getJSON('detector/changepoints', f)), soft(getJSON('detector/events', evf))]),
      ([c, e]) => renderAlerts(c, e, s), $('alerts'), 'the alerts');
    job(getJSON('measurements', Object.assign({}, f, { limit: LIST_LIMIT, offset: s.off })), j => renderList(j, s), $('list'), 'the measurements');
    section('s-meas', !!s.m);
    if (s.m) {
      clear($('meas')).appendChild(empty('Loading…'));
      job(getJSON('measurement/' + encodeURIComponent(s.m)), d => renderMeasurement(d), $('meas'), 'the measurement');
    }
    const res = await Promise.allSettled(jobs);
    if (!live()) return;
    const bad = res.filter(r => r.status === 'rejected').length;
    if (bad) setStatus(bad + ' part(s) of the dashboard could not be loaded' + where(s) + '; the others are shown.', true);
    else setStatus('Showing ' + (where(s).replace(/^ \((.*)\)$/, '$1') || 'all measurements') + (s.since || s.until ? ' from ' + (s.since || '…') + ' until ' + (s.until || 'now') : ' (last 30 days)') + '.');
    document.body.setAttribute('data-loaded', String(gen));
    /* a measurement was asked for: move the keyboard focus (and the view) to its evidence */
    if (s.m && res[res.length - 1].status === 'fulfilled') $('h-meas').focus();
  }

  function init() {
    $('f-cc').addEventListener('change', e => go({ cc: e.target.value, asn: '', domain: '', m: '', off: 0 }));
    $('f-asn').addEventListener('change', e => go({ asn: e.target.value, domain: '', m: '', off: 0 }));
    $('f-domain').addEventListener('change', e => go({ domain: e.target.value, m: '', off: 0 }));
    $('filters').addEventListener('submit', e => { e.preventDefault(); go({ since: $('f-since').value, until: $('f-until').value, off: 0 }); });
    $('f-reset').addEventListener('click', () => { location.hash = ''; load(); });
    window.addEventListener('hashchange', load);
    load();
  }
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', init);
  else init();
}());
