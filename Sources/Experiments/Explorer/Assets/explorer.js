// The Circuit Explorer's page: plain JavaScript over the JSON API (Docs/experiments/circuit-explorer.md).
// Every piece of text from the model, the prompt or the SAEs is set as text (textContent, text nodes,
// attribute values), never parsed as markup.
'use strict';

const $ = (id) => document.getElementById(id);
const state = { prompt: '', bos: true, roots: [], expanded: [], selected: null, run: null, graph: null, maxChildren: 6 };
let pending = 0;

// MARK: helpers

/** An element with attributes (`class`, `data-*`, others) and children (strings become text nodes). */
function el(tag, attrs, ...children) {
  const svg = ['svg', 'g', 'line', 'circle', 'text', 'title', 'rect'].includes(tag);
  const e = svg ? document.createElementNS('http://www.w3.org/2000/svg', tag) : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'onclick') e.addEventListener('click', v);
    else e.setAttribute(k, String(v));
  }
  for (const c of children.flat()) if (c !== undefined && c !== null) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return e;
}

/** A token with its invisible characters shown: newline ↵, tab ⇥, other control characters as \xNN. */
function visible(text) {
  return String(text).replace(/[\u0000-\u001f\u007f]/g, (c) => c === '\n' ? '↵' : c === '\t' ? '⇥' : '\\x' + c.charCodeAt(0).toString(16).padStart(2, '0'));
}

function fmt(x, digits = 4) {
  if (x === null || x === undefined) return '—';
  if (typeof x !== 'number') return String(x);
  const s = Math.abs(x) >= 1e-3 || x === 0 ? x.toPrecision(digits) : x.toExponential(digits - 1);
  return (x > 0 ? '+' : '') + String(Number(s));
}

function setBusy(delta) {
  pending += delta;
  document.body.dataset.pending = String(pending);
}

async function api(path, body) {
  setBusy(1);
  try {
    const init = body === undefined ? {} : { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) };
    const response = await fetch(path, init);
    const text = await response.text();
    let data = null;
    try { data = JSON.parse(text); } catch (_) { /* not JSON: the status says what happened */ }
    if (!response.ok) throw new Error((data && data.error && data.error.message) || `${response.status} ${response.statusText}`);
    return data;
  } finally {
    setBusy(-1);
  }
}

function showError(e) {
  $('error').textContent = e && e.message ? e.message : String(e);
  $('error').hidden = false;
}

/** Runs an action from a click or a form, reporting its error on the page. */
function act(f) {
  return async (event) => {
    if (event && event.preventDefault) event.preventDefault();
    $('error').hidden = true;
    try { await f(event); } catch (e) { showError(e); }
  };
}

const promptBody = () => ({ prompt: state.prompt, bos: state.bos });
const tokenText = (p) => visible(state.run.tokens[p].text);
const nodeName = (n) => `${n.description}${n.label ? ' ' + n.label : ''}`;

/** A node id's layer, feature and position, for attention features (`L_F_P`). */
function parseAttentionId(id) {
  const m = /^(\d+)_(\d+)_(\d+)$/.exec(id);
  return m ? { layer: +m[1], feature: +m[2], position: +m[3] } : null;
}

// MARK: the state in the address

function updateLink() {
  const q = new URLSearchParams();
  q.set('p', state.prompt);
  q.set('bos', state.bos ? '1' : '0');
  if (state.roots.length) q.set('roots', state.roots.join(','));
  if (state.expanded.length) q.set('x', state.expanded.join(','));
  if (state.selected) q.set('sel', state.selected);
  if (state.maxChildren !== 6) q.set('k', String(state.maxChildren));
  history.replaceState(null, '', '#' + q.toString());
  $('copy-link').disabled = false;
  $('export').disabled = state.roots.length === 0;
}

function readLink() {
  const q = new URLSearchParams(location.hash.slice(1));
  if (!q.has('p')) return false;
  state.prompt = q.get('p');
  state.bos = q.get('bos') !== '0';
  state.roots = (q.get('roots') || '').split(',').filter(Boolean);
  state.expanded = (q.get('x') || '').split(',').filter(Boolean);
  state.selected = q.get('sel');
  state.maxChildren = Number(q.get('k')) || 6;
  $('prompt').value = state.prompt;
  $('bos').checked = state.bos;
  return true;
}

// MARK: the prompt

