// actions.js: what the Services list and the detail view share — deleting
// (with the resourceVersion precondition) and explaining a conflict.
import * as api from './api.js';
import { h, confirmDialog, toast } from './ui.js';

export function svcPath(cluster, ns, name) {
  return `/clusters/${encodeURIComponent(cluster)}/namespaces/${encodeURIComponent(ns)}/services${name ? `/${encodeURIComponent(name)}` : ''}`;
}

// conflictText explains a 409 on a write carrying resourceVersion: someone
// else changed the Service since this page read it.
export function conflictText(err, verb) {
  return `${err.message} — someone changed this Service after you opened it, so ${verb} was refused `
    + 'rather than silently undoing their change. Load the latest version, check what changed, and try again.';
}

// deleteService asks, then deletes; resolves true when it was deleted (or
// marked deleting while the cluster removes it).
export async function deleteService(cluster, svc) {
  const { name, namespace, resourceVersion } = svc.metadata;
  const ok = await confirmDialog({
    title: `Delete Service ${name}?`,
    body: [h('p', `Service `, h('strong', `${namespace}/${name}`), ` will be removed from cluster `, h('strong', cluster),
      '. Clients using its address lose it.'), h('p.muted', 'svcfleet removes it from the cluster, then forgets it.')],
    ok: 'Delete',
    danger: true,
  });
  if (!ok) return false;
  try {
    const out = await api.call('DELETE', svcPath(cluster, namespace, name), { query: { resourceVersion } });
    toast(out && out.metadata && out.metadata.deletionTimestamp
      ? `Deleting ${name}: waiting for cluster ${cluster} to remove it`
      : `Deleted ${name}`);
    return true;
  } catch (e) {
    toast(e.status === 409 ? conflictText(e, 'the delete') : `Delete failed: ${e.message}`, 'error');
    return false;
  }
}
