// form.js: the Create Service form (and Modify, the same form filled in):
// the three access-type tabs and exactly the seed's fields and defaults —
// name, namespace (live), label selector or a workload's labels (live),
// ports (node port for NodePort/LoadBalancer only), session persistence
// with its 30 s hold time, external traffic policy, MetalLB or another
// load balancer with the MetalLB pool (live) and an optional address, and
// annotations. The form checks nothing itself: it sends the manifest and
// puts each of the server's field errors next to the field it names.
//
// Fleet mode (params.fleet, issue 18) is the same form for a Multicloud
// Service: "Deploy to" (clusters by name or by labels) comes first, the
// live lists are read from the first chosen cluster, and OK first shows
// each cluster's rendered Service from a dry run (dryRun=All) before
// anything is written. Modify (i18-console) is the same form filled in from
// the stored Multicloud Service: a PUT with its resourceVersion, previewed
// the same way, a conflict explained with both versions. Overrides choose
// their clusters by name or by the clusters' labels.
//
// Server-side preview (i19-diff): the Service form's Preview asks the
// cluster's own API server for a dry run of the change (the gateway's
// .../preview) and shows its answer — what would change there, or its
// refusal (an admission webhook's words) — before OK; editing the form
// drops it. The Multicloud Service form's preview comes from the same
// endpoint and shows each cluster's answer beside what it gets.
import * as api from './api.js';
import { h, clear, toast, errorBox, timeEl } from './ui.js';
import { go, href } from './nav.js';
import { emptyForm, formFrom, manifest, workloadRef, ANN_POOL, ANN_IPS } from './svc.js';
import { svcPath } from './actions.js';
import { fleetPath, placementText } from './fleet.js';
import { previewPath, answerPart, resultText, ownerWarning } from './preview.js';

// A label selector typed as "env=prod,tier=web" as matchLabels; null when
// a part is not key=value.
function matchLabels(text) {
  const out = {};
  for (const part of text.split(',').map((x) => x.trim()).filter(Boolean)) {
    const i = part.indexOf('=');
    if (i <= 0) return null;
    out[part.slice(0, i).trim()] = part.slice(i + 1).trim();
  }
  return out;
}

function clusterMatches(c, labels, exprs) {
  const have = c.metadata.labels || {};
  return Object.entries(labels).every(([k, v]) => have[k] === v)
    && (exprs || []).every((e) => exprMatches(have, e));
}

// i18-console: placement by matchExpressions, as a Kubernetes
// LabelSelector means them. The form keeps each as typed ({key, operator,
// values: "a, b"}); the server validates them.
const OPERATORS = [
  ['In', 'In (one of the values)'],
  ['NotIn', 'NotIn (none of the values, or no such label)'],
  ['Exists', 'Exists (has the label)'],
  ['DoesNotExist', 'DoesNotExist (lacks the label)'],
];

function valuesOf(text) {
  return String(text || '').split(',').map((x) => x.trim()).filter(Boolean);
}

function exprMatches(have, e) {
  if (!e.key) return true; // not written yet: the hint says so
  const vs = valuesOf(e.values);
  const has = Object.prototype.hasOwnProperty.call(have, e.key);
  switch (e.operator) {
    case 'In': return has && vs.includes(have[e.key]);
    case 'NotIn': return !has || !vs.includes(have[e.key]);
    case 'Exists': return has;
    case 'DoesNotExist': return !has;
    default: return false;
  }
}

// The manifest's matchExpressions from the rows (values only where the
// operator takes them, or where the user wrote some: the server names it).
function exprsOut(rows) {
  return rows.map((e) => {
    const out = { key: e.key.trim(), operator: e.operator };
    const vs = valuesOf(e.values);
    if (e.operator === 'In' || e.operator === 'NotIn' || vs.length) out.values = vs;
    return out;
  });
}

function exprsIn(list) {
  return (list || []).map((e) => ({ key: e.key || '', operator: e.operator || 'In', values: (e.values || []).join(', ') }));
}

// "env=prod, region=eu" for matchLabels.
function labelsText(ml) {
  return Object.entries(ml || {}).map(([k, v]) => `${k}=${v}`).join(', ');
}

// A stored override as the form edits it: its clusters (by name or by
// labels) and the parts of its patch the form has fields for; the rest of
// the patch (and matchExpressions) is kept and sent back as it was.
function overrideFrom(o) {
  const rest = JSON.parse(JSON.stringify(o.patch || {}));
  const sel = o.clusterSelector || null;
  const byLabels = Boolean(sel) && !(o.clusters || []).length;
  const ov = {
    mode: byLabels ? 'labels' : 'names',
    clusters: (o.clusters || []).slice(),
    labels: sel ? labelsText(sel.matchLabels) : '',
    exprs: sel && sel.matchExpressions ? sel.matchExpressions : null,
    keepSelector: !byLabels && sel ? sel : null,
    pool: '', address: '', annotations: '', nodePorts: '', rest,
  };
  const ann = rest.metadata && rest.metadata.annotations;
  if (ann && typeof ann === 'object') {
    const parts = [];
    for (const [k, v] of Object.entries(ann)) {
      if (typeof v !== 'string') continue; // null (a removal) is kept
      if (k === ANN_POOL) ov.pool = v;
      else if (k === ANN_IPS) ov.address = v;
      else parts.push(v === '' ? k : `${k}=${v}`);
      delete ann[k];
    }
    ov.annotations = parts.join(', ');
    if (!Object.keys(ann).length) delete rest.metadata.annotations;
    if (!Object.keys(rest.metadata).length) delete rest.metadata;
  }
  const ports = rest.spec && rest.spec.ports;
  if (Array.isArray(ports)) {
    ov.nodePorts = ports.map((p) => (p && p.nodePort ? String(p.nodePort) : '')).join(', ');
    delete rest.spec.ports;
    if (!Object.keys(rest.spec).length) delete rest.spec;
  }
  return ov;
}

// RFC 7386's merge of b into a copy of a (both plain objects).
function merged(a, b) {
  const out = JSON.parse(JSON.stringify(a || {}));
  for (const [k, v] of Object.entries(b || {})) {
    out[k] = v && typeof v === 'object' && !Array.isArray(v) && out[k] && typeof out[k] === 'object'
      ? merged(out[k], v) : v;
  }
  return out;
}

const TYPES = [
  ['ClusterIP', 'Reachable inside the cluster at a cluster IP.'],
  ['NodePort', 'Also reachable on every node\'s IP at a node port.'],
  ['LoadBalancer', 'Also reachable at an external address from a load balancer (MetalLB or another).'],
];

