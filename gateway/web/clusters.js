// clusters.js: the registered clusters with their health, each leading to
// its Services.
import * as api from './api.js';
import { h, clear, timeEl, badge, errorBox } from './ui.js';
import { href } from './nav.js';

export function clustersPage(main, params, query, alive) {
  document.title = 'Clusters — svcfleet';
  const body = h('div');
  main.append(h('div.page-head', h('h1', { tabindex: '-1' }, 'Clusters')), body);
  let lastText = '';

  async function load() {
    try {
      const list = await api.get('/clusters');
      if (!alive()) return;
      // Drawn again only when something changed, keeping the keyboard
      // focus on the same cluster.
      const text = JSON.stringify(list.items);
      if (text === lastText) return;
      lastText = text;
      const a = document.activeElement;
      const focused = a && a.closest && body.contains(a) && a.closest('tr[data-cluster]');
      const keep = focused ? focused.dataset.cluster : null;
      clear(body);
      if (list.items.length === 0) {
        body.append(h('p.empty', 'No clusters you may see are registered. An admin adds one with ',
          h('code', 'svcfleet cluster add NAME --kubeconfig FILE'), '.'));
        return;
      }
      const rows = list.items.map((c) => {
        const st = c.status || {};
        return h('tr', { dataset: { cluster: c.metadata.name } },
          h('th', { scope: 'row' }, h('a', { href: href(`/clusters/${c.metadata.name}/services`) }, c.metadata.name)),
          h('td', badge(st.health), st.message ? h('div.sub', st.message) : null),
          h('td', st.serverVersion || '—'),
          h('td', h('code', c.spec.apiServer || '')),
          h('td', c.spec.nodePortRange || ''),
          h('td', (st.metallbPools || []).map((p) => p.name).join(', ') || '—'),
          // The last request the cluster answered with success: an
          // unreachable cluster keeps the time it last worked.
          h('td.last-success', st.lastContactTime ? timeEl(st.lastContactTime) : h('span.muted', 'never')),
          // Who reconciles it (issue 16) and when it last synced.
          h('td', st.owner ? h('code', st.owner)
            : h('span.sub', st.unownedSince ? 'none since ' : 'none', st.unownedSince ? timeEl(st.unownedSince) : null)),
          h('td', timeEl(st.lastSyncTime)));
      });
      body.append(h('table.table',
        h('caption.sr-only', 'Registered clusters and their health'),
        h('thead', h('tr', ['Name', 'Health', 'Kubernetes', 'API server', 'Node ports', 'MetalLB pools', 'Last success', 'Owner', 'Last sync']
          .map((t) => h('th', { scope: 'col', title: t === 'Last success' ? 'When the cluster last answered a request successfully' : null }, t)))),
        h('tbody', rows)));
      if (keep) {
        const again = body.querySelector(`tr[data-cluster="${keep}"] a`);
        if (again) again.focus();
      }
    } catch (e) {
      if (alive()) clear(body).append(errorBox(e));
    }
  }
  load();
  const timer = setInterval(load, 5000);
  main.querySelector('h1').focus();
  return () => { clearInterval(timer); };
}
