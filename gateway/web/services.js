// services.js: a cluster's Services — name, namespace, access type,
// access address, ports, sync state with the cluster's message, age —
// filtered by namespace and label selector, kept current by a watch.
import * as api from './api.js';
import { h, clear, timeEl, badge, errorBox, rowMenu } from './ui.js';
import { go, href } from './nav.js';
import { addresses, portText, clusterStatus, syncState, accessType } from './svc.js';
import { deleteService, svcPath } from './actions.js';

const ADDRESS_KIND = { lb: 'Load balancer address', cluster: 'Cluster IP and port', node: 'Node port on any node\'s IP' };

function addressCells(svc) {
  const list = addresses(svc);
  if (list.length === 0) return h('span.muted', { title: 'The cluster has not assigned an address yet' }, '—');
  return list.map((a) => h(`div.addr-${a.kind}${a.pending ? '.muted' : ''}`, { title: ADDRESS_KIND[a.kind] }, a.text));
}

export function servicesPage(main, params, query, alive) {
  const { cluster } = params;
  document.title = `Services — ${cluster} — svcfleet`;
  let ns = query.ns || '';
  let selector = query.l || '';
  let rules = null;
  let abort = new AbortController();
  let rv = '';

  const actions = h('div.page-actions');
  const nsSelect = h('select#f-ns-filter', { name: 'namespace' }, h('option', { value: '' }, 'All namespaces'));
  const selInput = h('input#f-label-filter', {
    type: 'text', name: 'labelSelector', value: selector, placeholder: 'app=web,tier!=db', spellcheck: 'false',
  });
  const filterErr = h('p.field-error#f-label-filter-err', { hidden: true });
  const filters = h('form.filters', { role: 'search', 'aria-label': 'Filter Services' },
    h('div.field.inline', h('label', { for: 'f-ns-filter' }, 'Namespace'), nsSelect),
    h('div.field.inline', h('label', { for: 'f-label-filter' }, 'Label selector'), selInput, filterErr),
    h('button.btn', { type: 'submit' }, 'Filter'));
  const live = h('p.live.muted', { 'aria-live': 'polite' });
  const body = h('div.table-wrap');
  main.append(
    h('div.page-head',
      h('div', h('h1', { tabindex: '-1' }, 'Services'), h('p.muted', `Cluster ${cluster} · Container Network`)),
      actions),
    filters, live, body);

  function setQuery() {
    if (!alive()) return;
    const q = new URLSearchParams(Object.entries({ ns, l: selector }).filter(([, v]) => v)).toString();
    history.replaceState(null, '', `#/clusters/${cluster}/services${q ? `?${q}` : ''}`);
  }

  filters.addEventListener('submit', (e) => {
    e.preventDefault();
    if (!alive()) return;
    selector = selInput.value.trim();
    setQuery();
    restart();
  });
  nsSelect.addEventListener('change', () => {
    if (!alive()) return;
    ns = nsSelect.value;
    setQuery();
    renderActions();
    restart();
  });

  function listPath() {
    return ns ? svcPath(cluster, ns) : `/clusters/${encodeURIComponent(cluster)}/services`;
  }

  // Why Create is not offered when the cluster is not answering (its
  // namespaces, which the form needs, could not be read).
  let nsError = '';
  let nsNames = [];
  let nsTimer = null;

  function renderActions() {
    if (!alive()) return;
    clear(actions);
    // Tests (and assistive tools) can tell "not allowed" from "not known yet".
    actions.dataset.rules = rules ? 'known' : 'unknown';
    if (nsError) {
      actions.append(h('p.note#create-unavailable', { role: 'status' },
        `Create is unavailable while cluster ${cluster} is not answering: its namespaces could not be read (${nsError}). `,
        'It comes back when the cluster answers.'));
      return;
    }
    if (!rules) return;
    const canCreate = ns ? rules.can('services', 'create', ns) : rules.anyNamespace('services', 'create');
    if (!canCreate) return;
    actions.append(
      h('a.btn.btn-primary#create-service', { href: href(`/clusters/${cluster}/services/new`, { ns }) }, 'Create Service'),
      h('a.btn#create-yaml', { href: href(`/clusters/${cluster}/services/new-yaml`, { ns }) }, 'Create via YAML'));
  }

  function row(svc) {
    const md = svc.metadata;
    const st = clusterStatus(svc);
    const state = syncState(svc);
    const items = () => menuItems(svc);
    const msg = st && st.message && state !== 'SYNCED' ? st.message : '';
    return h('tr', { dataset: { name: md.name, namespace: md.namespace, state } },
      h('th', { scope: 'row' }, h('a', { href: href(svcPath(cluster, md.namespace, md.name)) }, md.name)),
      h('td', md.namespace),
      h('td', accessType(svc)),
      h('td.addr', addressCells(svc)),
      h('td', (svc.spec.ports || []).map((p) => h('div', portText(p, st)))),
      h('td.sync', badge(state), msg ? h('div.sub', { title: msg }, msg) : null,
        // Honest status (issue 19): UNKNOWN says when it was last confirmed.
        state === 'UNKNOWN' ? h('div.sub.last-confirmed', 'last confirmed ',
          st && st.lastSyncTime ? timeEl(st.lastSyncTime) : 'never') : null),
      h('td', timeEl(md.creationTimestamp)),
      h('td.row-actions', rowMenu(`Actions for ${md.name}`, items)));
  }

  // What a row's menu offers, decided when it is opened: the rules may
  // have arrived since the row was drawn.
  function menuItems(svc) {
    const md = svc.metadata;
    const items = [{ label: 'View details', onSelect: () => go(svcPath(cluster, md.namespace, md.name)) }];
    if (rules && rules.can('services', 'update', md.namespace) && !md.deletionTimestamp) {
      items.push({ label: 'Modify', onSelect: () => go(`${svcPath(cluster, md.namespace, md.name)}/edit`) });
      items.push({ label: 'Edit YAML', onSelect: () => go(`${svcPath(cluster, md.namespace, md.name)}/yaml`) });
    }
    if (rules && rules.can('services', 'delete', md.namespace) && !md.deletionTimestamp) {
      items.push({
        label: 'Delete',
        danger: true,
        onSelect: async () => { if (await deleteService(cluster, svc) && alive()) restart(); },
      });
    }
    return items;
  }

  let lastList = null;

  // Draws lastList. A redraw keeps the keyboard focus on the same row's
  // control, and waits while a row menu is open.
  let redrawTimer = null;
  function render() {
    if (!lastList || !alive()) return;
    if (body.querySelector('ul.menu:not([hidden])')) {
      clearTimeout(redrawTimer);
      redrawTimer = setTimeout(render, 800);
      return;
    }
    const a = document.activeElement;
    const tr = a && a.closest ? a.closest('tr[data-name]') : null;
    const keep = tr && body.contains(tr)
      ? { name: tr.dataset.name, ns: tr.dataset.namespace, tag: a.tagName } : null;
    clear(body);
    if (lastList.items.length === 0) {
      // A user who may list only some namespaces sees only theirs: "in
      // this cluster" would be wrong, so say what she can see and where.
      const partial = !ns && rules && nsNames.some((n) => !rules.can('services', 'list', n));
      const mine = partial ? nsNames.filter((n) => rules.can('services', 'list', n)) : [];
      body.append(h('p.empty#empty-list', ns ? `No Services in namespace ${ns}`
        : partial ? 'No Services you can see in this cluster' : 'No Services in this cluster',
      selector ? ` match ${selector}.` : '.'));
      if (partial && mine.length) {
        body.append(h('p.muted#your-namespaces', `You may see the Services of namespace${mine.length > 1 ? 's' : ''} `,
          mine.map((n, i) => [i ? ', ' : '', h('a', { href: href(`/clusters/${cluster}/services`, { ns: n, l: selector }) }, n)]),
          '; others may have Services you are not allowed to see.'));
      }
      return;
    }
    body.append(h('table.table#services',
      h('caption.sr-only', `Services of cluster ${cluster}`),
      h('thead', h('tr', ['Name', 'Namespace', 'Access type', 'Access address', 'Ports', 'Sync state', 'Age', '']
        .map((t) => h('th', { scope: 'col' }, t ? t : h('span.sr-only', 'Actions'))))),
      h('tbody', lastList.items.map(row))));
    if (keep) {
      const again = body.querySelector(`tr[data-name="${keep.name}"][data-namespace="${keep.ns}"] ${keep.tag === 'A' ? 'a' : 'button'}`);
      if (again) again.focus();
    }
  }

  async function load() {
    const list = await api.get(listPath(), { query: { labelSelector: selector }, signal: abort.signal });
    if (!alive()) return;
    lastList = list;
    rv = lastList.metadata.resourceVersion || '0';
    filterErr.hidden = true;
    selInput.removeAttribute('aria-invalid');
    render();
  }

  // The list, then a watch from its resourceVersion; any change lists
  // again (the watch says something changed, the list says what is).
  async function run(signal) {
    for (;;) {
      try {
        await load();
        if (signal.aborted || !alive()) return;
        for (;;) {
          const w = await api.watch(listPath(), rv, signal, { labelSelector: selector });
          if (signal.aborted || !alive()) return;
          live.textContent = `Updated ${new Date().toLocaleTimeString()}`;
          if (w.events.length > 0) break;
          rv = w.rv;
        }
      } catch (e) {
        if (signal.aborted || !alive()) return;
        if (e.status === 400 && selector) {
          filterErr.textContent = e.message;
          filterErr.hidden = false;
          selInput.setAttribute('aria-invalid', 'true');
          selInput.setAttribute('aria-describedby', 'f-label-filter-err');
          clear(body);
          return;
        }
        clear(body).append(errorBox(e));
        await new Promise((r) => setTimeout(r, 3000));
      }
    }
  }

  function restart() {
    abort.abort();
    abort = new AbortController();
    run(abort.signal);
  }

  // The list does not wait for the namespaces: they are read live from
  // the cluster, which may be slow or down.
  restart();
  // The namespaces (read live) and the rules; read again every 5 s while
  // the cluster does not answer, so Create comes back with it.
  async function readNamespaces() {
    let names = [];
    let err = '';
    try {
      const nsl = await api.get(`/clusters/${encodeURIComponent(cluster)}/namespaces`);
      names = nsl.items.map((n) => n.metadata.name);
    } catch (e) {
      err = e.message;
    }
    if (!alive()) return;
    nsError = err;
    live.textContent = err ? `The cluster's namespaces could not be read: ${err}` : live.textContent;
    // The picker is filled again only when the names changed (a retry
    // must not close it under the user).
    if (nsSelect.options.length === 1 || names.join('\n') !== nsNames.join('\n')) {
      clear(nsSelect).append(h('option', { value: '' }, 'All namespaces'));
      for (const n of names) nsSelect.append(h('option', { value: n, selected: n === ns }, n));
      if (ns && !names.includes(ns)) nsSelect.append(h('option', { value: ns, selected: true }, ns));
    }
    nsNames = names;
    try {
      rules = await api.rules(cluster, ns, names.length ? names : [ns].filter(Boolean));
    } catch (e) {
      rules = null; // nothing is offered that the server may refuse
    }
    if (!alive()) return;
    renderActions();
    render();
    if (err) nsTimer = setTimeout(readNamespaces, 5000);
  }
  readNamespaces();
  main.querySelector('h1').focus();
  return () => { abort.abort(); clearTimeout(redrawTimer); clearTimeout(nsTimer); };
}