// Where a server field path is shown: the id of an input, or of a section.
function fieldFor(path) {
  let m;
  // A Multicloud Service's paths: its template's, or a cluster's copy's.
  path = path.replace(/^clusters\[[^\]]*\]\./, '').replace(/^spec\.template\./, '');
  if ((m = /^spec\.placement\.clusterSelector\.matchExpressions\[(\d+)\](?:\.(key|operator|values))?/.exec(path))) {
    return `f-expr-${m[1]}-${{ key: 'key', operator: 'op', values: 'values' }[m[2] || 'key']}`;
  }
  if (path.startsWith('spec.placement')) return 'sec-deploy';
  if (path === 'spec.nodePorts') return 'sec-nodeports';
  if (path.startsWith('spec.overrides')) return 'sec-overrides';
  if (path === 'metadata.name') return 'f-name';
  if (path === 'metadata.namespace') return 'f-namespace';
  if (path === 'spec.type') return 'sec-type';
  if ((m = /^spec\.ports\[(\d+)\]\.(name|protocol|port|targetPort|nodePort)/.exec(path))) {
    const col = { name: 'name', protocol: 'protocol', port: 'port', targetPort: 'target', nodePort: 'node' }[m[2]];
    return `p${m[1]}-${col}`;
  }
  if ((m = /^spec\.ports\[(\d+)\]$/.exec(path))) return `p${m[1]}-port`;
  if (path.startsWith('spec.ports')) return 'sec-ports';
  if (path.startsWith('spec.selector') || path === 'metadata.annotations[svcfleet.io/selector-from]') return 'sec-selector';
  if (path.startsWith('spec.sessionAffinityConfig')) return 'f-timeout';
  if (path.startsWith('spec.sessionAffinity')) return 'f-affinity';
  if (path === 'spec.externalTrafficPolicy') return 'sec-etp';
  if (/^metadata\.annotations\[metallb\.(io|universe\.tf)\/address-pool\]$/.test(path)) return 'f-pool';
  if (/^metadata\.annotations\[metallb\.(io|universe\.tf)\/loadBalancerIPs\]$/.test(path)) return 'f-address';
  if (path === 'spec.loadBalancerIP') return 'f-address';
  if (path === 'spec.loadBalancerClass') return 'f-lbclass';
  if (path === 'spec.lbType') return 'sec-lb';
  if (path.startsWith('metadata.annotations')) return 'sec-annotations';
  return null;
}

