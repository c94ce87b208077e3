// fleet.js: Multicloud Services (FleetServices, issue 18) — one Service
// placed on many clusters chosen by name or by their labels. The list
// (with "N/M synced") and the detail page with each placed cluster's
// status; the create and modify forms are the Service form in its fleet
// mode (form.js). Convert (i18-console): a Service of one cluster becomes a
// Multicloud Service placed on that cluster, after a preview.
import * as api from './api.js';
import { h, clear, timeEl, badge, errorBox, confirmDialog, toast } from './ui.js';
import { go, href } from './nav.js';
import { portText } from './svc.js';

export function fleetPath(ns, name) {
  return `/namespaces/${encodeURIComponent(ns)}/fleetservices${name ? `/${encodeURIComponent(name)}` : ''}`;
}

// "clusters east, west; labels env=prod" for a placement.
export function placementText(pl) {
  const parts = [];
  if (pl && (pl.clusters || []).length) parts.push(`clusters ${pl.clusters.join(', ')}`);
  const sel = pl && pl.clusterSelector;
  if (sel) {
    const ls = Object.entries(sel.matchLabels || {}).map(([k, v]) => `${k}=${v}`);
    for (const e of sel.matchExpressions || []) ls.push(`${e.key} ${e.operator}${(e.values || []).length ? ` (${e.values.join(', ')})` : ''}`);
    parts.push(ls.length ? `labels ${ls.join(', ')}` : 'every cluster');
  }
  return parts.join('; ') || '—';
}

function syncedText(fs) {
  const st = fs.status || {};
  if (st.summary) return st.summary;
  return `${st.synced || 0}/${st.placed || 0} synced`;
}

async function deleteFleet(fs) {
  const { name, namespace, resourceVersion } = fs.metadata;
  const ok = await confirmDialog({
    title: `Delete Multicloud Service ${name}?`,
    body: [h('p', 'Its Service ', h('strong', `${namespace}/${name}`), ' is removed from every cluster it is placed on.')],
    ok: 'Delete',
    danger: true,
  });
  if (!ok) return false;
  try {
    await api.call('DELETE', fleetPath(namespace, name), { query: { resourceVersion } });
    toast(`Deleting Multicloud Service ${name}`);
    return true;
  } catch (e) {
    toast(`Delete failed: ${e.message}`, 'error');
    return false;
  }
}

export function fleetListPage(main, params, query, alive) {
  document.title = 'Multicloud Services — svcfleet';
  const ns = query.ns || '';
  const body = h('div.table-wrap');
  main.append(h('div.page-head',
    h('div', h('h1', { tabindex: '-1' }, 'Multicloud Services'),
      h('p.muted', 'One Service placed on many clusters, chosen by name or by their labels.')),
    h('div.page-actions', h('a.btn.btn-primary#create-fleet', { href: href('/fleetservices/new', { ns }) }, 'Create Multicloud Service'))),
  body);
  let lastText = '';

  async function load() {
    try {
      const list = await api.get(ns ? fleetPath(ns) : '/fleetservices');
      if (!alive()) return;
      const text = JSON.stringify(list.items);
      if (text === lastText) return;
      lastText = text;
      clear(body);
      if (list.items.length === 0) {
        body.append(h('p.empty', ns ? `No Multicloud Services in namespace ${ns}.` : 'No Multicloud Services you can see.'));
        return;
      }
      body.append(h('table.table#fleet',
        h('caption.sr-only', 'Multicloud Services'),
        h('thead', h('tr', ['Name', 'Namespace', 'Access type', 'Ports', 'Deployed to', 'Synced', 'Generation']
          .map((t) => h('th', { scope: 'col' }, t)))),
        h('tbody', list.items.map((fs) => {
          const st = fs.status || {};
          const spec = (fs.spec.template || {}).spec || {};
          const all = st.placed > 0 && st.synced === st.placed;
          return h('tr', { dataset: { name: fs.metadata.name, namespace: fs.metadata.namespace, synced: `${st.synced || 0}/${st.placed || 0}` } },
            h('th', { scope: 'row' }, h('a', { href: href(fleetPath(fs.metadata.namespace, fs.metadata.name)) }, fs.metadata.name)),
            h('td', fs.metadata.namespace),
            h('td', spec.type || 'ClusterIP'),
            h('td', (spec.ports || []).map((p) => h('div', portText(p)))),
            h('td', placementText(fs.spec.placement)),
            h('td.synced', h(`span.badge.badge-${all ? 'ok' : 'wait'}`, syncedText(fs))),
            h('td', String(fs.metadata.generation || '—')));
        }))));
    } catch (e) {
      if (alive()) clear(body).append(errorBox(e));
    }
  }
  load();
  const timer = setInterval(load, 3000);
  main.querySelector('h1').focus();
  return () => clearInterval(timer);
}