async function runPrompt(restoring) {
  state.prompt = $('prompt').value;
  state.bos = $('bos').checked;
  if (!restoring) { state.roots = []; state.expanded = []; state.selected = null; }
  const run = await api('/api/run', promptBody());
  state.run = run;
  renderTokens();
  renderOverview();
  $('prompt-view').hidden = false;
  $('cell').hidden = true;
  const best = run.predictions[0];
  $('prediction').textContent = best ? `— the model's next token: "${visible(best.text)}" (p = ${Math.exp(best.logProb).toFixed(3)})` : '';
  if (state.roots.length) {
    await refreshGraph();
    if (state.selected) await showNode(state.selected);
  } else {
    $('workspace').hidden = true;
  }
  updateLink();
}

function renderTokens() {
  const roots = new Set(state.roots.map((id) => Number(id.split('_').pop())));
  $('tokens').replaceChildren(...state.run.tokens.map((t) =>
    el('span', { class: roots.has(t.position) ? 'tok root' : 'tok', 'data-pos': t.position, title: `position ${t.position}, token id ${t.id}` },
       el('span', { class: 'pos' }, t.position), visible(t.text))));
}

function renderOverview() {
  const run = state.run;
  const max = Math.max(1e-9, ...run.layers.flatMap((l) => l.cells.map((c) => c.maxActivation)));
  const head = el('tr', {}, el('th', {}, ''), ...run.tokens.map((t) => el('th', { title: `position ${t.position}` }, visible(t.text))));
  const rows = run.layers.map((layer) => el('tr', {},
    el('th', { class: 'row' }, `L${layer.layer} ${layer.kind === 'attention' ? 'attn' : 'resid'}`),
    ...layer.cells.map((c, p) => {
      const td = el('td', { class: 'cell', 'data-layer': layer.layer, 'data-kind': layer.kind, 'data-pos': p, 'data-count': c.count, 'data-max': c.maxActivation,
                            title: `${c.count} features fire; strongest ${c.maxActivation.toFixed(3)}`, onclick: act(() => openCell(layer, p, td)) },
                    c.count ? c.count : '');
      td.style.background = c.count ? `rgba(214, 158, 46, ${(0.12 + 0.88 * c.maxActivation / max).toFixed(3)})` : '';
      return td;
    })));
  $('overview').replaceChildren(head, ...rows);
}

async function openCell(layer, position, td) {
  document.querySelectorAll('#overview td.selected').forEach((e) => e.classList.remove('selected'));
  td.classList.add('selected');
  const r = await api('/api/cell', { ...promptBody(), layer: layer.layer, position, kind: layer.kind });
  $('cell').hidden = false;
  $('cell-title').textContent = `${r.kind} SAE, layer ${r.layer}, position ${r.position} "${tokenText(r.position)}": ${r.features.length + r.more} features fire${r.more ? ` (the ${r.features.length} strongest shown)` : ''}${r.kind === 'attention' ? ' — click one to trace it' : ''}`;
  $('cell-features').replaceChildren(...r.features.map((f) => {
    const li = el('li', { 'data-node': f.node.id, 'data-activation': f.activation, title: 'trace this feature' },
      el('span', { class: 'act' }, f.activation.toFixed(3)), `#${f.node.feature} `, el('span', { class: 'label' }, f.node.label));
    if (f.dashboard) li.append(' ', el('a', { href: f.dashboard.url, target: '_blank', rel: 'noopener' }, 'dashboard'));
    li.addEventListener('click', act(async (e) => { if (e.target.tagName !== 'A') await addRoot(f.node.id); }));
    return li;
  }));
  if (!r.features.length) $('cell-features').replaceChildren(el('li', {}, 'no feature fires here'));
}

// MARK: the graph

async function addRoot(id) {
  if (!state.roots.includes(id)) state.roots.push(id);
  state.selected = id;
  await refreshGraph();
  await showNode(id);
}

function graphQuery() {
  const q = new URLSearchParams({ prompt: state.prompt, bos: state.bos ? '1' : '0', roots: state.roots.join(','), expanded: state.expanded.join(','),
                                  maxChildren: String(state.maxChildren) });
  return q.toString().replace(/\+/g, '%20');
}

async function refreshGraph() {
  if (!state.roots.length) {
    state.graph = null;
    $('workspace').hidden = true;
    renderTokens();
    updateLink();
    return;
  }
  state.graph = await api('/api/graph?' + graphQuery());
  $('workspace').hidden = false;
  renderTokens();
  drawGraph();
  updateLink();
}