export function formPage(main, params, query, alive) {
  const fleet = Boolean(params.fleet);
  // The cluster the live lists come from (fleet mode: the first chosen).
  let cluster = params.cluster || '';
  const editing = Boolean(params.name);
  let clusters = []; // fleet mode: the registered clusters
  // keep: the part of a stored placement the chosen mode does not show
  // (its names, or its selector), sent back unchanged.
  // exprs (labels mode): the matchExpressions rows, as typed.
  const deploy = { mode: 'names', names: [], labels: '', exprs: [], keepNames: [], keepSelector: null };
  // Modify (fleet mode): the stored Multicloud Service, and what the form
  // has no field for (sent back as it was).
  let loaded = null;
  let fleetKeep = {};
  let preview = null; // fleet mode: the dry run's answer, shown before OK
  // Service mode: the cluster's answer to a dry run of the manifest in
  // svcPreview.for (i19-diff); shown while the form still says that.
  let svcPreview = null;
  // Fleet mode: per-cluster overrides, each a JSON merge patch on the
  // Service rendered for one cluster.
  const overrides = [];
  let f = emptyForm(query.ns || '');
  let namespaces = [];
  let rules = null;
  let workloads = [];
  let workloadsErr = '';
  let pools = null;
  let liveErr = ''; // why the cluster's namespaces could not be read
  let errors = {}; // element id -> [messages]
  let summary = []; // messages that name no field of the form
  let banner = null; // a node shown above the form (conflict, failures)
  let busy = false;

  document.title = fleet ? `${editing ? `Modify Multicloud Service ${params.name}` : 'Create Multicloud Service'} — svcfleet`
    : `${editing ? 'Modify' : 'Create'} Service — ${cluster} — svcfleet`;
  const root = h('div');
  main.append(root);

  // ------------------------------------------------------------ helpers

  function errFor(id) {
    const msgs = errors[id];
    if (!msgs || msgs.length === 0) return null;
    return h('p.field-error', { id: `${id}-err` }, msgs.join(' '));
  }

  // An input with its label, help and error.
  function field(id, label, input, help) {
    input.id = id;
    const describedBy = [];
    if (errors[id]) {
      input.setAttribute('aria-invalid', 'true');
      describedBy.push(`${id}-err`);
    }
    if (help) describedBy.push(`${id}-help`);
    if (describedBy.length) input.setAttribute('aria-describedby', describedBy.join(' '));
    input.addEventListener('input', () => clearErr(id));
    return h('div.field', h('label', { for: id }, label), input,
      help ? h('p.help', { id: `${id}-help` }, help) : null, errFor(id));
  }

  function clearErr(id) {
    if (!errors[id]) return;
    delete errors[id];
    const el = document.getElementById(id);
    if (el) {
      el.removeAttribute('aria-invalid');
      const e = document.getElementById(`${id}-err`);
      if (e) e.remove();
    }
  }

  function bind(input, key, obj = f) {
    input.addEventListener('input', () => { obj[key] = input.type === 'checkbox' ? input.checked : input.value; });
    return input;
  }

  function section(id, title, ...content) {
    return h('fieldset.section', { id, 'aria-describedby': errors[id] ? `${id}-err` : null },
      h('legend', title), errFor(id), ...content);
  }

  function radioGroup(name, value, options, onChange) {
    return h('div.radios', { role: 'radiogroup' }, options.map(([v, label]) => {
      const id = `f-${name}-${v}`;
      const input = h('input', { type: 'radio', id, name, value: v, checked: v === value });
      input.addEventListener('change', () => onChange(v, id));
      return h('label.radio', { for: id }, input, ` ${label}`);
    }));
  }

  // Draws the form again (its structure changed) and puts the focus on
  // focusId, keeping the caret where it was when that is the field the
  // user is typing in.
  // Redraws the form. Focus (and the caret) stay where they are unless
  // focusId names another field: an answer arriving while someone types
  // (the workloads, read live) must not take their keystrokes away.
  function rerender(focusId = document.activeElement && document.activeElement.id) {
    const scroll = window.scrollY;
    const a = document.activeElement;
    const caret = a && a.id === focusId && typeof a.selectionStart === 'number'
      ? [a.selectionStart, a.selectionEnd] : null;
    render();
    window.scrollTo(0, scroll);
    if (focusId) {
      const el = document.getElementById(focusId);
      if (el) {
        el.focus();
        if (caret && typeof el.setSelectionRange === 'function') {
          try { el.setSelectionRange(caret[0], caret[1]); } catch (e) { /* not a text field */ }
        }
      }
    }
  }

  // ------------------------------------------------------------- parts

  function tabs() {
    const list = h('div.tabs', { role: 'tablist', 'aria-label': 'Access type' });
    TYPES.forEach(([t]) => {
      const sel = f.type === t;
      const b = h('button.tab', {
        type: 'button', role: 'tab', id: `tab-${t}`, 'aria-selected': sel ? 'true' : 'false',
        'aria-controls': 'type-panel', tabindex: sel ? '0' : '-1',
      }, t);
      b.addEventListener('click', () => { f.type = t; rerender(`tab-${t}`); });
      b.addEventListener('keydown', (e) => {
        const i = TYPES.findIndex(([x]) => x === t);
        let j = -1;
        if (e.key === 'ArrowRight') j = (i + 1) % TYPES.length;
        if (e.key === 'ArrowLeft') j = (i - 1 + TYPES.length) % TYPES.length;
        if (e.key === 'Home') j = 0;
        if (e.key === 'End') j = TYPES.length - 1;
        if (j >= 0) {
          e.preventDefault();
          f.type = TYPES[j][0];
          rerender(`tab-${f.type}`);
        }
      });
      list.append(b);
    });
    return h('div#sec-type', list, errFor('sec-type'));
  }

  function basics() {
    const name = bind(h('input', { type: 'text', value: f.name, autocomplete: 'off', spellcheck: 'false', readonly: editing }), 'name');
    let nsInput;
    if (editing) {
      nsInput = h('input', { type: 'text', value: f.namespace, readonly: true });
    } else {
      nsInput = h('select', { name: 'namespace' }, h('option', { value: '' },
        namespaces.length ? 'Choose a namespace' : liveErr ? 'Not available: the cluster is not answering' : 'Loading…'));
      for (const n of namespaces) {
        if (rules && !rules.can('services', 'create', n)) continue;
        nsInput.append(h('option', { value: n, selected: n === f.namespace }, n));
      }
      if (f.namespace && !namespaces.includes(f.namespace)) {
        nsInput.append(h('option', { value: f.namespace, selected: true }, f.namespace));
      }
      nsInput.addEventListener('change', () => {
        f.namespace = nsInput.value;
        loadWorkloads();
      });
    }
    return section('sec-basic', 'Basic information',
      field('f-name', 'Service name', name,
        editing ? 'The name cannot change.' : '4 to 63 characters: lower-case letters, digits and "-", starting with a letter.'),
      field('f-namespace', 'Namespace', nsInput, editing ? null : 'Read live from the cluster.'));
  }

  function selectorPart() {
    const parts = [radioGroup('selmode', f.selMode,
      [['labels', 'Specify labels'], ['workload', 'Reference workload label']],
      (v, id) => { f.selMode = v; rerender(id); })];
    if (f.selMode === 'labels') {
      const rows = h('div.kv-rows');
      f.selector.forEach((kv, i) => {
        const k = bind(h('input', { type: 'text', value: kv.k, spellcheck: 'false', placeholder: 'app' }), 'k', kv);
        const v = bind(h('input', { type: 'text', value: kv.v, spellcheck: 'false', placeholder: 'web' }), 'v', kv);
        k.id = `sel-${i}-k`;
        v.id = `sel-${i}-v`;
        rows.append(h('div.kv-row',
          h('label.sr-only', { for: k.id }, `Selector label ${i + 1} key`), k, h('span.eq', '='),
          h('label.sr-only', { for: v.id }, `Selector label ${i + 1} value`), v,
          h('button.btn.btn-small', {
            type: 'button', 'aria-label': `Remove selector label ${i + 1}`,
            onclick: () => { f.selector.splice(i, 1); if (!f.selector.length) f.selector.push({ k: '', v: '' }); rerender('sel-add'); },
          }, 'Remove')));
      });
      parts.push(rows, h('button.btn.btn-small#sel-add', {
        type: 'button', onclick: () => { f.selector.push({ k: '', v: '' }); rerender(`sel-${f.selector.length - 1}-k`); },
      }, 'Add label'));
    } else {
      const sel = h('select', {}, h('option', { value: '' }, workloads.length ? 'Choose a workload' : 'No workloads found'));
      for (const w of workloads) {
        const ref = workloadRef(w);
        sel.append(h('option', { value: ref, selected: ref === f.workload }, `${w.kind} ${w.metadata.name}`));
      }
      if (f.workload && !workloads.some((w) => workloadRef(w) === f.workload)) {
        sel.append(h('option', { value: f.workload, selected: true }, `${f.workload} (not found now)`));
      }
      sel.addEventListener('change', () => { f.workload = sel.value; rerender('f-workload'); });
      const w = workloads.find((x) => workloadRef(x) === f.workload);
      const labels = w ? Object.entries((w.spec.template.metadata || {}).labels || {}) : [];
      parts.push(field('f-workload', 'Workload', sel,
        workloadsErr || 'Deployments, StatefulSets and DaemonSets of the namespace, read live from the cluster.'),
      h('div.chips', { 'aria-label': 'Labels the selector will use' },
        labels.length ? labels.map(([k, v]) => h('span.chip', `${k}=${v}`)) : null));
    }
    return section('sec-selector', 'Label selector', ...parts);
  }

  function portsPart() {
    const showNode = f.type !== 'ClusterIP';
    const rowClass = showNode ? 'div.port-row' : 'div.port-row.no-node';
    const head = h(`${rowClass}.port-head`, { 'aria-hidden': 'true' },
      h('span', 'Name'), h('span', 'Protocol'), h('span', 'Service port'), h('span', 'Container port'),
      showNode ? h('span', 'Node port') : null, h('span'));
    const rows = f.ports.map((p, i) => {
      const cell = (col, label, input) => {
        const id = `p${i}-${col}`;
        input.id = id;
        if (errors[id]) {
          input.setAttribute('aria-invalid', 'true');
          input.setAttribute('aria-describedby', `${id}-err`);
        }
        input.addEventListener('input', () => clearErr(id));
        return h('div.cell', h('label.sr-only', { for: id }, `Port ${i + 1} ${label}`), input, errFor(id));
      };
      const proto = h('select', {}, ['TCP', 'UDP', 'SCTP'].map((x) => h('option', { value: x, selected: x === p.protocol }, x)));
      proto.addEventListener('change', () => { p.protocol = proto.value; });
      return h(rowClass, { dataset: { port: String(i) } },
        cell('name', 'name', bind(h('input', { type: 'text', value: p.name, spellcheck: 'false', placeholder: 'http' }), 'name', p)),
        cell('protocol', 'protocol', proto),
        cell('port', 'service port', bind(h('input', { type: 'text', inputmode: 'numeric', value: p.port, placeholder: '80' }), 'port', p)),
        cell('target', 'container port', bind(h('input', { type: 'text', value: p.targetPort, placeholder: '8080' }), 'targetPort', p)),
        showNode ? cell('node', 'node port', bind(h('input', { type: 'text', inputmode: 'numeric', value: p.nodePort, placeholder: p.assigned ? `auto (now ${p.assigned})` : 'auto' }), 'nodePort', p)) : null,
        h('div.cell', h('button.btn.btn-small', {
          type: 'button', 'aria-label': `Remove port ${i + 1}`, disabled: f.ports.length === 1,
          onclick: () => { f.ports.splice(i, 1); rerender('port-add'); },
        }, 'Remove')));
    });
    return section('sec-ports', 'Ports',
      h('p.help', 'Service port defaults to the container port and the container port to the service port. ',
        showNode ? 'Leave the node port empty to let the cluster pick one.' : ''),
      head, ...rows,
      h('button.btn.btn-small#port-add', {
        type: 'button',
        onclick: () => { f.ports.push({ name: '', protocol: 'TCP', port: '', targetPort: '', nodePort: '' }); rerender(`p${f.ports.length - 1}-name`); },
      }, 'Add port'));
  }

  function affinityPart() {
    const cb = h('input', { type: 'checkbox', checked: f.affinity });
    cb.id = 'f-affinity';
    cb.addEventListener('change', () => { f.affinity = cb.checked; rerender('f-affinity'); });
    const parts = [h('div.field.check', cb, h('label', { for: 'f-affinity' }, 'Enable session persistence (by client IP)'), errFor('f-affinity'))];
    if (f.affinity) {
      parts.push(field('f-timeout', 'Maximum session hold time (seconds)',
        bind(h('input', { type: 'text', inputmode: 'numeric', value: f.timeout }), 'timeout'),
        'Requests from one client go to the same pod for this long. Default 30.'));
    }
    return section('sec-affinity', 'Session persistence', ...parts);
  }

  function etpPart() {
    return section('sec-etp', 'External traffic policy',
      radioGroup('etp', f.etp, [['Cluster', 'Cluster (default): any node forwards to any pod'],
        ['Local', 'Local: only to pods on the receiving node, keeping the client\'s source IP']],
      (v) => { f.etp = v; }));
  }

  function lbPart() {
    const parts = [radioGroup('lbtype', f.lbType, [['metallb', 'MetalLB'], ['other', 'Other load balancer']],
      (v, id) => { f.lbType = v; rerender(id); })];
    if (f.lbType === 'metallb') {
      let pool;
      if (pools) {
        pool = h('select', {}, h('option', { value: '' }, 'Choose a pool'));
        for (const p of pools) {
          pool.append(h('option', { value: p.metadata.name, selected: p.metadata.name === f.pool },
            `${p.metadata.name} (${(p.spec.addresses || []).join(', ')})`));
        }
        if (f.pool && !pools.some((p) => p.metadata.name === f.pool)) {
          pool.append(h('option', { value: f.pool, selected: true }, f.pool));
        }
        pool.addEventListener('change', () => { f.pool = pool.value; clearErr('f-pool'); });
      } else {
        pool = bind(h('input', { type: 'text', value: f.pool }), 'pool');
      }
      parts.push(field('f-pool', 'MetalLB IP pool', pool, pools ? 'Pools read from the cluster.' : 'The pools could not be read; type the name.'),
        field('f-address', 'Load balancing address (optional)', bind(h('input', { type: 'text', value: f.address, placeholder: 'from the pool' }), 'address'),
          'An address from the pool; empty lets MetalLB choose.'));
    } else {
      parts.push(field('f-lbclass', 'Load balancer class (optional)', bind(h('input', { type: 'text', value: f.lbClass, spellcheck: 'false' }), 'lbClass'),
        'The cloud provider\'s loadBalancerClass, e.g. service.k8s.aws/nlb.'),
      field('f-address', 'Load balancing address (optional)', bind(h('input', { type: 'text', value: f.address }), 'address')));
    }
    return section('sec-lb', 'Load balancing', ...parts);
  }

  function annotationsPart() {
    const rows = f.annotations.map((kv, i) => {
      const k = bind(h('input', { type: 'text', value: kv.k, spellcheck: 'false' }), 'k', kv);
      const v = bind(h('input', { type: 'text', value: kv.v, spellcheck: 'false' }), 'v', kv);
      k.id = `ann-${i}-k`;
      v.id = `ann-${i}-v`;
      return h('div.kv-row',
        h('label.sr-only', { for: k.id }, `Annotation ${i + 1} key`), k, h('span.eq', '='),
        h('label.sr-only', { for: v.id }, `Annotation ${i + 1} value`), v,
        h('button.btn.btn-small', {
          type: 'button', 'aria-label': `Remove annotation ${i + 1}`,
          onclick: () => { f.annotations.splice(i, 1); rerender('ann-add'); },
        }, 'Remove'));
    });
    return section('sec-annotations', 'Annotations', h('div.kv-rows', rows),
      h('button.btn.btn-small#ann-add', {
        type: 'button', onclick: () => { f.annotations.push({ k: '', v: '' }); rerender(`ann-${f.annotations.length - 1}-k`); },
      }, 'Add annotation'));
  }

  // ------------------------------------------------ fleet: Deploy to

  function deployPart() {
    const parts = [radioGroup('deploymode', deploy.mode,
      [['names', 'Clusters by name'], ['labels', 'Clusters by label']],
      (v, id) => { deploy.mode = v; preview = null; liveFromDeploy(); rerender(id); })];
    if (deploy.mode === 'names') {
      parts.push(h('div.checks', clusters.map((c) => {
        const id = `f-deploy-${c.metadata.name}`;
        const cb = h('input', { type: 'checkbox', id, checked: deploy.names.includes(c.metadata.name) });
        cb.addEventListener('change', () => {
          deploy.names = clusters.map((x) => x.metadata.name)
            .filter((n) => (n === c.metadata.name ? cb.checked : deploy.names.includes(n)));
          preview = null;
          liveFromDeploy();
        });
        const labels = Object.entries(c.metadata.labels || {}).map(([k, v]) => `${k}=${v}`).join(', ');
        return h('div.field.check', cb, h('label', { for: id }, `Deploy to cluster ${c.metadata.name}`),
          labels ? h('span.sub', ` ${labels}`) : null);
      })));
    } else {
      const input = bind(h('input', { type: 'text', value: deploy.labels, spellcheck: 'false', placeholder: 'env=prod' }), 'labels', deploy);
      input.addEventListener('input', () => { preview = null; showMatches(); liveFromDeploy(); });
      parts.push(field('f-deploy-labels', 'Cluster labels', input,
        'Every cluster whose labels match, now and when clusters join later (key=value, comma-separated).'),
      exprsPart(),
      h('p.muted#deploy-matches', { 'aria-live': 'polite' }));
    }
    return section('sec-deploy', 'Deploy to', ...parts);
  }

  // Label expressions (matchExpressions): each row a key, an operator and
  // its values; all of them and the labels above must match.
  function exprsPart() {
    const rows = deploy.exprs.map((e, i) => {
      const n = i + 1;
      const changed = () => { preview = null; showMatches(); };
      const key = h('input', { type: 'text', value: e.key, spellcheck: 'false', placeholder: 'region' });
      key.addEventListener('input', () => { e.key = key.value; changed(); });
      const op = h('select', {}, OPERATORS.map(([v, label]) => h('option', { value: v, selected: v === e.operator }, label)));
      const takes = e.operator === 'In' || e.operator === 'NotIn';
      const vals = h('input', {
        type: 'text', value: e.values, spellcheck: 'false', placeholder: takes ? 'eu, us' : 'no values', disabled: !takes && !e.values,
      });
      vals.addEventListener('input', () => { e.values = vals.value; changed(); hint(); });
      op.addEventListener('change', () => {
        e.operator = op.value;
        if (e.operator === 'Exists' || e.operator === 'DoesNotExist') e.values = '';
        preview = null;
        rerender(`f-expr-${i}-op`);
      });
      const hintEl = h('p.muted.expr-hint', { id: `f-expr-${i}-hint`, 'aria-live': 'polite' });
      const hint = () => {
        hintEl.textContent = takes && valuesOf(e.values).length === 0 ? `${e.operator} needs at least one value.` : '';
      };
      hint();
      return h('div.expr-row', { dataset: { row: String(i) } },
        field(`f-expr-${i}-key`, `Label expression ${n} key`, key),
        field(`f-expr-${i}-op`, `Label expression ${n} operator`, op),
        field(`f-expr-${i}-values`, `Label expression ${n} values (comma-separated)`, vals),
        h('button.btn.btn-small', {
          type: 'button', 'aria-label': `Remove label expression ${n}`,
          onclick: () => { deploy.exprs.splice(i, 1); preview = null; rerender('f-expr-add'); },
        }, 'Remove'),
        hintEl);
    });
    return h('div.exprs', rows,
      h('button.btn.btn-small#f-expr-add', {
        type: 'button',
        onclick: () => { deploy.exprs.push({ key: '', operator: 'In', values: '' }); preview = null; rerender(`f-expr-${deploy.exprs.length - 1}-key`); },
      }, 'Add label expression'));
  }

  // nodePorts (DESIGN §10): PerCluster, or Same — one node port per port,
  // free in every placed cluster.
  function nodePortsPart() {
    return section('sec-nodeports', 'Node ports across clusters',
      radioGroup('nodeports', fleetKeep.nodePorts || 'PerCluster',
        [['PerCluster', 'Per cluster: each cluster allocates its own'], ['Same', 'Same: one node port per port, free in every placed cluster']],
        (v, id) => { fleetKeep.nodePorts = v; preview = null; clearErr('sec-nodeports'); rerender(id); }),
      h('p.help', fleetKeep.nodePorts === 'Same'
        ? 'svcfleet picks each port\'s node port once, in the node-port range of every placed cluster, and keeps it when clusters join; a node port you give is checked in every cluster.'
        : 'Each cluster picks a free node port unless you give one (overrides may give a cluster its own).'));
  }

  function showMatches() {
    const el = document.getElementById('deploy-matches');
    if (!el) return;
    const sel = matchLabels(deploy.labels);
    const names = sel ? clusters.filter((c) => clusterMatches(c, sel, deploy.exprs)).map((c) => c.metadata.name) : [];
    el.textContent = !sel ? 'Write labels as key=value.' : names.length ? `Matches now: ${names.join(', ')}` : 'No cluster matches now.';
  }

  // The live lists follow the first chosen cluster.
  function liveFromDeploy() {
    let first = '';
    if (deploy.mode === 'names') first = deploy.names[0] || '';
    else {
      const sel = matchLabels(deploy.labels);
      const c = sel ? clusters.find((x) => clusterMatches(x, sel, deploy.exprs)) : null;
      first = c ? c.metadata.name : '';
    }
    first = first || (clusters[0] ? clusters[0].metadata.name : '');
    if (first && first !== cluster) {
      cluster = first;
      loadLive();
    }
  }

  function overridesPart() {
    const rows = overrides.map((o, i) => {
      const n = i + 1;
      const input = (key, label, placeholder) => {
        const el = bind(h('input', { type: 'text', value: o[key], spellcheck: 'false', placeholder }), key, o);
        el.id = `ov-${i}-${key}`;
        el.addEventListener('input', () => { preview = null; });
        return h('div.field', h('label', { for: el.id }, `Override ${n} ${label}`), el);
      };
      let target;
      if (o.mode === 'labels') {
        const el = input('labels', 'cluster labels', 'region=eu');
        const matches = h('p.muted', { id: `ov-${i}-matches`, 'aria-live': 'polite' });
        const show = () => {
          const sel = matchLabels(o.labels);
          const names = sel && Object.keys(sel).length ? clusters.filter((c) => clusterMatches(c, sel)).map((c) => c.metadata.name) : [];
          matches.textContent = !sel ? 'Write labels as key=value.' : names.length ? `Matches now: ${names.join(', ')}` : 'No cluster matches now.';
        };
        el.querySelector('input').addEventListener('input', show);
        show();
        target = [el, matches];
      } else {
        const sel = h('select', { multiple: o.clusters.length > 1 }, o.clusters.length > 1 ? null : h('option', { value: '' }, 'Choose a cluster'),
          clusters.map((c) => h('option', { value: c.metadata.name, selected: o.clusters.includes(c.metadata.name) }, c.metadata.name)));
        for (const cn of o.clusters) {
          if (!clusters.some((c) => c.metadata.name === cn)) sel.append(h('option', { value: cn, selected: true }, `${cn} (not registered)`));
        }
        sel.addEventListener('change', () => {
          o.clusters = [...sel.selectedOptions].map((x) => x.value).filter(Boolean);
          preview = null;
        });
        sel.id = `ov-${i}-cluster`;
        target = h('div.field', h('label', { for: sel.id }, `Override ${n} cluster`), sel);
      }
      return h('div.override', { dataset: { override: String(i) } },
        radioGroup(`ovmode${i}`, o.mode, [['names', `Override ${n} by cluster name`], ['labels', `Override ${n} by cluster labels`]],
          (v, id) => { o.mode = v; preview = null; rerender(id); }),
        target,
        input('pool', 'MetalLB pool', 'west-pool'),
        input('address', 'load balancer address', '192.168.70.5'),
        input('annotations', 'annotations (key=value, comma-separated)', 'team=west'),
        input('nodePorts', 'node ports (one per port, comma-separated)', '30080'),
        h('button.btn.btn-small', {
          type: 'button', 'aria-label': `Remove override ${n}`,
          onclick: () => { overrides.splice(i, 1); preview = null; rerender('ov-add'); },
        }, 'Remove'));
    });
    return section('sec-overrides', 'Per-cluster overrides (optional)',
      h('p.help', 'What some clusters get differently — chosen by name or by their labels: their MetalLB pool and address, annotations, node ports. '
        + 'The preview shows each cluster\'s result.'),
      ...rows,
      h('button.btn.btn-small#ov-add', {
        type: 'button',
        onclick: () => {
          overrides.push({ mode: 'names', clusters: [], labels: '', exprs: null, keepSelector: null, pool: '', address: '', annotations: '', nodePorts: '', rest: {} });
          preview = null;
          rerender(`ov-${overrides.length - 1}-cluster`);
        },
      }, 'Add override'));
  }

  // An override as the manifest says it: the clusters it names and a
  // JSON merge patch on the rendered Service (ports are replaced whole,
  // as a merge patch does with lists).
  function overrideOf(o, m) {
    const ann = {};
    if (o.pool.trim()) ann[ANN_POOL] = o.pool.trim();
    if (o.address.trim()) ann[ANN_IPS] = o.address.trim();
    for (const part of o.annotations.split(',').map((x) => x.trim()).filter(Boolean)) {
      const i = part.indexOf('=');
      if (i > 0) ann[part.slice(0, i).trim()] = part.slice(i + 1).trim();
      else ann[part] = '';
    }
    const patch = {};
    if (Object.keys(ann).length) patch.metadata = { annotations: ann };
    const nps = o.nodePorts.split(',').map((x) => x.trim());
    if (nps.some(Boolean)) {
      patch.spec = {
        ports: m.spec.ports.map((p, i) => (nps[i] ? { ...p, nodePort: /^\d+$/.test(nps[i]) ? Number(nps[i]) : nps[i] } : p)),
      };
    }
    const out = { patch: merged(o.rest, patch) };
    if (o.mode === 'labels') {
      // Sent as typed: a part that is not key=value is the server's to
      // name. No labels at all is no selector (not "every cluster"): the
      // server then asks for clusters or labels.
      const ml = matchLabels(o.labels);
      if (o.labels.trim() || o.exprs) {
        out.clusterSelector = { matchLabels: ml || { [o.labels.trim()]: '' } };
        if (o.exprs) out.clusterSelector.matchExpressions = o.exprs;
      }
    } else {
      out.clusters = o.clusters.slice();
      if (o.keepSelector) out.clusterSelector = o.keepSelector;
    }
    return out;
  }

  function fleetManifest(m) {
    const placement = {};
    if (deploy.mode === 'names') {
      placement.clusters = deploy.names.slice();
      if (deploy.keepSelector) placement.clusterSelector = deploy.keepSelector;
    } else {
      const ml = matchLabels(deploy.labels) || {};
      placement.clusterSelector = deploy.exprs.length && !Object.keys(ml).length ? {} : { matchLabels: ml };
      if (deploy.exprs.length) placement.clusterSelector.matchExpressions = exprsOut(deploy.exprs);
      if (deploy.keepNames.length) placement.clusters = deploy.keepNames.slice();
    }
    const tmd = {};
    if (m.metadata.annotations) tmd.annotations = m.metadata.annotations;
    if (m.metadata.labels) tmd.labels = m.metadata.labels;
    const md = { name: m.metadata.name, namespace: m.metadata.namespace };
    if (fleetKeep.labels) md.labels = fleetKeep.labels;
    if (fleetKeep.annotations) md.annotations = fleetKeep.annotations;
    if (editing && f.keep.resourceVersion) md.resourceVersion = f.keep.resourceVersion;
    const spec = {
      placement,
      template: { metadata: tmd, spec: m.spec },
      overrides: overrides.length ? overrides.map((o) => overrideOf(o, m)) : undefined,
    };
    spec.nodePorts = fleetKeep.nodePorts || 'PerCluster';
    if (fleetKeep.adopt) spec.adopt = true;
    if (fleetKeep.shareAddresses) spec.shareAddresses = true;
    return { apiVersion: 'svcfleet.io/v1', kind: 'FleetService', metadata: md, spec };
  }

  // What each cluster would get, from the dry run, and what its API server
  // answered to its own dry run of it (i19-diff).
  function previewPart() {
    const all = preview.clusters || [];
    // Copies pruned (their cluster is no longer placed) are listed, not
    // counted as deployed.
    const rendered = all.filter((r) => r.action !== 'prune');
    return h('section.card#fleet-preview', { 'aria-labelledby': 'preview-title', tabindex: '-1' },
      h('h2#preview-title', 'Preview: what each cluster gets'),
      h('p.help', `Checked against every cluster; nothing is written until you press ${editing ? 'Apply' : 'Deploy'}.`),
      rendered.length === 0 ? h('p.empty', 'No cluster matches: nothing would be deployed.') : null,
      rendered.some((r) => r.result === 'Refused')
        ? h('p.alert.alert-warn#preview-refused', { role: 'status' },
          `Refused by the API server of ${rendered.filter((r) => r.result === 'Refused').map((r) => r.cluster).join(', ')}: `
          + `svcfleet would store the change, but that cluster${rendered.filter((r) => r.result === 'Refused').length === 1 ? '' : 's'} would not take it (see below).`)
        : null,
      all.map((r) => {
          if (r.action === 'prune') {
            return h('div.preview-cluster', { dataset: { cluster: r.cluster, action: 'prune' } },
              h('h3', `Cluster ${r.cluster}`, h('span.sub', ' — prune')),
              h('p', 'No longer placed: its copy is removed from this cluster.'));
          }
          const spec = (r.service && r.service.spec) || {};
          const ann = (r.service && r.service.metadata && r.service.metadata.annotations) || {};
          return h('div.preview-cluster', { dataset: { cluster: r.cluster, action: r.action || '', result: r.result || '' } },
            h('h3', `Cluster ${r.cluster}`, h('span.sub', ` — ${r.action || 'apply'}${r.result ? `, ${resultText(r)}` : ''}`)),
            h('dl.facts',
              h('dt', 'Access type'), h('dd', spec.type || 'ClusterIP'),
              h('dt', 'Ports'), h('dd', (spec.ports || []).map((p) => h('div',
                `${p.port}→${p.targetPort !== undefined ? p.targetPort : p.port}/${p.protocol || 'TCP'}${p.nodePort ? ` (node ${p.nodePort})` : ''}`))),
              h('dt', 'Label selector'), h('dd', Object.entries(spec.selector || {}).map(([k, v]) => h('span.chip', `${k}=${v}`))),
              Object.keys(ann).filter((k) => !k.startsWith('svcfleet.io/')).length ? [h('dt', 'Annotations'),
                h('dd', Object.entries(ann).filter(([k]) => !k.startsWith('svcfleet.io/')).map(([k, v]) => h('div.ann', `${k} = ${v}`)))] : null),
            r.action === 'create' ? ownerWarning(r, (r.service && r.service.metadata && r.service.metadata.name) || '', Boolean(fleetKeep.adopt)) : null,
            answerPart(r));
        }),
      h('div.actions',
        h('button.btn.btn-primary#fleet-deploy', { type: 'button', disabled: busy || rendered.length === 0, onclick: () => submit(true) },
          `${editing ? 'Apply to' : 'Deploy to'} ${rendered.length} cluster${rendered.length === 1 ? '' : 's'}`),
        h('button.btn#fleet-back', { type: 'button', onclick: () => { preview = null; rerender('submit'); } }, 'Change')));
  }

  function render() {
    clear(root);
    const listHref = fleet ? href(editing ? fleetPath(params.namespace, params.name) : '/fleetservices') : href(`/clusters/${cluster}/services`, { ns: editing ? params.namespace : query.ns });
    root.append(h('div.page-head',
      h('div', h('h1', { tabindex: '-1' }, fleet ? (editing ? `Modify Multicloud Service ${params.name}` : 'Create Multicloud Service')
        : editing ? `Modify Service ${params.name}` : 'Create Service'),
        h('p.muted', fleet ? `Namespaces, workloads and MetalLB pools are read from cluster ${cluster || '—'}.`
          : `Cluster ${cluster}${editing ? ` · namespace ${params.namespace}` : ''}`)),
      editing || fleet ? null : h('div.page-actions', h('a.btn', { href: href(`/clusters/${cluster}/services/new-yaml`, { ns: f.namespace }) }, 'Create via YAML'))));
    if (fleet && preview) {
      root.append(previewPart());
      return;
    }
    if (banner) root.append(banner);
    if (liveErr) {
      root.append(h('div.alert.alert-warn#live-error', { role: 'status' },
        `Cluster ${cluster} is not answering, so its namespaces, workloads and MetalLB pools could not be read (${liveErr}). `,
        editing ? 'Your changes can still be saved: svcfleet applies them when it answers.' : 'A namespace can be chosen once it answers.'));
    }
    if (summary.length) {
      root.append(h('div.alert.alert-error#form-errors', { role: 'alert', tabindex: '-1' },
        h('p', summary.length === 1 ? summary[0] : 'The server did not accept the Service:'),
        summary.length > 1 ? h('ul', summary.map((s) => h('li', s))) : null));
    }
    const typeDesc = TYPES.find(([t]) => t === f.type)[1];
    const form = h('form.svc-form', { novalidate: true },
      fleet ? deployPart() : null,
      tabs(),
      h('div.tab-panel#type-panel', { role: 'tabpanel', 'aria-labelledby': `tab-${f.type}` },
        h('p.help', typeDesc),
        basics(),
        selectorPart(),
        portsPart(),
        fleet && f.type !== 'ClusterIP' ? nodePortsPart() : null,
        affinityPart(),
        f.type !== 'ClusterIP' ? etpPart() : null,
        f.type === 'LoadBalancer' ? lbPart() : null,
        annotationsPart(),
        fleet ? overridesPart() : null),
      h('div.actions.form-actions',
        h('button.btn.btn-primary#submit', { type: 'submit', disabled: busy }, busy ? 'Saving…' : fleet ? 'Preview' : 'OK'),
        fleet ? null : h('button.btn#svc-preview-btn', { type: 'button', disabled: busy, onclick: () => previewSvc() }, 'Preview'),
        h('a.btn', { href: listHref }, 'Cancel')));
    form.addEventListener('submit', (e) => { e.preventDefault(); submit(); });
    if (!fleet && svcPreview) {
      if (svcPreview.for === JSON.stringify(manifest(f, workloads))) {
        form.insertBefore(svcPreviewPart(), form.querySelector('.form-actions'));
      } else {
        svcPreview = null;
      }
    }
    // A change to the form makes the preview stale: it goes.
    const stale = () => {
      if (svcPreview && svcPreview.for !== JSON.stringify(manifest(f, workloads))) {
        svcPreview = null;
        const el = document.getElementById('svc-preview');
        if (el) el.remove();
      }
    };
    form.addEventListener('input', stale);
    form.addEventListener('change', stale);
    root.append(form);
    if (fleet) showMatches();
  }

  // -------------------------------------------------------------- submit

  function showErrors(err) {
    errors = {};
    summary = [];
    for (const c of err.causes) {
      const id = c.field ? fieldFor(c.field) : null;
      const text = c.field ? `${c.message}` : c.message;
      if (id && (document.getElementById(id) || id.startsWith('sec-'))) {
        (errors[id] = errors[id] || []).push(text);
      } else {
        summary.push(c.field ? `${c.field}: ${c.message}` : c.message);
      }
    }
    if (err.causes.length === 0) summary.push(err.message);
    render();
    const first = Object.keys(errors)[0];
    const el = summary.length ? document.getElementById('form-errors') : first && document.getElementById(first);
    if (el) {
      if (el.tagName === 'FIELDSET') (el.querySelector('input,select,button') || el).focus();
      else el.focus();
    }
  }

  // Who changed the object and when (i18-console, issue 19): the stored
  // object's status says it (specUpdatedBy, specUpdateTime: the last write
  // of desired state, never a status report); without it, the server's
  // conflict message ("changed by bob 3s ago").
  function writerPart(latest, err) {
    const st = (latest && latest.status) || {};
    if (st.specUpdatedBy) {
      return h('span#conflict-writer', 'Changed by ', h('strong#conflict-by', st.specUpdatedBy), ' ',
        st.specUpdateTime ? timeEl(st.specUpdateTime) : null, '. ');
    }
    const m = err && /changed by (\S+) (\d+)s ago/.exec(err.message || '');
    if (m) {
      return h('span#conflict-writer', 'Changed by ', h('strong#conflict-by', m[1]), ` ${m[2]} s before your save. `);
    }
    return null;
  }

  async function conflict(err, mine) {
    let latest = null;
    try {
      latest = await api.get(svcPath(cluster, params.namespace, params.name));
    } catch (e) { /* explained without it */ }
    banner = h('div.alert.alert-warn#conflict', { role: 'alert' },
      h('p', h('strong', 'Not saved: this Service was changed after you opened it. '),
        latest ? ['Version ', h('code', mine.metadata.resourceVersion), ' was what you started from; it is now ',
          h('code', latest.metadata.resourceVersion), '. ']
          : '',
        writerPart(latest, err),
        'Saving would silently undo their change, so the server refused it (409 Conflict).'),
      h('div.actions',
        h('button.btn.btn-primary#conflict-reload', {
          type: 'button',
          onclick: () => { banner = null; load(); },
        }, 'Load the latest version (discard my edits)'),
        h('button.btn#conflict-overwrite', {
          type: 'button',
          onclick: () => { banner = null; f.keep.resourceVersion = ''; submit(); },
        }, 'Save mine over theirs')));
    render();
    document.getElementById('conflict-reload').focus();
  }

  // Modify (fleet mode): someone changed the Multicloud Service since the
  // form was filled in. Both versions are named and what is stored now is
  // shown; the user reloads it, or saves theirs over it (against that
  // version, so a third change is caught again).
  async function fleetConflict(mine, err) {
    let latest = null;
    try {
      latest = await api.get(fleetPath(params.namespace, params.name));
    } catch (e) { /* explained without it */ }
    if (!alive()) return;
    const lspec = latest ? latest.spec || {} : {};
    const lports = ((lspec.template || {}).spec || {}).ports || [];
    banner = h('div.alert.alert-warn#conflict', { role: 'alert', tabindex: '-1' },
      h('p', h('strong', 'Not saved: this Multicloud Service was changed after you opened it. '),
        latest ? ['Version ', h('code#conflict-mine', mine.metadata.resourceVersion), ' was what you started from; it is now ',
          h('code#conflict-theirs', latest.metadata.resourceVersion), ` (generation ${latest.metadata.generation || '—'}). `] : '',
        writerPart(latest, err),
        'Saving would silently undo their change, so the server refused it (409 Conflict). Nothing was written.'),
      latest ? h('dl.facts#conflict-now',
        h('dt', 'Deployed to now'), h('dd', placementText(lspec.placement)),
        h('dt', 'Ports now'), h('dd', lports.map((p) => h('div', `${p.port}→${p.targetPort !== undefined ? p.targetPort : p.port}/${p.protocol || 'TCP'}${p.nodePort ? ` (node ${p.nodePort})` : ''}`))),
        h('dt', 'Overrides now'), h('dd', String((lspec.overrides || []).length))) : null,
      h('div.actions',
        h('button.btn.btn-primary#conflict-reload', {
          type: 'button',
          onclick: () => { banner = null; preview = null; load(); },
        }, 'Load the latest version (discard my edits)'),
        latest ? h('button.btn#conflict-overwrite', {
          type: 'button',
          onclick: () => { banner = null; f.keep.resourceVersion = latest.metadata.resourceVersion; submit(); },
        }, 'Save mine over theirs (preview first)') : null));
    render();
    document.getElementById('conflict').focus();
  }

  // Modify (fleet mode): the form from the stored Multicloud Service.
  function fromFleet(fs) {
    const spec = fs.spec || {};
    const tpl = spec.template || {};
    const tmd = tpl.metadata || {};
    f = formFrom({
      metadata: { name: fs.metadata.name, namespace: fs.metadata.namespace, labels: tmd.labels, annotations: tmd.annotations, resourceVersion: fs.metadata.resourceVersion },
      spec: tpl.spec || {},
    });
    const pl = spec.placement || {};
    const sel = pl.clusterSelector || null;
    deploy.exprs = [];
    deploy.keepNames = [];
    deploy.keepSelector = null;
    if (sel && !(pl.clusters || []).length) {
      deploy.mode = 'labels';
      deploy.labels = labelsText(sel.matchLabels);
      deploy.exprs = exprsIn(sel.matchExpressions);
      deploy.names = [];
    } else {
      deploy.mode = 'names';
      deploy.names = (pl.clusters || []).slice();
      deploy.keepSelector = sel;
      deploy.labels = '';
    }
    overrides.length = 0;
    for (const o of spec.overrides || []) overrides.push(overrideFrom(o));
    fleetKeep = {
      nodePorts: spec.nodePorts || '', adopt: Boolean(spec.adopt), shareAddresses: Boolean(spec.shareAddresses),
      labels: fs.metadata.labels || null, annotations: fs.metadata.annotations || null,
    };
    loaded = fs;
  }

  // What the Service form needs before it asks the server: a namespace,
  // and the workload when one is referenced. False after saying so.
  function ready(ns) {
    if (!ns) {
      errors = { 'f-namespace': ['Choose a namespace.'] };
      summary = [];
      render();
      document.getElementById('f-namespace').focus();
      return false;
    }
    if (f.selMode === 'workload' && !f.workload) {
      // Not the selector's "Required value": the user has not chosen yet.
      errors = { 'f-workload': ['Choose a workload: its pod labels become the label selector.'] };
      summary = [];
      render();
      document.getElementById('f-workload').focus();
      return false;
    }
    return true;
  }

  async function submit(confirmed) {
    if (busy) return;
    if (fleet) {
      submitFleet(confirmed === true);
      return;
    }
    const ns = editing ? params.namespace : f.namespace;
    if (!ready(ns)) return;
    busy = true;
    banner = null;
    const m = manifest(f, workloads);
    try {
      const out = editing
        ? await api.call('PUT', svcPath(cluster, ns, params.name), { body: m })
        : await api.call('POST', svcPath(cluster, ns), { body: m });
      busy = false;
      toast(`${editing ? 'Modified' : 'Created'} Service ${out.metadata.name}`);
      if (alive()) go(`/clusters/${cluster}/services`, { ns: query.ns });
    } catch (e) {
      busy = false;
      if (!alive()) return;
      refused(e, m);
    }
  }

  // i19-diff: the cluster's own dry run of the manifest, shown before OK.
  async function previewSvc() {
    if (busy) return;
    const ns = editing ? params.namespace : f.namespace;
    if (!ready(ns)) return;
    const m = manifest(f, workloads);
    if (!m.metadata.name) {
      // The preview's address names the Service.
      errors = { 'f-name': ['Name the Service to preview it.'] };
      summary = [];
      render();
      document.getElementById('f-name').focus();
      return;
    }
    busy = true;
    banner = null;
    svcPreview = null;
    try {
      const out = await api.call('POST', previewPath(svcPath(cluster, ns, m.metadata.name)), { body: m });
      busy = false;
      if (!alive()) return;
      errors = {};
      summary = [];
      svcPreview = { answer: out, for: JSON.stringify(m) };
      rerender('svc-preview-btn');
      const el = document.getElementById('svc-preview');
      if (el) el.focus();
    } catch (e) {
      busy = false;
      if (!alive()) return;
      refused(e, m);
    }
  }

  function svcPreviewPart() {
    const a = svcPreview.answer;
    return h('section.card#svc-preview', { 'aria-labelledby': 'svc-preview-title', tabindex: '-1' },
      h('h2#svc-preview-title', 'Preview: what the cluster answers'),
      h('p.help', 'The cluster\'s API server dry-ran this change (dryRun=All), defaults and admission included; nothing is written until you press OK.'),
      !editing && a.action && a.action !== 'created'
        ? h('p.alert.alert-warn#svc-preview-exists', `A Service named ${a.metadata.name} exists already in this namespace: OK will not replace it (Modify it instead).`) : null,
      (a.clusters || []).map((c) => h('div.preview-cluster', { dataset: { cluster: c.cluster, result: c.result || '' } },
        h('h3', `Cluster ${c.cluster}`, h('span.sub', ` — ${resultText(c)}`)),
        ownerWarning(c, a.metadata.name, f.keep.adoption === 'true'),
        answerPart(c))));
  }

  // The server said no to a write or a preview of manifest m.
  function refused(e, m) {
    if (e.status === 409 && editing && e.reason === 'Conflict' && m.metadata.resourceVersion) {
      conflict(e, m);
    } else if (e.status === 409 && e.reason === 'AlreadyExists') {
      errors = { 'f-name': [e.message] };
      summary = [];
      render();
      document.getElementById('f-name').focus();
    } else if (e.status === 422) {
      showErrors(e);
    } else {
      errors = {};
      summary = [e.status === 403 ? `Not allowed: ${e.message}` : e.message];
      render();
      document.getElementById('form-errors').focus();
    }
  }

  // Fleet mode: a dry run first (the preview), then the real write.
  async function submitFleet(confirmed) {
    if (!f.namespace) {
      errors = { 'f-namespace': ['Choose a namespace.'] };
      summary = [];
      render();
      document.getElementById('f-namespace').focus();
      return;
    }
    if (f.selMode === 'workload' && !f.workload) {
      errors = { 'f-workload': ['Choose a workload: its pod labels become the label selector.'] };
      summary = [];
      render();
      document.getElementById('f-workload').focus();
      return;
    }
    // A stored selector of matchExpressions only has no labels to show.
    if (deploy.mode === 'names' ? deploy.names.length === 0 && !deploy.keepSelector
      : !matchLabels(deploy.labels) || (!deploy.labels.trim() && !deploy.exprs.length)) {
      errors = { 'sec-deploy': [deploy.mode === 'names' ? 'Choose at least one cluster.' : 'Write the cluster labels as key=value, or add a label expression.'] };
      summary = [];
      preview = null;
      render();
      (document.querySelector('#sec-deploy input') || document.getElementById('sec-deploy')).focus();
      return;
    }
    const body = fleetManifest(manifest(f, workloads));
    if (!confirmed && !body.metadata.name) {
      // The preview's address names the Multicloud Service.
      errors = { 'f-name': ['Name the Multicloud Service to preview it.'] };
      summary = [];
      render();
      document.getElementById('f-name').focus();
      return;
    }
    busy = true;
    banner = null;
    try {
      // The preview (i19-diff): svcfleetd's dry run and each placed
      // cluster's API server's own.
      const out = !confirmed
        ? await api.call('POST', previewPath(fleetPath(editing ? params.namespace : f.namespace, editing ? params.name : body.metadata.name)), { body })
        : editing
          ? await api.call('PUT', fleetPath(params.namespace, params.name), { body })
          : await api.call('POST', fleetPath(f.namespace), { body });
      busy = false;
      if (!alive()) return;
      errors = {};
      summary = [];
      if (!confirmed) {
        preview = out;
        render();
        document.getElementById('fleet-preview').focus();
        return;
      }
      toast(`${editing ? 'Modified' : 'Created'} Multicloud Service ${out.metadata.name}`);
      if (editing) go(fleetPath(params.namespace, params.name));
      else go('/fleetservices', { ns: query.ns });
    } catch (e) {
      busy = false;
      if (!alive()) return;
      preview = null;
      if (e.status === 409 && editing && e.reason === 'Conflict' && body.metadata.resourceVersion) {
        fleetConflict(body, e);
      } else if (e.status === 422) {
        showErrors(e);
      } else if (/^nodePorts Same:/.test(e.message) && document.getElementById('sec-nodeports')) {
        // No node port free everywhere: said beside the choice.
        errors = { 'sec-nodeports': [e.message] };
        summary = [];
        render();
        document.getElementById('f-nodeports-Same').focus();
      } else {
        errors = e.status === 409 && e.reason === 'AlreadyExists' ? { 'f-name': [e.message] } : {};
        summary = errors['f-name'] ? [] : [e.status === 403 ? `Not allowed: ${e.message}` : e.message];
        render();
        const el = document.getElementById(summary.length ? 'form-errors' : 'f-name');
        if (el) el.focus();
      }
    }
  }

  // ----------------------------------------------------------- loading

  // Only the answer for the namespace asked last counts: switching
  // namespaces quickly must not leave another namespace's workloads in the
  // picker when an earlier read answers late.
  let workloadsSeq = 0;
  async function loadWorkloads() {
    const seq = ++workloadsSeq;
    workloads = [];
    workloadsErr = '';
    if (!f.namespace) { if (f.selMode === 'workload') rerender(); return; }
    let items = [];
    let err = '';
    try {
      const l = await api.get(`/clusters/${encodeURIComponent(cluster)}/namespaces/${encodeURIComponent(f.namespace)}/workloads`);
      items = l.items;
    } catch (e) {
      err = `The workloads could not be read: ${e.message}`;
    }
    if (seq !== workloadsSeq) return;
    workloads = items;
    workloadsErr = err;
    if (alive() && f.selMode === 'workload') rerender();
  }

  async function load() {
    errors = {};
    summary = [];
    if (editing && fleet) {
      try {
        fromFleet(await api.get(fleetPath(params.namespace, params.name)));
      } catch (e) {
        if (alive()) clear(root).append(errorBox(e));
        return;
      }
    } else if (editing) {
      try {
        const svc = await api.get(svcPath(cluster, params.namespace, params.name));
        f = formFrom(svc);
      } catch (e) {
        if (alive()) clear(root).append(errorBox(e));
        return;
      }
    }
    if (!alive()) return;
    render();
    root.querySelector('h1').focus();
  }

  // The live lists of the cluster (namespaces, pools, the rules there).
  async function loadLive() {
    const [nsl, pl] = await Promise.allSettled([
      api.get(`/clusters/${encodeURIComponent(cluster)}/namespaces`),
      api.get(`/clusters/${encodeURIComponent(cluster)}/metallb/pools`),
    ]);
    namespaces = nsl.status === 'fulfilled' ? nsl.value.items.map((n) => n.metadata.name) : [];
    liveErr = nsl.status === 'fulfilled' ? '' : nsl.reason.message;
    pools = pl.status === 'fulfilled' ? pl.value.items : null;
    try {
      rules = await api.rules(cluster, f.namespace, namespaces);
    } catch (e) {
      rules = null;
    }
    if (!editing && !f.namespace) {
      const first = namespaces.find((n) => !rules || rules.can('services', 'create', n));
      f.namespace = namespaces.includes('default') && (!rules || rules.can('services', 'create', 'default')) ? 'default' : first || '';
    }
    if (!alive()) return;
    const active = document.activeElement && document.activeElement.id;
    rerender(active);
    loadWorkloads();
  }

  (async () => {
    if (fleet) {
      try {
        clusters = (await api.get('/clusters')).items;
      } catch (e) {
        if (alive()) clear(root).append(errorBox(e));
        return;
      }
      if (!alive()) return;
      cluster = clusters[0] ? clusters[0].metadata.name : '';
    }
    await load();
    // Modify: the live lists come from the first cluster it deploys to
    // (liveFromDeploy reads them when that is another cluster).
    const before = cluster;
    if (fleet && editing && loaded) liveFromDeploy();
    if (cluster && cluster === before) await loadLive();
  })();

}
