// history.js: what the detail page shows of a Service's past (issue 19) —
// its generations with who made each and when, a diff between any two of
// them, a Roll back button (asks first; the rollback is a new generation
// the server audits and heals into the cluster like any change), and the
// drift the reconciler found and healed in the clusters.
import * as api from './api.js';
import { h, clear, timeEl, toast, errorBox, confirmDialog } from './ui.js';

// The spec as lines of indented text, keys sorted, so that two
// generations compare field by field.
export function lines(value, indent = '') {
  if (Array.isArray(value)) {
    if (value.length === 0) return [`${indent}[]`];
    const out = [];
    for (const v of value) {
      const sub = lines(v, `${indent}  `);
      out.push(`${indent}- ${sub[0].trimStart()}`, ...sub.slice(1));
    }
    return out;
  }
  if (value && typeof value === 'object') {
    const keys = Object.keys(value).sort();
    if (keys.length === 0) return [`${indent}{}`];
    const out = [];
    for (const k of keys) {
      const v = value[k];
      if (v && typeof v === 'object' && (Array.isArray(v) ? v.length : Object.keys(v).length)) {
        out.push(`${indent}${k}:`, ...lines(v, `${indent}  `));
      } else {
        out.push(`${indent}${k}: ${lines(v)[0].trim()}`);
      }
    }
    return out;
  }
  return [`${indent}${JSON.stringify(value)}`];
}

// What a generation stored: its spec and the annotations and labels the
// user sets (svcfleet's own facts left out).
function shown(item) {
  const svc = item && item.service;
  if (!svc) return [];
  const md = svc.metadata || {};
  const ann = Object.fromEntries(Object.entries(md.annotations || {}).filter(([k]) => !k.startsWith('svcfleet.io/')));
  const o = { spec: svc.spec || {} };
  if (Object.keys(ann).length) o.annotations = ann;
  if (md.labels && Object.keys(md.labels).length) o.labels = md.labels;
  return lines(o);
}

// diffLines(a, b): [{op: ' ' | '-' | '+', text}] by longest common
// subsequence (a spec is a few dozen lines).
export function diffLines(a, b) {
  const n = a.length;
  const m = b.length;
  const l = Array.from({ length: n + 1 }, () => new Array(m + 1).fill(0));
  for (let i = n - 1; i >= 0; i--) {
    for (let j = m - 1; j >= 0; j--) {
      l[i][j] = a[i] === b[j] ? l[i + 1][j + 1] + 1 : Math.max(l[i + 1][j], l[i][j + 1]);
    }
  }
  const out = [];
  let i = 0;
  let j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && a[i] === b[j]) {
      out.push({ op: ' ', text: a[i] });
      i++;
      j++;
    } else if (i < n && (j === m || l[i + 1][j] >= l[i][j + 1])) {
      out.push({ op: '-', text: a[i++] });
    } else {
      out.push({ op: '+', text: b[j++] });
    }
  }
  return out;
}

function diffView(from, to) {
  const d = diffLines(shown(from), shown(to));
  const changed = d.filter((x) => x.op !== ' ').length;
  return h('div.diff-wrap',
    h('p.muted.diff-summary', changed === 0
      ? `Generations ${from.generation} and ${to.generation} are the same.`
      : `${changed} line${changed === 1 ? '' : 's'} differ between generation ${from.generation} (−) and ${to.generation} (+).`),
    h('pre.diff#history-diff', { tabindex: '0', 'aria-label': `Differences from generation ${from.generation} to ${to.generation}` },
      d.map((x) => h(`span.diff-line${x.op === '+' ? '.add' : x.op === '-' ? '.del' : ''}`, `${x.op} ${x.text}\n`))));
}

function actionText(it) {
  if (it.rollbackOf) return `rollback to ${it.rollbackOf}`;
  return it.action || '';
}

