// The status page in the browser: every refresh_ms it reads this server's
// /api/ (the admin commands as JSON, behind the listener's token cookie) and
// draws what is there. Parts whose command is absent stay hidden: the plugin
// list (/api/plugins) says which commands exist. Everything from the server is
// put into the page as text (textContent), never as HTML.
'use strict';

const page = {
  title: '',
  refreshMs: 2000,
  lastOk: 0, // Date.now() of the last complete update
  uptimeAt: null, // {seconds, at}: the server's uptime and when it was read
  firstSeen: new Map(), // "aor contact" -> when this page first saw the binding (ms)
  expiries: [], // {cell, at}: countdowns redrawn every second
  lost: false,
};

const $ = (id) => document.getElementById(id);

function element(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (className) node.className = className;
  return node;
}

async function getJson(path) {
  const response = await fetch(path, { credentials: 'same-origin', cache: 'no-store' });
  if (!response.ok) {
    const error = new Error(`${path} answered ${response.status}`);
    error.status = response.status;
    throw error;
  }
  return response.json();
}

// The value of an optional part: null when its command fails (e.g. no location store).
function optional(promise) {
  return promise.catch((error) => {
    if (error.status === 401) throw error; // the token is gone: that is the page's problem, not the part's
    return null;
  });
}

// The sum of homesip_requests_total over its labels, from /metrics; null when absent.
async function requestsTotal() {
  const response = await fetch('/metrics', { credentials: 'same-origin', cache: 'no-store' });
  if (!response.ok) return null;
  let total = null;
  for (const line of (await response.text()).split('\n')) {
    const match = /^homesip_requests_total(\{[^}]*\})?\s+([0-9.eE+]+)/.exec(line);
    if (match) total = (total || 0) + Number(match[2]);
  }
  return total;
}

function commandNames(plugins) {
  const names = new Set();
  for (const plugin of plugins || []) for (const command of plugin.commands || []) names.add(command.name);
  return names;
}

