// svc.js: what the pages know about a Service object as the gateway sends
// it (a Kubernetes v1 Service manifest plus status.clusters): how to show
// its address, ports and sync state, and how the Create Service form maps
// to and from the manifest. No rules live here — validation is the
// server's.

export const FACT_PREFIX = 'svcfleet.io/';
export const ANN_POOL = 'metallb.io/address-pool';
export const ANN_POOL_OLD = 'metallb.universe.tf/address-pool';
export const ANN_IPS = 'metallb.io/loadBalancerIPs';
export const ANN_IPS_OLD = 'metallb.universe.tf/loadBalancerIPs';
export const ANN_SELECTOR_FROM = 'svcfleet.io/selector-from';
export const ANN_ADOPTION = 'svcfleet.io/allow-adoption';

// The status of the Service's own cluster (a Service targets one).
export function clusterStatus(svc) {
  const cluster = (svc.metadata.annotations || {})['svcfleet.io/cluster'];
  const all = (svc.status && svc.status.clusters) || [];
  return all.find((c) => c.cluster === cluster) || all[0] || null;
}

// The state of the Service as it is now: a report about an older
// generation (the spec changed since) means the change is still pending.
export function syncState(svc) {
  if (svc.metadata.deletionTimestamp) return 'DELETING';
  const st = clusterStatus(svc);
  if (!st || !st.state) return 'UNSPECIFIED';
  // Unknown (the cluster is unreachable or unowned) wins over Pending:
  // nobody can say the change is on its way.
  if (st.state !== 'ERROR' && st.state !== 'UNKNOWN' && st.state !== 'DRIFTED' && (st.observedGeneration || 0) < (svc.metadata.generation || 0)) return 'PENDING';
  return st.state;
}

function assignedNodePort(st, p) {
  const proto = p.protocol || 'TCP';
  const np = ((st && st.nodePorts) || []).find((a) => a.port === p.port && (a.protocol || 'TCP') === proto);
  return np ? np.nodePort : p.nodePort || null;
}

// addresses(svc): lines describing how to reach it — clusterIP:port,
// "<node IP>:nodePort" for NodePort/LoadBalancer, ingress IP:port.
export function addresses(svc) {
  const st = clusterStatus(svc);
  const type = svc.spec.type || 'ClusterIP';
  const ports = svc.spec.ports || [];
  const out = [];
  if (type === 'LoadBalancer') {
    const ingress = (st && st.ingress) || [];
    if (ingress.length === 0) {
      out.push({ kind: 'lb', text: st && st.state === 'WAITING_ADDRESS' ? 'address pending' : '—', pending: true });
    }
    for (const ip of ingress) {
      for (const p of ports) out.push({ kind: 'lb', text: `${ip}:${p.port}` });
    }
  }
  if (st && st.clusterIP) {
    for (const p of ports) out.push({ kind: 'cluster', text: `${st.clusterIP}:${p.port}` });
  }
  if (type === 'NodePort' || type === 'LoadBalancer') {
    for (const p of ports) {
      const np = assignedNodePort(st, p);
      if (np) out.push({ kind: 'node', text: `<node IP>:${np}` });
    }
  }
  return out;
}

export function portText(p, st) {
  const target = p.targetPort !== undefined ? p.targetPort : p.port;
  let s = `${p.port}${String(target) !== String(p.port) ? `→${target}` : ''}/${p.protocol || 'TCP'}`;
  if (p.name) s = `${p.name} ${s}`;
  const np = st !== undefined ? assignedNodePort(st, p) : p.nodePort;
  if (np) s += ` (node ${np})`;
  return s;
}

export function accessType(svc) {
  return svc.spec.type || 'ClusterIP';
}

// ------------------------------------------------------------------ form

export function emptyForm(namespace) {
  return {
    type: 'ClusterIP',
    name: '',
    namespace: namespace || '',
    selMode: 'labels',
    selector: [{ k: '', v: '' }],
    workload: '',
    ports: [{ name: '', protocol: 'TCP', port: '', targetPort: '', nodePort: '' }],
    affinity: false,
    timeout: '30',
    etp: 'Cluster',
    lbType: 'metallb',
    pool: '',
    address: '',
    lbClass: '',
    annotations: [],
    // Kept from the object being modified, not shown in the form.
    keep: { labels: null, sourceRanges: null, adoption: null, resourceVersion: '' },
  };
}