function stageOf(n) {
  if (n.layer === 'E') return 0;
  return 1 + 3 * Number(n.layer) + ({ resid_pre: 0, attn: 1, mlp: 2 }[n.sublayer] ?? 1);
}

function stageName(s) {
  if (s === 0) return 'embed';
  const l = Math.floor((s - 1) / 3);
  return `L${l} ${['resid', 'attn', 'mlp'][(s - 1) % 3]}`;
}

function drawGraph() {
  const g = state.graph, n = state.run.tokens.length;
  const stages = [...new Set(g.nodes.map(stageOf))].sort((a, b) => b - a);
  const left = 70, top = 30, rowH = 70, room = Math.max(300, $('graph-box').clientWidth - left - 12);
  const colW = Math.max(30, Math.min(72, room / n));   // fit the column when it can; scroll when the prompt is long
  const width = left + colW * n + 10, height = top + rowH * Math.max(stages.length - 1, 0) + 50;
  const slots = new Map();
  for (const node of g.nodes) {
    const key = `${stageOf(node)}:${node.ctx_idx}`;
    slots.set(key, (slots.get(key) || []).concat([node.node_id]));
  }
  // Nodes sharing a stage and a position sit side by side, 16 px apart, in as many short rows as they need.
  const where = new Map(), step = 16, perRow = Math.max(1, Math.floor((colW - 2) / step));
  for (const node of g.nodes) {
    const group = slots.get(`${stageOf(node)}:${node.ctx_idx}`), k = group.indexOf(node.node_id);
    const rows = Math.ceil(group.length / perRow), row = Math.floor(k / perRow), inRow = Math.min(perRow, group.length - row * perRow);
    where.set(node.node_id, [left + colW * (node.ctx_idx + 0.5) + (k % perRow - (inRow - 1) / 2) * step,
                             top + rowH * stages.indexOf(stageOf(node)) + (row - (rows - 1) / 2) * step]);
  }
  const svg = $('graph');
  svg.setAttribute('width', width);
  svg.setAttribute('height', height);
  const parts = [];
  stages.forEach((s, i) => parts.push(el('text', { x: 4, y: top + rowH * i + 4 }, stageName(s))));
  const maxW = Math.max(1e-12, ...g.links.map((l) => Math.abs(l.weight)));
  for (const l of g.links) {
    const [x1, y1] = where.get(l.source), [x2, y2] = where.get(l.target);
    const line = el('line', { x1, y1, x2, y2, stroke: l.weight >= 0 ? '#2b6cb0' : '#c53030', 'stroke-opacity': 0.55,
                              'stroke-width': (0.8 + 5 * Math.abs(l.weight) / maxW).toFixed(2), class: l.heads ? 'attn' : 'direct',
                              'data-source': l.source, 'data-target': l.target, 'data-weight': l.weight },
                    el('title', {}, `${l.source} → ${l.target}: ${fmt(l.weight)}${l.heads ? ' (through attention: click for the QK attribution)' : ''}`));
    if (l.heads) line.addEventListener('click', act(() => showQK(l)));
    parts.push(line);
  }
  const roots = new Set(state.roots);
  for (const node of g.nodes) {
    const [cx, cy] = where.get(node.node_id);
    const expandable = /feature$/.test(node.feature_type) && !node.feature_type.includes('error');
    const fill = roots.has(node.node_id) ? '#d69e2e' : node.qk_only ? '#e2e8f0' : expandable ? (state.expanded.includes(node.node_id) ? '#2d3748' : '#718096') : '#a0aec0';
    const c = el('circle', { cx, cy, r: expandable ? 7 : 5, fill, 'data-id': node.node_id, class: node.node_id === state.selected ? 'selected' : null },
                 el('title', {}, `${node.node_id} ${node.clerp || ''}${node.value !== null && node.value !== undefined ? ' — value ' + fmt(node.value) : ''}`));
    if (expandable) c.addEventListener('click', act(() => showNode(node.node_id)));
    parts.push(c);
  }
  const chars = Math.floor(colW / 6.5);
  state.run.tokens.forEach((t, i) => {
    const text = chars >= 3 ? visible(t.text).slice(0, chars) : (i % 5 === 0 ? String(i) : '');
    if (text) parts.push(el('text', { x: left + colW * (i + 0.5), y: height - 8, 'text-anchor': 'middle' }, el('title', {}, `position ${i}: ${visible(t.text)}`), text));
  });
  svg.replaceChildren(...parts);
  const notes = [`${g.nodes.length} nodes, ${g.links.length} links (the ${state.maxChildren} largest terms of each expanded node above 5% of its value)`];
  if (g.unreached && g.unreached.length) notes.push(`not reached with these settings: ${g.unreached.join(', ')}`);
  $('graph-note').textContent = notes.join('; ');
}

