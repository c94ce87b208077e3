// app.js: the svcfleet web console — session, navigation and routing.
// Pages live in their own modules; each renders into <main> and returns a
// function that stops what it started (watches, timers) when the user
// navigates away.
import * as api from './api.js';
import { h, clear, refreshTimes } from './ui.js';
import { go, href, session } from './nav.js';
import { loginPage } from './login.js';
import { clustersPage } from './clusters.js';
import { servicesPage } from './services.js';
import { formPage } from './form.js';
import { yamlPage } from './yaml.js';
import { detailPage } from './detail.js';
import { fleetListPage, fleetDetailPage, fleetConvertPage } from './fleet.js';

// The Create Service form in its Multicloud mode (issue 18).
function fleetFormPage(main, params, query, alive) {
  return formPage(main, { ...params, fleet: true }, query, alive);
}

const routes = [
  [/^\/login$/, loginPage],
  [/^\/clusters$/, clustersPage],
  [/^\/clusters\/([^/]+)\/services$/, servicesPage, ['cluster']],
  [/^\/clusters\/([^/]+)\/services\/new$/, formPage, ['cluster']],
  [/^\/clusters\/([^/]+)\/services\/new-yaml$/, yamlPage, ['cluster']],
  [/^\/clusters\/([^/]+)\/namespaces\/([^/]+)\/services\/([^/]+)$/, detailPage, ['cluster', 'namespace', 'name']],
  [/^\/clusters\/([^/]+)\/namespaces\/([^/]+)\/services\/([^/]+)\/edit$/, formPage, ['cluster', 'namespace', 'name']],
  [/^\/clusters\/([^/]+)\/namespaces\/([^/]+)\/services\/([^/]+)\/yaml$/, yamlPage, ['cluster', 'namespace', 'name']],
  [/^\/fleetservices$/, fleetListPage],
  [/^\/fleetservices\/new$/, fleetFormPage],
  [/^\/namespaces\/([^/]+)\/fleetservices\/([^/]+)$/, fleetDetailPage, ['namespace', 'name']],
  // i18-console: modify a Multicloud Service; convert a Service into one.
  [/^\/namespaces\/([^/]+)\/fleetservices\/([^/]+)\/edit$/, fleetFormPage, ['namespace', 'name']],
  [/^\/clusters\/([^/]+)\/namespaces\/([^/]+)\/services\/([^/]+)\/convert$/, fleetConvertPage, ['cluster', 'namespace', 'name']],
];

// What the current page started and must stop when the user leaves it.
let cleanup = null;
// The page on screen: its path, and whether it has been left.
let view = null;

function parseHash() {
  const raw = location.hash.replace(/^#/, '') || '/clusters';
  const i = raw.indexOf('?');
  const path = i >= 0 ? raw.slice(0, i) : raw;
  const query = Object.fromEntries(new URLSearchParams(i >= 0 ? raw.slice(i + 1) : ''));
  return { path, query };
}

function renderNav(params) {
  const nav = clear(document.getElementById('nav'));
  const list = h('ul');
  list.append(h('li', h('a', { href: '#/clusters' }, 'Clusters')));
  // Beside a cluster's Services: one Service on many clusters.
  list.append(h('li', h('a', { href: '#/fleetservices' }, 'Multicloud Services')));
  if (params.cluster) {
    list.append(h('li.nav-cluster', h('span.nav-label', `Cluster ${params.cluster}`),
      h('ul', h('li', h('span.nav-label', 'Container Network'),
        h('ul', h('li', h('a', { href: href(`/clusters/${params.cluster}/services`) }, 'Services')))))));
  }
  nav.append(list);
  // The cluster's pages are all under its Services; the clusters page is
  // the list alone.
  const current = params.cluster ? href(`/clusters/${params.cluster}/services`)
    : /fleetservices/.test(location.hash) ? '#/fleetservices' : '#/clusters';
  for (const a of nav.querySelectorAll('a')) {
    if (a.getAttribute('href') === current) a.setAttribute('aria-current', 'page');
  }
}

function renderUser() {
  const box = clear(document.getElementById('user'));
  if (!api.token()) return;
  box.append(
    h('span.user-name', { title: session.groups.length ? `groups: ${session.groups.join(', ')}` : '' },
      session.user ? `Signed in as ${session.user}` : ''),
    h('button.btn.btn-small', { type: 'button', onclick: logout }, 'Log out'));
}

function logout() {
  api.setToken('');
  clear(document.getElementById('toasts'));
  session.user = '';
  go('/login');
}

// A page is left the moment the location names another path: a click on
// a link changes the location at once, but the hashchange that renders
// the next page is a task that comes later, and in between the old page
// may still see input, answers and watch events. alive() is false from
// that moment on, so a page being left never rewrites the location, draws
// over the next page or navigates on its own (it is also false once the
// page's cleanup ran).
function viewFor(path) {
  const v = { path, left: false };
  return { v, alive: () => !v.left && parseHash().path === v.path };
}

async function route() {
  if (view) view.left = true;
  if (cleanup) {
    try { cleanup(); } catch (e) { /* nothing to keep */ }
    cleanup = null;
  }
  const { path, query } = parseHash();
  const { v, alive } = viewFor(path);
  view = v;
  const main = clear(document.getElementById('main'));
  if (!api.token() && path !== '/login') {
    go('/login', { next: path });
    return;
  }
  if (api.token() && !session.user && path !== '/login') {
    try {
      const me = await api.get('/whoami');
      session.user = me.status.userInfo.username;
      session.groups = me.status.userInfo.groups || [];
    } catch (e) {
      if (e.status !== 401) {
        // The server is not answering as it should: say so, offer a retry.
        main.append(h('h1', { tabindex: '-1' }, 'svcfleet is not answering'),
          h('div.alert.alert-error', { role: 'alert' }, e.message),
          h('button.btn.btn-primary', { type: 'button', onclick: () => route() }, 'Try again'));
      }
      return; // a 401 went to the login page
    }
    if (!alive()) return; // another route() took over while we waited
  }
  for (const [re, page, names] of routes) {
    const m = re.exec(path);
    if (!m) continue;
    const params = {};
    (names || []).forEach((n, i) => { params[n] = decodeURIComponent(m[i + 1]); });
    renderNav(params);
    renderUser();
    cleanup = page(main, params, query, alive) || null;
    return;
  }
  renderNav({});
  main.append(h('h1', { tabindex: '-1' }, 'Not found'), h('p', h('a', { href: '#/clusters' }, 'Go to the clusters')));
}

api.setUnauthorizedHandler(() => {
  api.setToken('');
  session.user = '';
  go('/login', { expired: '1', next: parseHash().path });
});

window.addEventListener('hashchange', route);
setInterval(() => refreshTimes(), 10000);
route();
