// preview.js: a cluster's own answer to a dry run of an apply (i19-diff),
// as the gateway's .../preview returns it (one entry of its clusters[]):
// what the cluster's API server would make of the object — a diff of the
// object the cluster holds against its answer — or its refusal, in its
// own words (an admission webhook's, validation's), or why it gave no
// answer. The Service form shows it before OK, the Multicloud Service
// form beside what each cluster gets.
import { h } from './ui.js';
import { lines, diffLines } from './history.js';

export function previewPath(objectPath) {
  return `${objectPath}/preview`;
}

// A word for the answer, after the cluster's name.
export function resultText(c) {
  switch (c.result) {
    case 'Changed': return c.live ? 'changes' : 'new in the cluster';
    case 'Unchanged': return 'no change';
    case 'Refused': return 'refused by the cluster';
    case 'Unanswered': return 'no answer';
    default: return '';
  }
}

// What changed, with a few lines around each change: an object the
// cluster holds is long, its change usually a line or two.
function hunks(d, context = 3) {
  const keep = d.map(() => false);
  d.forEach((x, i) => {
    if (x.op === ' ') return;
    for (let j = Math.max(0, i - context); j <= Math.min(d.length - 1, i + context); j++) keep[j] = true;
  });
  const out = [];
  let gap = false;
  d.forEach((x, i) => {
    if (keep[i]) {
      out.push(x);
      gap = false;
    } else if (!gap) {
      out.push({ op: '…', text: '' });
      gap = true;
    }
  });
  return out;
}

// answerPart(c): the cluster's answer; null when it was not asked (a copy
// pruned or skipped).
export function answerPart(c) {
  if (!c.result) return null;
  const data = { dataset: { result: c.result } };
  if (c.result === 'Refused') {
    return h('div.alert.alert-error.server-answer', { ...data, role: 'alert' },
      h('strong', `The cluster's API server refused it (HTTP ${c.code}): `), c.message || '');
  }
  if (c.result === 'Unanswered') {
    return h('div.alert.alert-warn.server-answer', { ...data, role: 'status' },
      h('strong', 'The cluster gave no answer: '), c.message || '');
  }
  if (c.result === 'Unchanged') {
    return h('p.server-answer', data, `Its API server accepts it (HTTP ${c.code}): nothing changes in the cluster.`);
  }
  const n = (c.changes || []).length;
  const d = hunks(diffLines(lines(c.live || {}), lines(c.dryRun || {})));
  return h('div.server-answer', data,
    h('p', `Its API server accepts it (HTTP ${c.code}): `,
      c.live ? `${n}${c.changesTruncated ? '+' : ''} field${n === 1 ? '' : 's'} change in the cluster (− now, + after).`
        : 'the Service is new there (+ what it would be).'),
    h('pre.diff', { tabindex: '0', 'aria-label': `What changes in cluster ${c.cluster}` },
      d.map((x) => h(`span.diff-line${x.op === '+' ? '.add' : x.op === '-' ? '.del' : x.op === '…' ? '.gap' : ''}`,
        x.op === '…' ? '…\n' : `${x.op} ${x.text}\n`))));
}

// i18-console: the cluster already holds a Service of this name that
// svcfleet does not manage there (c.liveOwner, from the gateway: "none"
// or "other"; "svcfleet" is svcfleet's own). Writing ours would not
// replace it: it is left alone and reported, unless adoption is asked for.
export function ownerWarning(c, name, adopt) {
  if (!c.live || !c.liveOwner || c.liveOwner === 'svcfleet') return null;
  const whose = c.liveOwner === 'other' ? 'is managed by another svcfleet installation' : 'was made outside svcfleet';
  return h('p.alert.alert-warn.owner-warning', { role: 'status', dataset: { owner: c.liveOwner } },
    h('strong', `Cluster ${c.cluster} already has a Service named ${name}`), ` that ${whose}. `,
    adopt ? 'svcfleet will take it over (adoption is allowed).'
      : 'svcfleet will not overwrite it: it stores yours and reports the clash as an error until that Service is removed or adoption is allowed.');
}