// historyPanel(el, ctx): fills el with the generations of ctx.path.
// ctx: {path, canUpdate(), current() (the Service as last read),
// changed() (called after a rollback), alive()}.
export function historyPanel(el, ctx) {
  let items = [];
  let keep = 0;
  let lastText = '';
  let fromGen = 0;
  let toGen = 0;
  const diffBox = h('div');

  function drawDiff() {
    clear(diffBox);
    const a = items.find((x) => x.generation === fromGen);
    const b = items.find((x) => x.generation === toGen);
    if (a && b) diffBox.append(diffView(a, b));
  }

  function picker(id, label, value, set) {
    const sel = h('select', { id }, items.map((it) => h('option', { value: String(it.generation), selected: it.generation === value },
      `${it.generation} — ${it.user || 'unknown'}`)));
    sel.addEventListener('change', () => { set(Number(sel.value)); drawDiff(); });
    return h('div.field.inline', h('label', { for: id }, label), sel);
  }

  async function rollback(it) {
    const cur = ctx.current();
    const latest = items[items.length - 1];
    const ok = await confirmDialog({
      title: `Roll back to generation ${it.generation}?`,
      body: [h('p', 'The Service gets generation ', h('strong', String(it.generation)), '\'s spec again, as a new generation; ',
        'svcfleet records it as a rollback and applies it to the cluster.'),
      latest ? diffView(latest, it) : null],
      ok: 'Roll back',
      danger: true,
    });
    if (!ok || !ctx.alive()) return;
    try {
      const out = await api.call('POST', `${ctx.path}/rollback`, {
        body: { toGeneration: it.generation, resourceVersion: cur ? cur.metadata.resourceVersion : '' },
      });
      toast(`Rolled back to generation ${it.generation}: now generation ${out.metadata.generation}`);
    } catch (e) {
      toast(e.status === 409
        ? `${e.message} — the Service changed meanwhile; look at its history again before rolling back.`
        : `Roll back failed: ${e.message}`, 'error');
    }
    if (ctx.alive()) {
      await load();
      ctx.changed();
    }
  }

  function render(keepPicks) {
    clear(el);
    if (items.length === 0) {
      el.append(h('p.empty', 'No generations are recorded for this Service.'));
      return;
    }
    const latest = items[items.length - 1].generation;
    if (!keepPicks || !items.some((x) => x.generation === fromGen)) fromGen = items.length > 1 ? items[items.length - 2].generation : latest;
    if (!keepPicks || !items.some((x) => x.generation === toGen)) toGen = latest;
    const canRoll = ctx.canUpdate();
    el.append(
      h('table.table#history',
        h('caption.sr-only', 'Generations of this Service, newest first'),
        h('thead', h('tr', ['Generation', 'When', 'Who', 'What', 'Request', ''].map((t) => h('th', { scope: 'col' }, t || h('span.sr-only', 'Actions'))))),
        h('tbody', [...items].reverse().map((it) => h('tr', { dataset: { generation: String(it.generation) } },
          h('th', { scope: 'row' }, String(it.generation), it.generation === latest ? h('span.sub', ' (current)') : null),
          h('td', timeEl(it.time)),
          h('td', it.user || '—'),
          h('td', actionText(it)),
          h('td', h('code.small', it.requestId || '')),
          h('td', canRoll && it.generation !== latest && it.service
            ? h('button.btn.btn-small', {
              type: 'button', 'aria-label': `Roll back to generation ${it.generation}`, onclick: () => rollback(it),
            }, 'Roll back') : null))))),
      h('p.muted#history-keep', `svcfleet keeps the last ${keep || 'few'} generations of each Service; older ones are dropped.`),
      h('div.filters.diff-pickers',
        picker('f-diff-from', 'Compare generation', fromGen, (g) => { fromGen = g; }),
        picker('f-diff-to', 'with generation', toGen, (g) => { toGen = g; })),
      diffBox);
    drawDiff();
  }

  async function load() {
    try {
      const r = await api.get(`${ctx.path}/history`);
      if (!ctx.alive()) return;
      const next = (r.items || []).slice().sort((a, b) => a.generation - b.generation);
      // Drawn again only when a generation came or went: a redraw would
      // move the focus and the chosen comparison.
      const text = JSON.stringify(next);
      if (text === lastText) return;
      const first = lastText === '';
      lastText = text;
      items = next;
      keep = r.keep || 0;
      render(!first);
    } catch (e) {
      if (ctx.alive()) clear(el).append(errorBox(e));
    }
  }
  load();
  return { reload: load };
}

// loadDrift(el, path, alive): the heals of this Service — when, which
// cluster, what differed (path: what svcfleet had → what the cluster
// held), who wrote it there (field managers and operation), what was done.
export async function loadDrift(el, path, alive) {
  try {
    const r = await api.get(`${path}/drift`);
    if (!alive()) return;
    const items = (r.items || []).slice().sort((a, b) => String(b.time).localeCompare(String(a.time)));
    const text = JSON.stringify(items);
    if (el.dataset.text === text) return;
    el.dataset.text = text;
    clear(el);
    if (items.length === 0) {
      el.append(h('p.empty', 'No drift found: nobody changed this Service in its cluster behind svcfleet\'s back.'));
      return;
    }
    el.append(h('table.table#drift',
      h('thead', h('tr', ['When', 'Cluster', 'What differed', 'Written by', 'Done'].map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', items.map((d) => h('tr',
        h('td', timeEl(d.time)),
        h('td', d.cluster),
        h('td', (d.fields || []).map((f) => h('div', h('code', f.path), ': ',
          f.oldValue ? h('span.del', f.oldValue) : h('span.muted', { title: 'What svcfleet had applied is not known' }, '(not known)'), ' → ',
          f.newValue ? h('span.add', f.newValue) : h('span.muted', '(removed)')))),
        h('td', (d.managers || []).length ? d.managers.join(', ') : h('span.muted', 'unknown'),
          d.operation ? h('div.sub', d.operation) : null),
        h('td', d.action || 'reported'))))));
  } catch (e) {
    if (!alive()) return;
    clear(el).append(h('p.muted', e.status === 403 ? 'You may not read the drift events (they are in the audit log).' : `Drift could not be read: ${e.message}`));
  }
}