export function fleetDetailPage(main, params, query, alive) {
  const { namespace, name } = params;
  document.title = `${name} — Multicloud Services — svcfleet`;
  const head = h('div.page-head',
    h('div', h('h1', { tabindex: '-1' }, `Multicloud Service ${name}`),
      h('p.muted', h('a', { href: href('/fleetservices') }, 'Multicloud Services'), ` · namespace ${namespace}`)),
    h('div.page-actions'));
  const body = h('div');
  main.append(head, body);
  let last = null;
  let lastText = '';

  function render(fs) {
    const spec = fs.spec || {};
    const tpl = (spec.template || {}).spec || {};
    const ann = ((spec.template || {}).metadata || {}).annotations || {};
    const st = fs.status || {};
    clear(body).append(
      h('section.card', { 'aria-labelledby': 'fleet-spec-title' },
        h('h2#fleet-spec-title', 'Service template'),
        h('dl.facts',
          h('dt', 'Deployed to'), h('dd#fleet-placement', placementText(spec.placement)),
          h('dt', 'Synced'), h('dd#fleet-synced', syncedText(fs)),
          h('dt', 'Access type'), h('dd', tpl.type || 'ClusterIP'),
          h('dt', 'Ports'), h('dd', (tpl.ports || []).map((p) => h('div', portText(p)))),
          h('dt', 'Label selector'), h('dd', Object.entries(tpl.selector || {}).map(([k, v]) => h('span.chip', `${k}=${v}`))),
          h('dt', 'Node ports'), h('dd', spec.nodePorts || 'PerCluster'),
          h('dt', 'Annotations'), h('dd', Object.keys(ann).length
            ? Object.entries(ann).map(([k, v]) => h('div.ann', h('code', k), ' = ', h('code', v))) : h('span.muted', 'None')),
          h('dt', 'Overrides'), h('dd', (spec.overrides || []).length
            ? spec.overrides.map((o) => h('div', placementText(o), ': ', h('code', JSON.stringify(o.patch)))) : h('span.muted', 'None')),
          h('dt', 'Generation'), h('dd', String(fs.metadata.generation || '')),
          fs.metadata.creationTimestamp ? [h('dt', 'Created'), h('dd', timeEl(fs.metadata.creationTimestamp))] : null)),
      h('section.card', { 'aria-labelledby': 'fleet-status-title' },
        h('h2#fleet-status-title', 'Status per cluster'),
        (st.clusters || []).length === 0
          ? h('p.empty', 'No cluster matches the placement yet.')
          : h('table.table#fleet-clusters',
            h('thead', h('tr', ['Cluster', 'Placement', 'State', 'Message', 'Address', 'Node ports'].map((t) => h('th', { scope: 'col' }, t)))),
            h('tbody', st.clusters.map((c) => h('tr', { dataset: { cluster: c.cluster, state: c.state || '' } },
              h('th', { scope: 'row' }, h('a', { href: href(`/clusters/${encodeURIComponent(c.cluster)}/namespaces/${encodeURIComponent(namespace)}/services/${encodeURIComponent(name)}`) }, c.cluster)),
              h('td', c.placement || '—'),
              h('td', c.state ? badge(c.state) : h('span.muted', '—')),
              h('td.msg', c.message || '—'),
              h('td', [c.loadBalancerAddress, ...(c.ingress || [])].filter(Boolean).join(', ') || '—'),
              h('td', (c.nodePorts || []).map((p) => h('div', `${p.name ? `${p.name} ` : ''}${p.port} → ${p.nodePort}`)))))))));
  }

  async function load() {
    try {
      const fs = await api.get(fleetPath(namespace, name));
      if (!alive()) return;
      last = fs;
      const text = JSON.stringify(fs);
      if (text === lastText) return;
      lastText = text;
      const actions = head.querySelector('.page-actions');
      if (!actions.firstChild) {
        actions.append(h('a.btn#modify-fleet', { href: href(`${fleetPath(namespace, name)}/edit`) }, 'Modify'));
        actions.append(h('button.btn.btn-danger#delete-fleet', {
          type: 'button',
          onclick: async () => { if (await deleteFleet(last) && alive()) go('/fleetservices'); },
        }, 'Delete'));
      }
      render(fs);
    } catch (e) {
      if (!alive()) return;
      clear(body).append(e.status === 404 && last ? h('p.empty', 'This Multicloud Service has been deleted.') : errorBox(e));
    }
  }
  load();
  const timer = setInterval(load, 3000);
  main.querySelector('h1').focus();
  return () => clearInterval(timer);
}