// MARK: a node

async function showNode(id) {
  const r = await api('/api/expand', { ...promptBody(), node: id, maxTerms: 12 });
  state.selected = id;
  $('node').hidden = false;
  $('node').dataset.node = id;
  $('qk').hidden = true;
  $('intervention').hidden = true;
  $('node-title').textContent = nodeName(r.node) + ` on "${tokenText(r.node.position)}"`;
  const value = $('node-value');
  value.dataset.value = r.value;
  value.dataset.activation = r.activation ?? '';
  value.textContent = `value ${fmt(r.value)}, activation ${fmt(r.activation)}; ${r.termCount} terms, the ${r.terms.length} largest below`;
  $('pin-value').value = r.activation ?? 0;
  const inGraph = state.graph && state.graph.nodes.some((n) => n.node_id === id && !n.qk_only);
  const toggle = $('toggle-expand');
  toggle.textContent = state.roots.includes(id) ? 'Remove from graph' : state.expanded.includes(id) ? 'Collapse' : inGraph ? 'Expand in graph' : 'Add to graph';
  // The DFA by source position on the token strip.
  const maxP = Math.max(1e-12, ...r.byPosition.map(Math.abs));
  $('dfa').replaceChildren(...r.byPosition.map((v, p) => {
    const s = el('span', { class: 'tok', 'data-pos': p, 'data-value': v, title: `position ${p}: ${fmt(v)}` }, visible(state.run.tokens[p].text), el('span', { class: 'val' }, fmt(v, 3)));
    s.style.background = v >= 0 ? `rgba(43, 108, 176, ${(Math.abs(v) / maxP * 0.6).toFixed(3)})` : `rgba(197, 48, 48, ${(Math.abs(v) / maxP * 0.6).toFixed(3)})`;
    return s;
  }));
  // The split over heads.
  $('heads-title').hidden = !r.byHead;
  if (r.byHead) {
    const layer = r.node.layer, maxH = Math.max(1e-12, ...r.byHead.map(Math.abs));
    const best = r.byHead.reduce((b, v, i) => Math.abs(v) > Math.abs(r.byHead[b]) ? i : b, 0);
    const bars = el('div', { class: 'bars' }, ...r.byHead.map((v, h) => {
      const d = el('div', { class: v < 0 ? 'neg' : null, 'data-head': h, 'data-value': v, title: `${state.run.heads[layer][h]}: ${fmt(v)}` });
      d.style.height = `${Math.max(1, 68 * Math.abs(v) / maxH).toFixed(1)}px`;
      return d;
    }));
    $('heads').replaceChildren(bars, el('p', { class: 'note' }, `strongest: ${state.run.heads[layer][best]} (${fmt(r.byHead[best])})`));
  } else {
    $('heads').replaceChildren();
  }
  // The terms.
  const linked = new Set(state.graph ? state.graph.links.filter((l) => l.target === id).map((l) => l.source) : []);
  const rows = r.terms.map((t) => {
    const src = t.source;
    let via = '';
    if (t.heads) {
      const h = t.heads.reduce((b, v, i) => Math.abs(v) > Math.abs(t.heads[b]) ? i : b, 0);
      via = `${state.run.heads[r.node.layer][h]} (${(100 * t.heads[h] / t.value).toFixed(0)}%)`;
    }
    const name = src.expandable ? el('span', { class: 'linkish', title: 'open this feature' }, src.description) : src.description;
    if (src.expandable) name.addEventListener('click', act(() => showNode(src.id)));
    let button = '';
    if (src.expandable) {
      const open = state.expanded.includes(src.id) || state.roots.includes(src.id);
      button = el('button', { type: 'button', class: 'expand', 'data-node': src.id, disabled: !linked.has(src.id) && !open,
                              title: linked.has(src.id) || open ? (open ? 'collapse in the graph' : 'expand in the graph') : `not among the ${state.maxChildren} terms the graph keeps` },
                  open ? '⊖' : '⊕');
      button.addEventListener('click', act(() => toggleExpanded(src.id)));
    }
    return el('tr', { 'data-source': src.id, 'data-value': t.value },
      el('td', { class: 'num' }, fmt(t.value)), el('td', {}, name), el('td', { class: 'tokcell' }, `"${visible(src.token)}"`),
      el('td', {}, src.label), el('td', {}, via), el('td', {}, button));
  });
  rows.push(el('tr', { class: 'other' }, el('td', { class: 'num' }, fmt(r.otherTerms)), el('td', { colspan: 5 }, `the other ${r.termCount - r.terms.length} terms`)));
  $('terms').replaceChildren(el('tr', {}, ...['term', 'source', 'token', 'label', 'through', ''].map((h) => el('th', {}, h))), ...rows);
  // The dashboard, when one was given.
  const board = $('dashboard');
  board.hidden = !r.dashboard;
  if (r.dashboard) {
    board.replaceChildren(el('a', { href: r.dashboard.url, target: '_blank', rel: 'noopener' }, 'dashboard'),
      ` — density ${(100 * r.dashboard.density).toPrecision(3)}%, max activation ${r.dashboard.maxActivation.toFixed(3)}; top examples:`,
      ...r.dashboard.examples.map((e) => el('div', { class: 'example' }, `${e.activation.toFixed(2)}  `,
        ...e.tokens.map((t, i) => el('span', { class: i === e.center ? 'hot' : null }, visible(t))))));
  }
  document.querySelectorAll('#graph circle').forEach((c) => c.classList.toggle('selected', c.dataset.id === id));
  updateLink();
}