function duration(seconds) {
  seconds = Math.max(0, Math.floor(seconds));
  const d = Math.floor(seconds / 86400);
  const h = Math.floor((seconds % 86400) / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = seconds % 60;
  if (d) return `${d} d ${h} h`;
  if (h) return `${h} h ${m} min`;
  if (m) return `${m} min ${s} s`;
  return `${s} s`;
}

function clock(ms) {
  return new Date(ms).toLocaleTimeString([], { hour12: false });
}

function since(unixSeconds) {
  if (!unixSeconds) return '–';
  return `${clock(unixSeconds * 1000)} (${duration(Date.now() / 1000 - unixSeconds)} ago)`;
}

async function refresh() {
  try {
    const [stats, plugins, requests] = await Promise.all([
      getJson('/api/stats'),
      getJson('/api/plugins'),
      requestsTotal().catch(() => null),
    ]);
    const commands = commandNames(plugins);
    // A part that fails leaves the rest of the page up: only stats and plugins say the server is lost.
    const tree = commands.has('tree.tree') ? await optional(getJson('/api/tree.tree')) : null;
    const domain = tree ? tree.child_domain : '';
    const arg = `?arg=${encodeURIComponent(domain)}`;
    const entityCommands = [...commands].filter((name) => name.endsWith('.entities'));
    const [bindings, users, entities] = await Promise.all([
      domain ? optional(getJson(`/api/bindings${arg}`)) : null,
      domain && commands.has('location-sqlite.users') ? optional(getJson(`/api/location-sqlite.users${arg}`)) : null,
      Promise.all(entityCommands.map((name) => optional(getJson(`/api/${name}${arg}`)).then((value) => ({ name, value })))),
    ]);
    drawServer(stats, tree);
    drawCounters(stats, requests);
    const family = drawUsers(tree, bindings, users);
    drawChildren(tree, family);
    drawEntities(entities);
    connected();
  } catch (error) {
    disconnected(error);
  } finally {
    setTimeout(refresh, page.refreshMs);
  }
}

function drawServer(stats, tree) {
  document.title = `${page.title} · homesip`;
  $('server-listener').textContent = stats.server || '–';
  page.uptimeAt = { seconds: stats.uptime_s || 0, at: Date.now() };
  if (!tree) {
    $('place').textContent = 'a plain registrar (no tree plugin)';
    $('server-name').textContent = page.title;
    $('server-place').textContent = 'not in a tree';
    $('server-parent').textContent = '–';
    return;
  }
  $('server-name').textContent = tree.domain ? tree.aor : tree.name;
  const top = !tree.domain;
  $('server-place').textContent = top
    ? `the top of the tree; serves ${tree.child_domain}`
    : `below ${tree.domain}; serves ${tree.child_domain}`;
  const parent = $('server-parent');
  parent.textContent = '';
  if (top) {
    parent.textContent = 'none: this is the top';
  } else {
    const online = tree.registration === 'registered';
    parent.append(element('span', online ? 'online' : 'offline', `badge ${online ? 'online' : 'offline'}`));
    parent.append(` ${tree.parent || tree.top} (${tree.registration})`);
  }
  $('place').textContent = top
    ? `the top server, serving ${tree.child_domain}`
    : `below ${tree.domain}, serving ${tree.child_domain}`;
}

// Tiles for the counters a person asks about first; each only when its metric exists.
function drawCounters(stats, requests) {
  const metrics = stats.metrics || {};
  const sum = (...names) => {
    const present = names.filter((name) => name in metrics);
    return present.length ? present.reduce((total, name) => total + metrics[name], 0) : null;
  };
  const tiles = [
    ['requests', requests],
    ['registrations', sum('homesip_registrar_registrations_total')],
    ['refused', sum('homesip_policy_refusals_total', 'homesip_registrar_rejected_total')],
    ['auth failures', sum('homesip_auth_digest_auth_failed_total', 'homesip_auth_tls_auth_failed_total')],
    ['rate-limited sources', 'rate_limited_sources' in stats ? stats.rate_limited_sources : null],
    ['redirects', sum('homesip_tree_redirects_total')],
    ['children online', sum('homesip_tree_children_online')],
    ['AORs with bindings', sum('homesip_location_sqlite_aors')],
  ];
  const box = $('tiles');
  box.textContent = '';
  for (const [label, value] of tiles) {
    if (value === null || value === undefined) continue;
    const tile = element('div', null, 'tile');
    tile.dataset.counter = label;
    tile.append(element('div', value.toLocaleString(), 'value'), element('div', label, 'label'));
    box.append(tile);
  }
  const rows = $('all-metrics');
  rows.textContent = '';
  for (const name of Object.keys(metrics).sort()) {
    const row = element('tr');
    row.append(element('td', name), element('td', metrics[name]));
    rows.append(row);
  }
}

// A family server has no servers below it: there the empty table is left out.
function drawChildren(tree, family) {
  const children = (tree && tree.children) || [];
  $('children').hidden = !tree || (family && children.length === 0);
  if (!tree) return;
  const online = children.filter((child) => child.online).length;
  $('children-summary').textContent = children.length ? `${online} of ${children.length} online` : '';
  $('children-empty').hidden = children.length > 0;
  const rows = $('children-rows');
  rows.textContent = '';
  for (const child of children) {
    const state = child.online ? 'online' : 'offline';
    const row = element('tr', null, state);
    row.dataset.aor = child.aor;
    row.dataset.state = state;
    const badge = element('td');
    badge.append(element('span', state, `badge ${state}`));
    row.append(element('td', child.aor), badge, element('td', since(child.since)), element('td', child.contact),
      element('td', child.misses, 'number'));
    rows.append(row);
  }
}

// The users of this server's domain: every AOR with bindings that is no child
// server, and every stored user (location-sqlite.users) who is no server.
// True when the part is shown: this is a family server.
function drawUsers(tree, bindings, users) {
  const children = new Set(((tree && tree.children) || []).map((child) => child.aor));
  const byAor = new Map();
  for (const user of users || []) if (user.role !== 'server') byAor.set(user.aor, { role: user.role, bindings: [] });
  for (const [aor, list] of Object.entries(bindings || {})) {
    if (children.has(aor) || list.some((b) => (b.user_agent || '').startsWith('homesipd'))) continue;
    if (!byAor.has(aor)) byAor.set(aor, { role: '', bindings: [] });
    byAor.get(aor).bindings = list;
  }
  // A family is where users live: shown when it has users, or has no servers below.
  const show = !!tree && (byAor.size > 0 || (tree.children || []).length === 0) && (bindings !== null || users !== null);
  $('users').hidden = !show;
  if (!show) return false;
  const registered = [...byAor.values()].filter((user) => user.bindings.length).length;
  $('users-summary').textContent = byAor.size ? `${registered} of ${byAor.size} registered` : '';
  $('users-empty').hidden = byAor.size > 0;
  const rows = $('users-rows');
  rows.textContent = '';
  page.expiries = [];
  const now = Date.now();
  for (const aor of [...byAor.keys()].sort()) {
    const user = byAor.get(aor);
    const list = user.bindings.length ? user.bindings : [null];
    list.forEach((binding, index) => {
      const row = element('tr');
      row.dataset.aor = aor;
      const who = element('td');
      if (index === 0) {
        who.append(element('strong', aor));
        if (user.role) who.append(element('div', user.role, 'muted'));
      }
      if (!binding) {
        row.append(who, element('td', 'not registered', 'muted'), element('td'), element('td'), element('td'), element('td'));
        rows.append(row);
        return;
      }
      const key = `${aor} ${binding.contact}`;
      if (!page.firstSeen.has(key)) page.firstSeen.set(key, now);
      const expires = element('td', null, 'number');
      page.expiries.push({ cell: expires, row, at: now + binding.expires_in * 1000 });
      row.append(who, element('td', binding.contact), element('td', binding.source || '–'),
        element('td', clock(page.firstSeen.get(key))), expires, element('td', binding.user_agent || '–'));
      rows.append(row);
    });
  }
  tick();
  return true;
}

// The family's appliances (docs/appliances.md): one row per entity of every
// *.entities command, with its state, attributes, when the state last changed
// and who watches it. A command that failed leaves the part as it is hidden.
function drawEntities(entities) {
  const present = entities.filter((entry) => Array.isArray(entry.value));
  $('entities').hidden = present.length === 0;
  if (!present.length) return;
  const list = present.flatMap((entry) => entry.value).sort((a, b) => String(a.entity_id).localeCompare(String(b.entity_id)));
  const watched = list.filter((entity) => (entity.watchers || []).length).length;
  $('entities-summary').textContent = list.length
    ? `${list.length} ${list.length === 1 ? 'entity' : 'entities'}, ${watched} watched` : '';
  $('entities-empty').hidden = list.length > 0;
  const rows = $('entities-rows');
  rows.textContent = '';
  for (const entity of list) rows.append(entityRow(entity));
}

const kActiveStates = new Set(['on', 'open', 'heat']);

function entityRow(entity) {
  const state = String(entity.state);
  const row = element('tr');
  row.dataset.entity = entity.entity_id;
  row.dataset.state = state;
  const who = element('td');
  who.append(element('strong', entity.friendly_name || entity.entity_id));
  who.append(element('div', `${entity.entity_id}${entity.provider === 'publish' ? ' (published by its device)' : ''}`, 'muted'));
  const badge = element('td');
  const kind = state === 'unavailable' ? ' unavailable' : kActiveStates.has(state) ? ' active' : '';
  badge.append(element('span', state, `badge state${kind}`));
  const attributes = Object.entries(entity.attributes || {})
    .filter(([key, value]) => key !== 'friendly_name' && value !== null) // a light that is off has brightness null
    .map(([key, value]) => `${key} ${typeof value === 'object' ? JSON.stringify(value) : value}`);
  const changed = entity.last_changed ? Date.parse(entity.last_changed) / 1000 : 0;
  row.append(who, badge, element('td', attributes.join(', ') || '–'), element('td', since(changed)),
    element('td', (entity.watchers || []).join(', ') || '–'));
  return row;
}

function connected() {
  page.lastOk = Date.now();
  page.lost = false;
  $('banner').hidden = true;
  $('live').className = 'dot live';
  document.body.classList.remove('lost');
  tick();
}

function disconnected(error) {
  page.lost = true;
  const banner = $('banner');
  banner.hidden = false;
  if (error.status === 401) {
    banner.textContent = 'Not authorized: open the page once with its token link (…/?token=…).';
  } else {
    const last = page.lastOk ? `since ${clock(page.lastOk)}` : 'yet';
    banner.textContent = `Connection lost: the server has not answered ${last}. Retrying every ${page.refreshMs / 1000} s…`;
  }
  $('live').className = 'dot lost';
  document.body.classList.add('lost');
  tick();
}

// Once a second: "updated N s ago", the uptime and the bindings' countdowns.
function tick() {
  const now = Date.now();
  $('updated').textContent = page.lastOk ? `updated ${Math.round((now - page.lastOk) / 1000)} s ago` : 'not updated yet';
  if (page.uptimeAt && !page.lost) $('server-uptime').textContent = duration(page.uptimeAt.seconds + (now - page.uptimeAt.at) / 1000);
  for (const { cell, row, at } of page.expiries) {
    const left = (at - now) / 1000;
    cell.textContent = left > 0 ? duration(left) : 'expired';
    row.classList.toggle('expiring', left < 60);
  }
}

async function start() {
  try {
    const config = await getJson('/status/config.json');
    page.title = config.title || page.title;
    page.refreshMs = config.refresh_ms || page.refreshMs;
  } catch (error) {
    // The page still works with its defaults.
  }
  $('title').textContent = page.title || 'homesip';
  $('refresh-note').textContent = `refreshes every ${page.refreshMs / 1000} s`;
  setInterval(tick, 1000);
  refresh();
}

start();