// Convert (i18-console): the Service's preview as a Multicloud Service
// (ConvertService dry run: placed on its cluster, node ports and address
// kept, the Service adopted as its first copy), then Convert.
export function fleetConvertPage(main, params, query, alive) {
  const { cluster, namespace, name } = params;
  document.title = `Convert ${name} — svcfleet`;
  const svcHref = href(`/clusters/${encodeURIComponent(cluster)}/namespaces/${encodeURIComponent(namespace)}/services/${encodeURIComponent(name)}`);
  const path = `/clusters/${encodeURIComponent(cluster)}/namespaces/${encodeURIComponent(namespace)}/services/${encodeURIComponent(name)}/convert`;
  const body = h('div');
  main.append(h('div.page-head',
    h('div', h('h1', { tabindex: '-1' }, `Convert Service ${name} to a Multicloud Service`),
      h('p.muted', h('a', { href: svcHref }, `Service ${name}`), ` · cluster ${cluster} · namespace ${namespace}`))),
  body);
  let busy = false;

  function failure(e) {
    return h('div.alert.alert-error#convert-error', { role: 'alert', tabindex: '-1' },
      h('p', e.status === 403 ? `Not allowed: ${e.message}` : e.message),
      e.causes.length ? h('ul', e.causes.map((c) => h('li', c.field ? `${c.field}: ${c.message}` : c.message))) : null);
  }

  function render(fs) {
    const rendered = (fs.status && fs.status.rendered) || [];
    clear(body).append(h('section.card#convert-preview', { 'aria-labelledby': 'convert-title', tabindex: '-1' },
      h('h2#convert-title', 'Preview'),
      h('p', `Multicloud Service ${fs.metadata.name} in namespace ${fs.metadata.namespace}, deployed to `,
        h('strong', placementText(fs.spec.placement)), '. Its node ports and address stay as they are; the Service becomes its copy in cluster ',
        h('strong', cluster), '. Modify it afterwards to deploy it to more clusters.'),
      rendered.map((r) => {
        const spec = (r.service && r.service.spec) || {};
        return h('div.preview-cluster', { dataset: { cluster: r.cluster } },
          h('h3', `Cluster ${r.cluster}`, h('span.sub', ` — ${r.action || 'apply'}`)),
          h('dl.facts',
            h('dt', 'Access type'), h('dd', spec.type || 'ClusterIP'),
            h('dt', 'Ports'), h('dd', (spec.ports || []).map((p) => h('div', portText(p))))));
      }),
      h('div.actions',
        h('button.btn.btn-primary#convert-ok', { type: 'button', onclick: () => convert() }, 'Convert'),
        h('a.btn', { href: svcHref }, 'Cancel'))));
  }

  async function convert() {
    if (busy) return;
    busy = true;
    try {
      const out = await api.call('POST', path);
      busy = false;
      toast(`Converted Service ${name} to Multicloud Service ${out.metadata.name}`);
      if (alive()) go(fleetPath(out.metadata.namespace, out.metadata.name));
    } catch (e) {
      busy = false;
      if (!alive()) return;
      const box = failure(e);
      body.prepend(box);
      box.focus();
    }
  }

  (async () => {
    try {
      const fs = await api.call('POST', path, { query: { dryRun: 'All' } });
      if (!alive()) return;
      render(fs);
    } catch (e) {
      if (!alive()) return;
      clear(body).append(failure(e), h('a.btn', { href: svcHref }, 'Back to the Service'));
    }
  })();
  main.querySelector('h1').focus();
  return null;
}