async function toggleExpanded(id) {
  if (state.roots.includes(id)) {
    state.roots = state.roots.filter((r) => r !== id);
  } else if (state.expanded.includes(id)) {
    state.expanded = state.expanded.filter((r) => r !== id);
  } else {
    const inGraph = state.graph && state.graph.nodes.some((n) => n.node_id === id && !n.qk_only);
    if (inGraph) state.expanded.push(id); else state.roots.push(id);
  }
  await refreshGraph();
  if (state.roots.length && state.selected) await showNode(state.selected);
  else { state.selected = null; $('node').hidden = true; }
}

// MARK: an attention edge

async function showQK(link) {
  const target = parseAttentionId(link.target);
  if (!target) throw new Error(`${link.target} is not an attention feature`);
  const head = link.heads.reduce((b, v, i) => Math.abs(v) > Math.abs(link.heads[b]) ? i : b, 0);
  const source = Number(link.source.split('_').pop());
  const r = await api('/api/qk', { ...promptBody(), layer: target.layer, head, destination: target.position, source, pairs: 10 });
  const box = $('qk');
  box.hidden = false;
  box.dataset.layer = r.layer; box.dataset.head = r.head; box.dataset.destination = r.destination; box.dataset.source = r.source;
  const maxP = Math.max(1e-12, ...r.patternRow);
  const row = el('div', { class: 'bars', id: 'qk-pattern' }, ...r.patternRow.map((p, s) => {
    const d = el('div', { 'data-source': s, 'data-pattern': p, title: `source ${s} "${tokenText(s)}": pattern ${p.toFixed(4)}, score ${fmt(r.scoreRow[s])}` });
    d.style.height = `${Math.max(1, 68 * p / maxP).toFixed(1)}px`;
    if (s === r.source) d.style.background = '#d69e2e';
    return d;
  }));
  const pairs = r.pairs.map((p) => el('tr', { 'data-query': p.query.id, 'data-key': p.key.id, 'data-value': p.value },
    el('td', { class: 'num' }, fmt(p.value)), el('td', {}, nodeName(p.query)), el('td', {}, nodeName(p.key))));
  pairs.push(el('tr', { class: 'other' }, el('td', { class: 'num' }, fmt(r.otherPairs)), el('td', { colspan: 2 }, `the other ${r.pairCount - r.pairs.length} pairs`)));
  const score = el('p', { id: 'qk-score', 'data-score': r.score, 'data-pattern': r.pattern },
    `score ${fmt(r.score)}, pattern ${r.pattern.toFixed(4)}; strongest competitors: `,
    r.competitors.slice(0, 4).map((c) => `${c.source} "${tokenText(c.source)}" (${c.pattern.toFixed(3)})`).join(', ') || 'none');
  box.replaceChildren(
    el('h2', {}, `QK: ${r.headLabel}, destination ${r.destination} "${tokenText(r.destination)}" ← source ${r.source} "${tokenText(r.source)}"`),
    score, el('h3', {}, 'Attention pattern row (the source in gold)'), row,
    el('h3', {}, 'Query component × key component'),
    el('table', { id: 'qk-pairs' }, el('tr', {}, el('th', {}, 'term'), el('th', {}, 'query (at the destination)'), el('th', {}, 'key (at the source)')), ...pairs));
  box.scrollIntoView({ block: 'nearest' });
}

