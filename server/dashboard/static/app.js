// app.js: the mqttds dashboard, a client of the broker's REST API.
//
// Every figure comes from the API with the key the user logged in with (kept in this tab's
// sessionStorage, sent as "Authorization: Bearer <key>"). Pages are chosen by the URL's hash
// (#overview, #clients, ...). One timer polls /api/v1/metrics every second for the rate charts
// and refreshes the page in view every other second. Tables are updated row by row, keyed (a
// client id, a trace name), so a row and its buttons stay the same DOM node across refreshes.
//
// Names from the broker (client ids, topics, usernames) are only ever set as text, never as
// HTML.
'use strict';

(function () {
  // routes lists every API route the dashboard calls; a server test checks each against the
  // OpenAPI document. Path parameters are {name}, filled in (URL-escaped) by path().
  const routes = {
    status: ['GET', '/api/v1/status'],
    metrics: ['GET', '/api/v1/metrics'],
    prometheus: ['GET', '/metrics'],
    clients: ['GET', '/api/v1/clients'],
    kick: ['DELETE', '/api/v1/clients/{id}'],
    subscriptions: ['GET', '/api/v1/subscriptions'],
    storages: ['GET', '/api/v1/ds/storages'],
    storage: ['GET', '/api/v1/ds/storages/{name}'],
    sites: ['GET', '/api/v1/ds/sites'],
    traces: ['GET', '/api/v1/traces'],
    traceStart: ['POST', '/api/v1/traces'],
    traceStop: ['PUT', '/api/v1/traces/{name}/stop'],
    traceDelete: ['DELETE', '/api/v1/traces/{name}'],
    traceLog: ['GET', '/api/v1/traces/{name}/log'],
  };

  const keyStorage = 'mqttds.apiKey';
  const metricsInterval = 1000; // ms between two /api/v1/metrics samples
  const pageEvery = 2; // the page in view is refreshed every pageEvery samples
  const chartWindow = 120; // samples (seconds) a chart shows
  const pageLimit = 100; // items per page of a listing

  const $ = (id) => document.getElementById(id);

  // ---- API access -------------------------------------------------------------------------

  // APIError is an answer that was not a success: the API's {code, message}, or the status.
  class APIError extends Error {
    constructor(status, code, message) {
      super(code ? code + ': ' + message : message);
      this.status = status;
      this.code = code;
    }
  }

  function path(route, params, query) {
    let p = routes[route][1].replace(/\{(\w+)\}/g, (_, k) => encodeURIComponent(params[k]));
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(query || {})) {
      if (v !== undefined && v !== null && v !== '') {
        q.set(k, v);
      }
    }
    const qs = q.toString();
    return qs ? p + '?' + qs : p;
  }

  // call makes one API request with the session's key and returns {body, headers}: the body
  // parsed as JSON, or as text for a text answer, or null for 204. A 401 ends the session.
  async function call(route, params, opts) {
    opts = opts || {};
    const key = opts.key || sessionStorage.getItem(keyStorage);
    const headers = {Authorization: 'Bearer ' + key};
    const init = {method: routes[route][0], headers, cache: 'no-store', credentials: 'omit'};
    if (opts.body !== undefined) {
      headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(opts.body);
    }
    const resp = await fetch(path(route, params || {}, opts.query), init);
    if (resp.status === 401 && !opts.key) {
      logout('The broker no longer accepts this key; log in again.');
    }
    if (!resp.ok) {
      let code = '';
      let message = resp.status + ' ' + resp.statusText;
      try {
        const e = await resp.json();
        code = e.code || '';
        message = e.message || message;
      } catch (_) {
        // not a JSON error: keep the status line
      }
      throw new APIError(resp.status, code, message);
    }
    if (resp.status === 204) {
      return {body: null, headers: resp.headers};
    }
    const type = resp.headers.get('Content-Type') || '';
    const body = type.startsWith('application/json') ? await resp.json() : await resp.text();
    return {body, headers: resp.headers};
  }

  // ---- DOM helpers ------------------------------------------------------------------------

  // el makes an element with attributes (class, data-*, ...) and children (nodes or text).
  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === 'class') {
        e.className = v;
      } else if (k.startsWith('on')) {
        e.addEventListener(k.slice(2), v);
      } else {
        e.setAttribute(k, v);
      }
    }
    for (const c of children) {
      e.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return e;
  }

  function setText(id, text) {
    const e = $(id);
    if (e.textContent !== String(text)) {
      e.textContent = String(text);
    }
  }

  // syncRows makes tbody show one row per item, in order: a row is made once per key by
  // make(item) (which returns the <tr>) and brought up to date by update(tr, item) each time;
  // rows whose key is gone are removed.
  function syncRows(tbody, items, key, make, update) {
    const existing = new Map();
    for (const tr of Array.from(tbody.rows)) {
      existing.set(tr.dataset.key, tr);
    }
    let at = tbody.firstElementChild;
    for (const item of items) {
      const k = key(item);
      let tr = existing.get(k);
      if (tr) {
        existing.delete(k);
      } else {
        tr = make(item);
        tr.dataset.key = k;
      }
      update(tr, item);
      if (tr !== at) {
        tbody.insertBefore(tr, at);
      } else {
        at = at.nextElementSibling;
      }
    }
    for (const tr of existing.values()) {
      tr.remove();
    }
  }

  // cells fills a row's cells with text values, touching only those that changed.
  function cells(tr, values) {
    values.forEach((v, i) => {
      const td = tr.cells[i];
      const text = v === null || v === undefined ? '' : String(v);
      if (td.textContent !== text) {
        td.textContent = text;
      }
    });
  }

  function showError(err) {
    const bar = $('error-bar');
    if (!err) {
      bar.hidden = true;
      return;
    }
    bar.textContent = err.message || String(err);
    bar.hidden = false;
  }

  let noticeTimer = null;
  function notice(text) {
    const bar = $('notice-bar');
    bar.textContent = text;
    bar.hidden = false;
    clearTimeout(noticeTimer);
    noticeTimer = setTimeout(() => { bar.hidden = true; }, 5000);
  }

  // ---- Formatting -------------------------------------------------------------------------

  function fmtCount(v) {
    if (v >= 1e9) return (v / 1e9).toFixed(v >= 1e10 ? 0 : 1) + 'G';
    if (v >= 1e6) return (v / 1e6).toFixed(v >= 1e7 ? 0 : 1) + 'M';
    if (v >= 1e4) return (v / 1e3).toFixed(0) + 'k';
    if (v >= 1e3) return (v / 1e3).toFixed(1) + 'k';
    return v >= 10 || Number.isInteger(v) ? String(Math.round(v)) : v.toFixed(1);
  }

  function fmtBytes(v) {
    const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
    let i = 0;
    while (v >= 1024 && i < units.length - 1) {
      v /= 1024;
      i++;
    }
    return (i === 0 ? String(Math.round(v)) : v.toFixed(v >= 100 ? 0 : 1)) + ' ' + units[i];
  }

  function fmtDuration(seconds) {
    seconds = Math.floor(seconds);
    const d = Math.floor(seconds / 86400);
    const h = Math.floor((seconds % 86400) / 3600);
    const m = Math.floor((seconds % 3600) / 60);
    const s = seconds % 60;
    if (d > 0) return d + 'd ' + h + 'h';
    if (h > 0) return h + 'h ' + m + 'm';
    if (m > 0) return m + 'm ' + s + 's';
    return s + 's';
  }

  function fmtTime(iso) {
    if (!iso || iso.startsWith('0001-')) {
      return '';
    }
    const d = new Date(iso);
    return isNaN(d) ? iso : d.toLocaleString();
  }

  // ---- Overview: status and the rate charts ----------------------------------------------

  const charts = {};
  let lastSample = null; // {t, m}: the previous /api/v1/metrics answer

  function makeCharts() {
    charts.messages = new RateChart($('chart-messages'), {
      window: chartWindow, format: fmtCount,
      series: [{name: 'received', color: '#2f7ed8'}, {name: 'sent', color: '#e8743b'}],
    });
    charts.bytes = new RateChart($('chart-bytes'), {
      window: chartWindow, format: (v) => fmtBytes(v).replace(' ', ''),
      series: [{name: 'in', color: '#2f7ed8'}, {name: 'out', color: '#e8743b'}],
    });
  }

  // sampleMetrics adds one point to the charts: the counters' growth since the last sample
  // over the time between them.
  async function sampleMetrics() {
    const {body: m} = await call('metrics');
    const t = Date.now();
    if (lastSample) {
      const dt = (t - lastSample.t) / 1000;
      const p = lastSample.m;
      const rate = (a, b) => Math.max(0, (a - b) / dt);
      const msgIn = rate(m.Messages.Received, p.Messages.Received);
      const msgOut = rate(m.Messages.Sent, p.Messages.Sent);
      const bytesIn = rate(m.Bytes.Received, p.Bytes.Received);
      const bytesOut = rate(m.Bytes.Sent, p.Bytes.Sent);
      charts.messages.push(t, [msgIn, msgOut]);
      charts.bytes.push(t, [bytesIn, bytesOut]);
      setText('rate-msg-in', fmtCount(msgIn));
      setText('rate-msg-out', fmtCount(msgOut));
      setText('rate-bytes-in', fmtBytes(bytesIn) + '/s');
      setText('rate-bytes-out', fmtBytes(bytesOut) + '/s');
    }
    lastSample = {t, m};
    if (currentPage === 'overview') {
      charts.messages.draw();
      charts.bytes.draw();
    }
  }

  async function refreshOverview() {
    const {body: st} = await call('status');
    setText('node-name', st.node ? st.node + ' · ' + st.version : st.version);
    setText('ov-connections', fmtCount(st.connections));
    setText('ov-sessions', fmtCount(st.sessions));
    setText('ov-subscriptions', fmtCount(st.subscriptions));
    setText('ov-retained', fmtCount(st.retained));
    setText('ov-uptime', fmtDuration(st.uptime_s));
    setText('ov-version', st.version + ' (' + st.go_version + ')');
    setText('ov-durable', st.durable_sessions ? 'on' : 'off');
    setText('ov-started', fmtTime(st.started));
    syncRows($('listeners-table').tBodies[0], st.listeners, (l) => l.id,
      () => el('tr', {}, el('td'), el('td'), el('td')),
      (tr, l) => cells(tr, [l.id, l.protocol, l.address]));
  }

  // ---- Paged listings ---------------------------------------------------------------------

  // Pager follows a listing's cursor (X-Next-Cursor): cursors[i] starts page i.
  class Pager {
    constructor(first, next, onChange) {
      this.cursors = [''];
      this.next = '';
      this.firstButton = first;
      this.nextButton = next;
      first.addEventListener('click', () => { this.cursors = ['']; onChange(); });
      next.addEventListener('click', () => { this.cursors.push(this.next); onChange(); });
    }
    reset() { this.cursors = ['']; }
    after() { return this.cursors[this.cursors.length - 1]; }
    update(headers) {
      this.next = headers.get('X-Next-Cursor') || '';
      this.firstButton.hidden = this.cursors.length === 1;
      this.nextButton.hidden = this.next === '';
      return Number(headers.get('X-Total-Count') || 0);
    }
  }

  // ---- Clients ----------------------------------------------------------------------------

  let clientsPager = null;

  async function refreshClients() {
    const query = {limit: pageLimit, after: clientsPager.after(), connected: $('clients-filter').value,
      client_id_prefix: $('clients-prefix').value};
    const {body: list, headers} = await call('clients', {}, {query});
    const total = clientsPager.update(headers);
    setText('clients-count', total === list.length ? total + ' clients' : list.length + ' of ' + total + ' clients');
    $('clients-empty').hidden = list.length > 0;
    syncRows($('clients-table').tBodies[0], list, (c) => c.client_id, makeClientRow, updateClientRow);
  }

  function makeClientRow(c) {
    const kick = el('button', {type: 'button', class: 'kick', title: 'disconnect the client (the session stays)'}, 'Kick');
    kick.addEventListener('click', () => kickClient(c.client_id, false, kick));
    const del = el('button', {type: 'button', class: 'delete-session secondary',
      title: 'disconnect the client and delete its session'}, 'Delete session');
    del.addEventListener('click', () => {
      if (del.dataset.armed !== 'true') { // a second click confirms
        del.dataset.armed = 'true';
        del.textContent = 'Confirm delete';
        setTimeout(() => { del.dataset.armed = ''; del.textContent = 'Delete session'; }, 4000);
        return;
      }
      kickClient(c.client_id, true, del);
    });
    const tds = [];
    for (let i = 0; i < 9; i++) {
      tds.push(el('td'));
    }
    tds[1].className = 'status';
    for (const i of [6, 7]) {
      tds[i].className = 'num';
    }
    return el('tr', {'data-client': c.client_id}, ...tds, el('td', {class: 'actions'}, kick, del));
  }

  function updateClientRow(tr, c) {
    tr.dataset.connected = String(c.connected);
    const expiry = c.expiry_ns > 0 ? fmtDuration(c.expiry_ns / 1e9) : '';
    cells(tr, [c.client_id, c.connected ? 'Connected' : 'Disconnected', c.durable ? 'durable' : 'memory',
      c.username, c.remote, c.protocol_version, c.inflight === null ? 'on disk' : c.inflight, c.queued, expiry]);
    tr.cells[1].className = 'status ' + (c.connected ? 'up' : 'down');
    tr.querySelector('button.kick').hidden = !c.connected;
  }

  async function kickClient(id, session, button) {
    button.disabled = true;
    try {
      await call('kick', {id}, {query: session ? {session: 'true'} : {}});
      notice(session ? 'Deleted the session of ' + id + '.' : 'Kicked ' + id + '.');
      await refreshClients();
    } catch (err) {
      showError(err);
    } finally {
      button.disabled = false;
    }
  }

  // ---- Subscriptions ----------------------------------------------------------------------

  let subsPager = null;

  async function refreshSubscriptions() {
    const query = {limit: pageLimit, after: subsPager.after(), client: $('subs-client').value};
    const {body: list, headers} = await call('subscriptions', {}, {query});
    const total = subsPager.update(headers);
    setText('subs-count', total === list.length ? total + ' subscriptions' : list.length + ' of ' + total + ' subscriptions');
    $('subs-empty').hidden = list.length > 0;
    syncRows($('subs-table').tBodies[0], list, (s) => s.client_id + '\u0000' + s.filter,
      (s) => el('tr', {'data-client': s.client_id, 'data-filter': s.filter}, el('td'), el('td'), el('td', {class: 'num'}),
        el('td')),
      (tr, s) => {
        const opts = [];
        if (s.no_local) opts.push('no local');
        if (s.retain_as_published) opts.push('retain as published');
        if (s.retain_handling) opts.push('retain handling ' + s.retain_handling);
        if (s.subscription_id) opts.push('id ' + s.subscription_id);
        cells(tr, [s.client_id, s.filter, s.qos, opts.join(', ')]);
      });
  }

  // ---- Storage ----------------------------------------------------------------------------

  // parsePrometheus sums the samples of each metric name whose labels include every pair of
  // want ({db: 'default'}); it returns name → value.
  function parsePrometheus(text, want) {
    const out = {};
    const line = /^([A-Za-z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)/;
    for (const l of text.split('\n')) {
      if (l === '' || l.startsWith('#')) {
        continue;
      }
      const m = line.exec(l);
      if (!m) {
        continue;
      }
      const labels = {};
      for (const pair of (m[2] || '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) {
        labels[pair[1]] = pair[2];
      }
      if (Object.entries(want).every(([k, v]) => labels[k] === v)) {
        out[m[1]] = (out[m[1]] || 0) + Number(m[3]);
      }
    }
    return out;
  }

  let lastStorageFigures = null;

  // storageRows are the read and write figures, each a ratio of two counters of /metrics.
  const storageRows = [
    {name: 'seeks per message read', num: 'layout_seeks_total', den: 'next_messages_total', digits: 2,
      what: 'storage seeks (index jumps) per message returned'},
    {name: 'steps per message read', num: 'layout_nexts_total', den: 'next_messages_total', digits: 2,
      what: 'storage steps per message returned'},
    {name: 'collisions per message read', num: 'layout_collisions_total', den: 'next_messages_total', digits: 3,
      what: 'keys of another topic in the same stream'},
    {name: 'Next time per message', num: 'next_seconds_sum', den: 'next_messages_total', micros: true,
      what: 'time spent in iterator Next per message returned'},
    {name: 'messages per write batch', num: 'egress_messages_total', den: 'egress_batches_total', digits: 1,
      what: 'messages committed per flush'},
    {name: 'flush time', num: 'egress_flush_seconds_sum', den: 'egress_flush_seconds_count', micros: true,
      what: 'start of a flush to its durability, mean'},
    {name: 'messages read', num: 'next_messages_total', count: true, what: 'returned by Next'},
    {name: 'messages written', num: 'egress_messages_total', count: true, what: 'in committed batches'},
  ];

  function storageFigure(row, now, prev) {
    const get = (f, k) => (f ? f['mqttds_ds_' + k] || 0 : 0);
    const ratio = (f, base) => {
      const num = get(f, row.num) - get(base, row.num);
      if (row.count) {
        return fmtCount(num);
      }
      const den = get(f, row.den) - get(base, row.den);
      if (!(den > 0)) {
        return '–';
      }
      const v = num / den;
      return row.micros ? (v * 1e6).toFixed(1) + ' µs' : v.toFixed(row.digits);
    };
    return [ratio(now, null), prev ? ratio(now, prev) : '–'];
  }

  async function refreshStorage() {
    const {body: storages} = await call('storages');
    $('storage-none').hidden = storages.length > 0;
    $('storage-cards').hidden = storages.length === 0;
    if (storages.length === 0) {
      return;
    }
    const [{body: detail}, {body: sites}, {body: prom}] = await Promise.all([
      call('storage', {name: storages[0].name}), call('sites'), call('prometheus')]);
    setText('st-name', detail.name);
    setText('st-shards', detail.n_shards);
    setText('st-generations', detail.generations);
    setText('st-disk', fmtBytes(detail.disk_bytes));

    const figures = parsePrometheus(prom, {db: detail.name});
    syncRows($('storage-stats').tBodies[0], storageRows, (r) => r.name,
      () => el('tr', {}, el('td'), el('td', {class: 'num'}), el('td', {class: 'num'}), el('td', {class: 'hint'})),
      (tr, r) => cells(tr, [r.name, ...storageFigure(r, figures, lastStorageFigures), r.what]));
    lastStorageFigures = figures;

    syncRows($('shards-table').tBodies[0], detail.shards, (s) => String(s.id),
      () => el('tr', {}, el('td', {class: 'num'}), el('td'), el('td'), el('td', {class: 'num'}), el('td'), el('td'), el('td')),
      (tr, s) => {
        const current = s.generations.find((g) => g.current) || s.generations[s.generations.length - 1];
        cells(tr, [s.id, s.replicas.map((r) => r.site + ' (' + r.status + ')').join(', '), s.leader || '',
          s.generations.length, current ? current.id : '', current ? current.layout : '',
          current ? fmtTime(current.created) : '']);
      });
    syncRows($('sites-table').tBodies[0], sites, (s) => s.site,
      () => el('tr', {}, el('td'), el('td'), el('td'), el('td'), el('td', {class: 'num'})),
      (tr, s) => cells(tr, [s.site, s.node, s.address || '', s.up ? 'yes' : 'no', s.n_shards]));
  }

  // ---- Trace ------------------------------------------------------------------------------

  let shownLog = '';

  async function refreshTraces() {
    const {body: traces} = await call('traces');
    $('traces-empty').hidden = traces.length > 0;
    syncRows($('traces-table').tBodies[0], traces, (t) => t.name, makeTraceRow, (tr, t) => {
      tr.dataset.status = t.status;
      cells(tr, [t.name, t.client_id ? 'client ' + t.client_id : 'topic ' + t.topic,
        t.reason && t.reason !== t.status ? t.status + ' (' + t.reason + ')' : t.status, t.packets, fmtBytes(t.bytes),
        fmtTime(t.start), fmtTime(t.end)]);
      tr.querySelector('button.stop').hidden = t.status !== 'running';
    });
    if (shownLog && traces.some((t) => t.name === shownLog)) {
      await showLog(shownLog);
    }
  }

  function makeTraceRow(t) {
    const name = t.name;
    const act = (label, cls, fn) => el('button', {type: 'button', class: cls, onclick: async (ev) => {
      ev.target.disabled = true;
      try {
        await fn();
        await refreshTraces();
      } catch (err) {
        showError(err);
      } finally {
        ev.target.disabled = false;
      }
    }}, label);
    return el('tr', {'data-trace': name}, el('td'), el('td'), el('td', {class: 'status'}), el('td', {class: 'num'}),
      el('td', {class: 'num'}), el('td'), el('td'),
      el('td', {class: 'actions'},
        act('Stop', 'stop', () => call('traceStop', {name})),
        act('Log', 'log secondary', () => { shownLog = name; }),
        act('Delete', 'delete secondary', async () => {
          await call('traceDelete', {name});
          if (shownLog === name) {
            shownLog = '';
            $('trace-log').hidden = $('trace-log-title').hidden = true;
          }
        })));
  }

  async function showLog(name) {
    const {body} = await call('traceLog', {name});
    const tail = body.length > 65536 ? '…\n' + body.slice(body.length - 65536) : body;
    setText('trace-log-title', 'Log of ' + name);
    setText('trace-log', tail || '(empty)');
    $('trace-log').hidden = $('trace-log-title').hidden = false;
  }

  async function startTrace(ev) {
    ev.preventDefault();
    const spec = {name: $('trace-name').value.trim()};
    spec[$('trace-kind').value] = $('trace-value').value.trim();
    if ($('trace-duration').value.trim()) {
      spec.duration = $('trace-duration').value.trim();
    }
    try {
      await call('traceStart', {}, {body: spec});
      notice('Trace ' + spec.name + ' started.');
      $('trace-name').value = '';
      $('trace-value').value = '';
      await refreshTraces();
    } catch (err) {
      showError(err);
    }
  }

  // ---- Pages and polling ------------------------------------------------------------------

  const pages = {
    overview: refreshOverview,
    clients: refreshClients,
    subscriptions: refreshSubscriptions,
    storage: refreshStorage,
    trace: refreshTraces,
  };
  let currentPage = '';
  let pollTimer = null;
  let ticks = 0;
  let refreshing = null; // the page refresh in progress, if any

  function pageFromHash() {
    const p = location.hash.replace(/^#/, '');
    return pages[p] ? p : 'overview';
  }

  function showPage(name) {
    currentPage = name;
    for (const p of Object.keys(pages)) {
      $('page-' + p).hidden = p !== name;
    }
    for (const a of document.querySelectorAll('#nav a')) {
      a.classList.toggle('active', a.dataset.page === name);
    }
    refreshPage();
  }

  // refreshPage refreshes the page in view, one refresh at a time.
  function refreshPage() {
    if (refreshing) {
      return refreshing;
    }
    const page = currentPage;
    refreshing = pages[page]()
      .then(() => {
        showError(null);
        setText('poll-state', 'updated ' + new Date().toLocaleTimeString());
      })
      .catch((err) => {
        if (err.status !== 401) {
          showError(err);
        }
      })
      .finally(() => { refreshing = null; });
    return refreshing;
  }

  async function tick() {
    pollTimer = null;
    try {
      await sampleMetrics();
    } catch (err) {
      if (err.status !== 401) {
        showError(err);
      }
    }
    if (!sessionStorage.getItem(keyStorage)) {
      return; // logged out meanwhile
    }
    ticks++;
    if (ticks % pageEvery === 0) {
      refreshPage();
    }
    pollTimer = setTimeout(tick, metricsInterval);
  }

  function startPolling() {
    stopPolling();
    lastSample = null;
    ticks = 0;
    pollTimer = setTimeout(tick, 0);
  }

  function stopPolling() {
    if (pollTimer) {
      clearTimeout(pollTimer);
      pollTimer = null;
    }
  }

  // ---- Login ------------------------------------------------------------------------------

  function showLogin(message) {
    $('app').hidden = true;
    $('login').hidden = false;
    $('login-error').textContent = message || '';
    $('login-key').focus();
  }

  function showApp() {
    $('login').hidden = true;
    $('app').hidden = false;
    showPage(pageFromHash());
    startPolling();
  }

  function logout(message) {
    stopPolling();
    sessionStorage.removeItem(keyStorage);
    showLogin(message);
  }

  async function login(ev) {
    ev.preventDefault();
    const key = $('login-key').value.trim();
    $('login-submit').disabled = true;
    try {
      await call('status', {}, {key}); // the key is checked before it is kept
      sessionStorage.setItem(keyStorage, key);
      $('login-key').value = '';
      showApp();
    } catch (err) {
      showLogin(err.status === 401 ? 'The broker did not accept this key.' : 'Log in failed: ' + err.message);
    } finally {
      $('login-submit').disabled = false;
    }
  }

  function init() {
    makeCharts();
    clientsPager = new Pager($('clients-first'), $('clients-next'), () => refreshClients().catch(showError));
    subsPager = new Pager($('subs-first'), $('subs-next'), () => refreshSubscriptions().catch(showError));
    $('login-form').addEventListener('submit', login);
    $('logout').addEventListener('click', () => logout(''));
    $('trace-form').addEventListener('submit', startTrace);
    const refilter = (pager, refresh) => () => { pager.reset(); refresh().catch(showError); };
    $('clients-filter').addEventListener('change', refilter(clientsPager, refreshClients));
    $('clients-prefix').addEventListener('input', refilter(clientsPager, refreshClients));
    $('subs-client').addEventListener('input', refilter(subsPager, refreshSubscriptions));
    window.addEventListener('hashchange', () => {
      if (!$('app').hidden) {
        showPage(pageFromHash());
      }
    });
    window.addEventListener('resize', () => {
      if (currentPage === 'overview') {
        charts.messages.draw();
        charts.bytes.draw();
      }
    });
    if (sessionStorage.getItem(keyStorage)) {
      showApp();
    } else {
      showLogin('');
    }
  }

  init();
})();
