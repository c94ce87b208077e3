// detail.js: one Service — its spec as the form shows it, the status each
// cluster target reported (state, the cluster's message, what it
// assigned, when), the drift healed in the cluster and its audit trail;
// and, on a tab of its own, its history (generations, diff, roll back).
import * as api from './api.js';
import { h, clear, timeEl, badge, errorBox } from './ui.js';
import { go, href } from './nav.js';
import { addresses, portText, clusterStatus, syncState, accessType, ANN_SELECTOR_FROM, FACT_PREFIX, ANN_POOL, ANN_IPS } from './svc.js';
import { deleteService, svcPath } from './actions.js';
import { historyPanel, loadDrift } from './history.js';

// Annotations shown in rows of their own (or svcfleet's own facts) are
// not repeated under Annotations.
function userAnnotations(ann) {
  return Object.entries(ann || {}).filter(([k]) => !k.startsWith(FACT_PREFIX) && k !== ANN_POOL && k !== ANN_IPS)
    .sort(([a], [b]) => a.localeCompare(b));
}

function dl(pairs) {
  return h('dl.facts', pairs.filter(Boolean).map(([k, v]) => [h('dt', k), h('dd', v)]));
}

export function detailPage(main, params, query, alive) {
  const { cluster, namespace, name } = params;
  document.title = `${name} — ${cluster} — svcfleet`;
  const path = svcPath(cluster, namespace, name);
  const head = h('div.page-head');
  const body = h('div');
  const trail = h('div');
  const drift = h('div#drift-box');
  const overview = h('div#panel-overview', { role: 'tabpanel', 'aria-labelledby': 'tab-overview' }, body,
    h('section.card', { 'aria-labelledby': 'drift-title' }, h('h2#drift-title', 'Drift'),
      h('p.help', 'Changes made in the cluster behind svcfleet\'s back, who made them, and what svcfleet did.'), drift),
    h('section.card', { 'aria-labelledby': 'audit-title' }, h('h2#audit-title', 'Audit trail'), trail));
  const historyBox = h('div');
  const historyTab = h('div#panel-history', { role: 'tabpanel', 'aria-labelledby': 'tab-history', hidden: true },
    h('section.card', { 'aria-labelledby': 'history-title' }, h('h2#history-title', 'History'), historyBox));
  let history = null;
  const tabButtons = [['overview', 'Overview', overview], ['history', 'History', historyTab]].map(([id, label, panel]) => {
    const b = h('button.tab', {
      type: 'button', role: 'tab', id: `tab-${id}`, 'aria-controls': `panel-${id}`,
      'aria-selected': id === 'overview' ? 'true' : 'false', tabindex: id === 'overview' ? '0' : '-1',
    }, label);
    b.addEventListener('click', () => select(id));
    b.addEventListener('keydown', (e) => {
      if (e.key === 'ArrowRight' || e.key === 'ArrowLeft') {
        e.preventDefault();
        select(id === 'overview' ? 'history' : 'overview');
        document.getElementById(`tab-${id === 'overview' ? 'history' : 'overview'}`).focus();
      }
    });
    return [id, b, panel];
  });
  // The tab is the page's own state: switching does not touch the
  // location (a page rewriting the location races with leaving it).
  function select(id) {
    for (const [tid, b, panel] of tabButtons) {
      b.setAttribute('aria-selected', tid === id ? 'true' : 'false');
      b.tabIndex = tid === id ? 0 : -1;
      panel.hidden = tid !== id;
    }
    if (id === 'history') {
      if (history) history.reload();
      else {
        history = historyPanel(historyBox, {
          path,
          alive,
          current: () => last,
          canUpdate: () => Boolean(rules && rules.can('services', 'update') && last && !last.metadata.deletionTimestamp),
          changed: () => load(),
        });
      }
    }
  }
  main.append(head, h('div.tabs', { role: 'tablist', 'aria-label': 'Service views' }, tabButtons.map(([, b]) => b)),
    overview, historyTab);
  let rules = null;
  let last = null;

  // The head is drawn again only when the actions it offers change: a
  // poll that finds a new version must not replace a button the user is
  // about to click. Delete acts on the latest version seen.
  let headKey = null;
  function renderHead(svc) {
    const canAct = Boolean(svc && rules && !svc.metadata.deletionTimestamp);
    // A FleetService's copy names its owner (issue 18): it is changed
    // through the Multicloud Service, and is one already.
    const owner = (svc && svc.status && svc.status.owner) || '';
    const key = `${Boolean(svc)}/${canAct && rules.can('services', 'update')}/${canAct && rules.can('services', 'delete')}/${owner}`;
    if (key === headKey) return;
    headKey = key;
    clear(head);
    const actions = h('div.page-actions');
    if (canAct) {
      if (rules.can('services', 'update')) {
        actions.append(h('a.btn#modify', { href: href(`${path}/edit`) }, 'Modify'),
          h('a.btn', { href: href(`${path}/yaml`) }, 'Edit YAML'));
        if (!owner) {
          actions.append(h('a.btn#convert', { href: href(`${path}/convert`) }, 'Convert to Multicloud Service'));
        }
      }
      if (rules.can('services', 'delete')) {
        actions.append(h('button.btn.btn-danger#delete', {
          type: 'button',
          onclick: async () => { if (await deleteService(cluster, last || svc) && alive()) go(`/clusters/${cluster}/services`); },
        }, 'Delete'));
      }
    }
    head.append(h('div', h('h1', { tabindex: '-1' }, `Service ${name}`),
      h('p.muted', h('a', { href: href(`/clusters/${cluster}/services`) }, `Cluster ${cluster}`), ` · namespace ${namespace}`,
        owner.startsWith('FleetService/') ? [' · part of Multicloud Service ',
          h('a#owner-link', { href: href(`/namespaces/${encodeURIComponent(namespace)}/fleetservices/${encodeURIComponent(owner.slice(13))}`) },
            owner.slice(13))] : null)),
    actions);
  }

  function render(svc) {
    const spec = svc.spec;
    const md = svc.metadata;
    const st = clusterStatus(svc);
    const ann = md.annotations || {};
    clear(body);
    body.append(
      h('section.card', { 'aria-labelledby': 'spec-title' },
        h('h2#spec-title', 'Service'),
        dl([
          ['Sync state', [badge(syncState(svc)), st && st.message ? h('div.sub', st.message) : null,
            syncState(svc) === 'UNKNOWN' ? h('div.sub.last-confirmed', 'last confirmed ',
              st && st.lastSyncTime ? timeEl(st.lastSyncTime) : 'never') : null]],
          ['Access type', accessType(svc)],
          ['Access address', addresses(svc).map((a) => h('div', a.text))],
          ['Ports', (spec.ports || []).map((p) => h('div', portText(p, st)))],
          ['Label selector', Object.entries(spec.selector || {}).map(([k, v]) => h('span.chip', `${k}=${v}`))],
          ann[ANN_SELECTOR_FROM] ? ['Selector taken from', ann[ANN_SELECTOR_FROM]] : null,
          ['Annotations', userAnnotations(ann).length
            ? h('div#annotations', userAnnotations(ann).map(([k, v]) => h('div.ann', h('code', k), ' = ', h('code', v))))
            : h('span.muted#annotations', 'None')],
          ['Session persistence', spec.sessionAffinity === 'ClientIP'
            ? `ClientIP, held ${(spec.sessionAffinityConfig && spec.sessionAffinityConfig.clientIP.timeoutSeconds) || 30} s` : 'Off'],
          spec.externalTrafficPolicy ? ['External traffic policy', spec.externalTrafficPolicy] : null,
          ann['metallb.io/address-pool'] !== undefined ? ['MetalLB pool', ann['metallb.io/address-pool']] : null,
          ann['metallb.io/loadBalancerIPs'] ? ['Requested address', ann['metallb.io/loadBalancerIPs']] : null,
          spec.loadBalancerClass ? ['Load balancer class', spec.loadBalancerClass] : null,
          ['Resource version', h('code', md.resourceVersion || '')],
          ['Generation', String(md.generation || '')],
          ['Created', [timeEl(md.creationTimestamp), svc.status.createdBy ? ` by ${svc.status.createdBy}` : '']],
          ['Changed', [timeEl(svc.status.specUpdateTime || svc.status.updateTime),
            (svc.status.specUpdatedBy || svc.status.updatedBy) ? ` by ${svc.status.specUpdatedBy || svc.status.updatedBy}` : '']],
          md.deletionTimestamp ? ['Deletion requested', timeEl(md.deletionTimestamp)] : null,
        ])),
      h('section.card', { 'aria-labelledby': 'status-title' },
        h('h2#status-title', 'Status per cluster'),
        (svc.status.clusters || []).length === 0
          ? h('p.empty', 'No cluster has reported on this Service yet.')
          : h('table.table#cluster-status',
            h('thead', h('tr', ['Cluster', 'State', 'Message', 'Generation', 'Cluster IP', 'Node ports', 'Ingress', 'Last sync']
              .map((t) => h('th', { scope: 'col' }, t)))),
            h('tbody', svc.status.clusters.map((c) => h('tr',
              h('th', { scope: 'row' }, c.cluster),
              h('td', badge(c.state)),
              h('td.msg', c.message || '—'),
              h('td', `${c.observedGeneration || 0} of ${md.generation || 0}`),
              h('td', c.clusterIP || '—'),
              h('td', (c.nodePorts || []).map((p) => h('div', `${p.port}/${p.protocol} → ${p.nodePort}`))),
              h('td', (c.ingress || []).join(', ') || '—'),
              h('td', timeEl(c.lastSyncTime))))))));
  }

  async function loadTrail() {
    try {
      const a = await api.get('/audit', { query: { cluster, namespace, name, limit: 50 } });
      if (!alive()) return;
      clear(trail);
      if (a.items.length === 0) {
        trail.append(h('p.empty', 'Nothing recorded.'));
        return;
      }
      trail.append(h('table.table#audit',
        h('thead', h('tr', ['When', 'Who', 'What', 'Result', 'Request'].map((t) => h('th', { scope: 'col' }, t)))),
        h('tbody', a.items.map((ev) => h('tr',
          h('td', timeEl(ev.metadata.creationTimestamp)),
          h('td', ev.user.username),
          h('td', ev.verb),
          h('td', h(`span.result.${ev.responseStatus.status === 'OK' ? 'ok' : 'bad'}`, ev.responseStatus.status),
            ev.responseStatus.message ? h('div.sub', ev.responseStatus.message) : null),
          h('td', h('code.small', ev.requestID || '')))))));
    } catch (e) {
      if (alive()) clear(trail).append(errorBox(e));
    }
  }

  async function load() {
    try {
      const svc = await api.get(path);
      if (!alive()) return;
      // Only a new version is drawn again (redrawing would move the
      // keyboard focus away from what the user is on).
      if (last && last.metadata.resourceVersion === svc.metadata.resourceVersion) return;
      last = svc;
      renderHead(svc);
      render(svc);
      loadTrail();
      loadDrift(drift, path, alive);
      if (history && !historyTab.hidden) history.reload();
    } catch (e) {
      if (!alive()) return;
      if (e.status === 404 && last) {
        clear(body).append(h('p.empty', 'This Service has been deleted.'));
        renderHead(null);
        loadTrail();
        return;
      }
      clear(body).append(errorBox(e));
    }
  }

  renderHead(null);
  (async () => {
    try {
      rules = await api.rules(cluster, namespace);
    } catch (e) {
      rules = null;
    }
    await load();
    const h1 = main.querySelector('h1');
    if (h1) h1.focus();
  })();
  const timer = setInterval(() => { load(); if (last) loadDrift(drift, path, alive); }, 3000);
  return () => { clearInterval(timer); };
}