// MARK: interventions

async function intervene(value) {
  const id = state.selected;
  const r = await api('/api/intervene', { ...promptBody(), edits: [value === undefined ? { node: id } : { node: id, value }] });
  const box = $('intervention');
  box.hidden = false;
  const edit = r.edits[0];
  const predictions = (list) => list.slice(0, 5).map((p) => `"${visible(p.text)}" ${Math.exp(p.logProb).toFixed(3)}`).join(', ');
  const changes = r.downstream.map((c) => {
    const name = el('span', { class: 'linkish' }, nodeName(c.node));
    name.addEventListener('click', act(() => showNode(c.node.id)));
    return el('tr', { 'data-node': c.node.id, 'data-before': c.before, 'data-after': c.after },
      el('td', {}, name), el('td', { class: 'num' }, fmt(c.before)), el('td', { class: 'num' }, fmt(c.after)));
  });
  box.replaceChildren(
    el('h2', {}, `${value === undefined ? 'Ablated' : 'Pinned'} ${edit.node.description}: ${fmt(edit.before)} → ${fmt(edit.after)}`),
    el('p', { id: 'prediction-before' }, `next token at position ${r.position}, before: ${predictions(r.clean)}`),
    el('p', { id: 'prediction-after' }, `after: ${predictions(r.edited)}`),
    el('h3', {}, 'Tokens whose log-probability moved most'),
    el('table', {}, ...r.tokenChanges.slice(0, 6).map((t) => el('tr', {}, el('td', { class: 'tokcell' }, `"${visible(t.text)}"`),
      el('td', { class: 'num' }, fmt(t.before)), el('td', { class: 'num' }, fmt(t.after))))),
    el('h3', {}, 'Downstream features that moved most'),
    changes.length ? el('table', { id: 'downstream' }, el('tr', {}, el('th', {}, 'feature'), el('th', {}, 'before'), el('th', {}, 'after')), ...changes)
                   : el('p', {}, 'no SAE feature downstream changed'));
  box.scrollIntoView({ block: 'nearest' });
}

// MARK: start

async function start() {
  const info = await api('/api/info');
  $('info').textContent = `Model: ${info.model}. SAEs: ${info.saes.join(', ')}. Prompts up to ${info.maxTokens} tokens.`;
  for (const e of info.examples) $('examples').append(el('option', { value: e.prompt }, e.name));
  $('examples').addEventListener('change', () => { if ($('examples').value) $('prompt').value = $('examples').value; });
  $('prompt-form').addEventListener('submit', act(() => runPrompt(false)));
  $('prompt').addEventListener('keydown', (e) => { if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) $('prompt-form').requestSubmit(); });
  $('toggle-expand').addEventListener('click', act(() => toggleExpanded(state.selected)));
  $('ablate').addEventListener('click', act(() => intervene(undefined)));
  $('pin').addEventListener('click', act(() => {
    const v = Number($('pin-value').value);
    if (!Number.isFinite(v)) throw new Error('pin value is not a number');
    return intervene(v);
  }));
  $('export').addEventListener('click', act(() => {
    const a = el('a', { href: '/api/graph?' + graphQuery() + '&download=1', download: 'trace.json' });
    document.body.append(a); a.click(); a.remove();
  }));
  $('copy-link').addEventListener('click', act(async () => {
    updateLink();
    const link = $('share-link');
    link.value = location.href;
    link.hidden = false;
    link.select();
    try { await navigator.clipboard.writeText(location.href); } catch (_) { /* no clipboard here: the link stays selected in the box */ }
  }));
  if (readLink()) await runPrompt(true);
  else $('prompt').value = info.examples[0].prompt;
}

document.addEventListener('DOMContentLoaded', act(start));