// formFrom(svc): the form's state for modifying svc.
export function formFrom(svc) {
  const f = emptyForm(svc.metadata.namespace);
  const ann = { ...(svc.metadata.annotations || {}) };
  const spec = svc.spec || {};
  f.type = spec.type || 'ClusterIP';
  f.name = svc.metadata.name;
  f.selector = Object.entries(spec.selector || {}).map(([k, v]) => ({ k, v }));
  if (f.selector.length === 0) f.selector = [{ k: '', v: '' }];
  if (ann[ANN_SELECTOR_FROM]) {
    f.selMode = 'workload';
    f.workload = ann[ANN_SELECTOR_FROM];
  }
  const st = clusterStatus(svc);
  f.ports = (spec.ports || []).map((p) => ({
    name: p.name || '',
    protocol: p.protocol || 'TCP',
    port: p.port !== undefined ? String(p.port) : '',
    targetPort: p.targetPort !== undefined ? String(p.targetPort) : '',
    nodePort: p.nodePort ? String(p.nodePort) : '',
    appProtocol: p.appProtocol,
    // What the cluster picked when none was asked for (a hint only).
    assigned: p.nodePort ? null : assignedNodePort(st, p),
  }));
  if (f.ports.length === 0) f.ports = emptyForm().ports;
  f.affinity = spec.sessionAffinity === 'ClientIP';
  const t = spec.sessionAffinityConfig && spec.sessionAffinityConfig.clientIP
    && spec.sessionAffinityConfig.clientIP.timeoutSeconds;
  f.timeout = t ? String(t) : '30';
  f.etp = spec.externalTrafficPolicy || 'Cluster';
  const pool = ann[ANN_POOL] !== undefined ? ann[ANN_POOL] : ann[ANN_POOL_OLD];
  const ips = ann[ANN_IPS] !== undefined ? ann[ANN_IPS] : ann[ANN_IPS_OLD];
  if (pool !== undefined || ips !== undefined) {
    f.lbType = 'metallb';
    f.pool = pool || '';
    f.address = ips || '';
  } else if (f.type === 'LoadBalancer') {
    f.lbType = 'other';
    f.lbClass = spec.loadBalancerClass || '';
    f.address = spec.loadBalancerIP || '';
  }
  f.keep.adoption = ann[ANN_ADOPTION] || null;
  f.keep.labels = svc.metadata.labels || null;
  f.keep.sourceRanges = spec.loadBalancerSourceRanges || null;
  f.keep.resourceVersion = svc.metadata.resourceVersion || '';
  for (const k of [ANN_POOL, ANN_POOL_OLD, ANN_IPS, ANN_IPS_OLD, ANN_SELECTOR_FROM, ANN_ADOPTION]) delete ann[k];
  f.annotations = Object.entries(ann)
    .filter(([k]) => !k.startsWith(FACT_PREFIX))
    .map(([k, v]) => ({ k, v }));
  return f;
}

// A number when the text is one; the text itself otherwise, so the server
// names what is wrong with it; undefined when empty.
function num(s) {
  const t = String(s === undefined || s === null ? '' : s).trim();
  if (t === '') return undefined;
  return /^\d+$/.test(t) ? Number(t) : t;
}

// manifest(form, workloads): the Service manifest the form describes.
// workloads: the live list, to resolve a referenced workload's labels.
export function manifest(f, workloads) {
  const md = { name: f.name.trim(), namespace: f.namespace };
  const ann = {};
  const spec = { type: f.type };
  let selector = {};
  if (f.selMode === 'workload') {
    const w = (workloads || []).find((x) => workloadRef(x) === f.workload);
    if (w) {
      selector = { ...((w.spec.template.metadata || {}).labels || {}) };
    } else {
      for (const { k, v } of f.selector) if (k.trim()) selector[k.trim()] = v.trim();
    }
    if (f.workload) ann[ANN_SELECTOR_FROM] = f.workload;
  } else {
    for (const { k, v } of f.selector) {
      if (k.trim() || v.trim()) selector[k.trim()] = v.trim();
    }
  }
  spec.selector = selector;
  spec.ports = f.ports.map((p) => {
    const o = {};
    if (p.name.trim()) o.name = p.name.trim();
    o.protocol = p.protocol || 'TCP';
    const port = num(p.port);
    const target = num(p.targetPort);
    if (port !== undefined) o.port = port;
    if (target !== undefined) o.targetPort = target;
    if (f.type !== 'ClusterIP') {
      const np = num(p.nodePort);
      if (np !== undefined) o.nodePort = np;
    }
    if (p.appProtocol) o.appProtocol = p.appProtocol;
    return o;
  });
  if (f.affinity) {
    spec.sessionAffinity = 'ClientIP';
    const t = num(f.timeout);
    if (t !== undefined) spec.sessionAffinityConfig = { clientIP: { timeoutSeconds: t } };
  } else {
    spec.sessionAffinity = 'None';
  }
  if (f.type !== 'ClusterIP') spec.externalTrafficPolicy = f.etp;
  if (f.type === 'LoadBalancer') {
    if (f.lbType === 'metallb') {
      // Sent even when empty: the server then says the pool is required.
      ann[ANN_POOL] = f.pool;
      if (f.address.trim()) ann[ANN_IPS] = f.address.trim();
    } else {
      if (f.lbClass.trim()) spec.loadBalancerClass = f.lbClass.trim();
      if (f.address.trim()) spec.loadBalancerIP = f.address.trim();
    }
    if (f.keep.sourceRanges) spec.loadBalancerSourceRanges = f.keep.sourceRanges;
  }
  for (const { k, v } of f.annotations) {
    if (k.trim() || v.trim()) ann[k.trim()] = v;
  }
  if (f.keep.adoption) ann[ANN_ADOPTION] = f.keep.adoption;
  if (f.keep.labels) md.labels = f.keep.labels;
  if (Object.keys(ann).length) md.annotations = ann;
  if (f.keep.resourceVersion) md.resourceVersion = f.keep.resourceVersion;
  return { apiVersion: 'v1', kind: 'Service', metadata: md, spec };
}

// "deployment/web" for a workload object.
export function workloadRef(w) {
  return `${String(w.kind).toLowerCase()}/${w.metadata.name}`;
}
