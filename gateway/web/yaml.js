// yaml.js: create or modify a Service from YAML. The text goes to the
// server as it is (application/yaml); its answer names the fields that
// are wrong and the lines they are on, which the editor marks.
import * as api from './api.js';
import { h, clear, toast, errorBox } from './ui.js';
import { go, href } from './nav.js';
import { svcPath, conflictText } from './actions.js';

const TEMPLATE = (ns) => `apiVersion: v1
kind: Service
metadata:
  name: my-service
  namespace: ${ns || 'default'}
spec:
  type: ClusterIP
  selector:
    app: my-app
  ports:
  - name: http
    protocol: TCP
    port: 80
    targetPort: 8080
`;

// The namespace the YAML names (metadata.namespace), for the URL.
function namespaceOf(text) {
  const m = /^metadata:\s*\n(?:[ \t]+.*\n)*?[ \t]+namespace:[ \t]*["']?([^\s"'#]+)/m.exec(text);
  return m ? m[1] : '';
}

export function yamlPage(main, params, query, alive) {
  const { cluster } = params;
  const editing = Boolean(params.name);
  document.title = `${editing ? 'Edit YAML' : 'Create via YAML'} — ${cluster} — svcfleet`;

  const gutter = h('div.gutter', { 'aria-hidden': 'true' });
  const area = h('textarea#yaml-text', {
    spellcheck: 'false', autocapitalize: 'off', autocomplete: 'off', wrap: 'off', rows: '24',
    'aria-describedby': 'yaml-help',
  });
  const problems = h('div#yaml-errors', { 'aria-live': 'polite' });
  const submitBtn = h('button.btn.btn-primary#yaml-submit', { type: 'submit' }, editing ? 'Save' : 'Create');
  const form = h('form.yaml-form', { novalidate: true },
    h('label', { for: 'yaml-text' }, 'Service manifest (YAML or JSON)'),
    h('div.editor', gutter, area),
    h('p.help#yaml-help', 'A Kubernetes v1 Service. The server checks it; problems are marked at their line. '
      + 'Tab indents; press Esc, then Tab, to move on from the editor. '
      + (editing ? 'metadata.resourceVersion makes the save fail if someone changed the Service meanwhile.' : '')),
    problems,
    h('div.actions', submitBtn,
      h('a.btn', { href: href(`/clusters/${cluster}/services`, { ns: editing ? params.namespace : query.ns }) }, 'Cancel')));
  main.append(
    h('div.page-head', h('div',
      h('h1', { tabindex: '-1' }, editing ? `Edit YAML of ${params.name}` : 'Create Service from YAML'),
      h('p.muted', `Cluster ${cluster}`)),
    editing ? null : h('div.page-actions', h('a.btn', { href: href(`/clusters/${cluster}/services/new`, { ns: query.ns }) }, 'Use the form'))),
    form);

  let marked = new Map(); // line -> messages

  function renderGutter() {
    const n = area.value.split('\n').length;
    clear(gutter);
    for (let i = 1; i <= n; i++) {
      const msgs = marked.get(i);
      gutter.append(h(`div${msgs ? '.bad' : ''}`, { title: msgs ? msgs.join('\n') : null }, String(i)));
    }
    gutter.scrollTop = area.scrollTop;
  }
  area.addEventListener('input', renderGutter);
  area.addEventListener('scroll', () => { gutter.scrollTop = area.scrollTop; });
  area.addEventListener('keydown', (e) => {
    // Tab indents (two spaces) unless Shift or Escape-then-Tab; Escape
    // lets Tab leave the editor (keyboard users are not trapped).
    if (e.key === 'Escape') { area.dataset.escaped = '1'; return; }
    if (e.key === 'Tab' && !e.shiftKey && !area.dataset.escaped) {
      e.preventDefault();
      const { selectionStart: s, selectionEnd: t } = area;
      area.setRangeText('  ', s, t, 'end');
      renderGutter();
    }
    if (e.key !== 'Tab') delete area.dataset.escaped;
  });

  function goToLine(line) {
    const lines = area.value.split('\n');
    let pos = 0;
    for (let i = 0; i < line - 1 && i < lines.length; i++) pos += lines[i].length + 1;
    area.focus();
    area.setSelectionRange(pos, pos + (lines[line - 1] || '').length);
    const lh = area.scrollHeight / Math.max(lines.length, 1);
    area.scrollTop = Math.max(0, (line - 5) * lh);
  }

  function showProblems(err) {
    marked = new Map();
    clear(problems);
    const items = [];
    const causes = err.causes.length ? err.causes : [{ message: err.message }];
    for (const c of causes) {
      let line = c.line || 0;
      if (!line) {
        const m = /line (\d+)/.exec(c.message || '');
        if (m) line = Number(m[1]);
      }
      if (line) marked.set(line, [...(marked.get(line) || []), c.message]);
      items.push({ line, text: c.field ? `${c.field}: ${c.message}` : c.message });
    }
    problems.append(h('div.alert.alert-error', { role: 'alert' },
      // A YAML syntax error (400) and a validation error (422) are both
      // the text being wrong: introduced the same way.
      h('p#yaml-intro', err.status === 422 || err.status === 400 ? 'The server did not accept the Service:' : `${err.status === 409 ? 'Conflict' : 'Error'} (HTTP ${err.status}):`),
      h('ul.problems', items.map((it) => h('li',
        it.line ? h('button.linklike', { type: 'button', onclick: () => goToLine(it.line) }, `Line ${it.line}`) : null,
        it.line ? ': ' : '', err.status === 409 && editing ? conflictText(err, 'the save') : it.text)))));
    renderGutter();
  }

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const text = area.value;
    const ns = editing ? params.namespace : (namespaceOf(text) || query.ns || 'default');
    submitBtn.disabled = true;
    try {
      const out = editing
        ? await api.call('PUT', svcPath(cluster, ns, params.name), { body: text })
        : await api.call('POST', svcPath(cluster, ns), { body: text });
      toast(`${editing ? 'Saved' : 'Created'} Service ${out.metadata.name}`);
      if (alive()) go(`/clusters/${cluster}/services`, { ns: query.ns });
    } catch (err) {
      if (!alive()) return;
      showProblems(err);
      const first = problems.querySelector('button.linklike');
      if (first) first.focus();
    } finally {
      submitBtn.disabled = false;
    }
  });

  (async () => {
    if (editing) {
      try {
        area.value = await api.call('GET', svcPath(cluster, params.namespace, params.name), { accept: 'yaml', raw: true });
      } catch (e) {
        if (alive()) clear(problems).append(errorBox(e));
      }
    } else {
      area.value = TEMPLATE(query.ns);
    }
    renderGutter();
    main.querySelector('h1').focus();
  })();
}
