// console_test.mjs: svcfleetd's web console in a real browser — headless
// Debian chromium driven by playwright-core — against svcfleetd (with its
// reconciler) and a kubefake cluster, all started here.
//
// Walks what a platform user does: log in; create a NodePort Service
// through the form from a workload's labels with session persistence and
// see it become synced; create a LoadBalancer with a MetalLB pool and see
// its address; submit an invalid name and see the error beside the field;
// modify a port (and meet a resourceVersion conflict); create from YAML
// with an error marked at its line; look at the detail view; delete; log
// in as ns-view and find no Create. Issue 20: the Annotations row, a
// workload not chosen, a YAML syntax error introduced like a validation
// error, an unreachable cluster saying why Create is gone and "Last
// success" never, an ns-edit user told "No Services you can see". Issue
// 19: the History tab (diff, roll back with confirmation, the cluster
// follows) and the Drift section naming the writer. Issue 18: a
// Multicloud Service through its form (Deploy to by label, an error
// beside its field, each cluster's preview, Deploy), its list with 2/2
// synced and its detail with each cluster's status; then (i18-console)
// Modify it: a port changed, its override moved to a cluster label, a
// conflict with a change made meanwhile explained with both versions, the
// preview, Apply; and Convert a Service of one cluster into a Multicloud
// Service after its preview. i19-diff: the Service form's Preview shows
// what the cluster's own API server answers to a dry run of the change —
// the port it would change, then its admission webhook's refusal — before
// OK, writing nothing; the Multicloud Service preview shows each cluster's
// answer. A screenshot of each page goes to $SVCFLEET_WEB_OUT.
//
//   SVCFLEET_BUILD=build SVCFLEET_WEB_OUT=/tmp/shots node console_test.mjs
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { Env, until, sleep } from './env.mjs';

const BUILD = path.resolve(process.env.SVCFLEET_BUILD || 'build');
const OUT = process.env.SVCFLEET_WEB_OUT || fs.mkdtempSync(path.join(os.tmpdir(), 'svcfleet-shots-'));
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
fs.mkdirSync(OUT, { recursive: true });

let failures = 0;
let step = 0;
const t0 = Date.now();
function ok(cond, what) {
  if (cond) {
    console.log(`ok   ${what}`);
  } else {
    failures++;
    console.log(`FAIL ${what}`);
  }
}

async function shot(page, name) {
  step++;
  const file = path.join(OUT, `${String(step).padStart(2, '0')}-${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  console.log(`     screenshot ${file}`);
}

// Every input, select and textarea on the page has a label (or an
// accessible name given another way).
async function unlabelled(page) {
  return page.evaluate(() => [...document.querySelectorAll('input, select, textarea')]
    .filter((el) => el.type !== 'hidden' && el.offsetParent !== null)
    .filter((el) => el.labels.length === 0 && !el.getAttribute('aria-label') && !el.getAttribute('aria-labelledby'))
    .map((el) => el.id || el.name || el.outerHTML.slice(0, 60)));
}

async function checkLabels(page, where) {
  const missing = await unlabelled(page);
  ok(missing.length === 0, `every input has a label on ${where}${missing.length ? ` (missing: ${missing.join(', ')})` : ''}`);
}

function row(page, name) {
  return page.locator(`#services tbody tr[data-name="${name}"]`);
}

// Every fetch the page makes, counted once the page has handled its
// answer: the URL is recorded in a task after the one that read the body,
// so whatever the page's code does with the answer (without more network)
// has run by then. The test waits on these instead of fixed sleeps.
const FETCH_MARKS = `(() => {
  const orig = window.fetch;
  window.__sfHandled = [];
  window.fetch = async (...args) => {
    const url = String(args[0] && args[0].url ? args[0].url : args[0]);
    const mark = () => setTimeout(() => window.__sfHandled.push(url), 0);
    let res;
    try {
      res = await orig(...args);
    } catch (e) {
      mark();
      throw e;
    }
    const text = res.text.bind(res);
    res.text = async () => {
      try {
        return await text();
      } finally {
        mark();
      }
    };
    return res;
  };
})();`;

// How many answers to URLs matching re the page has handled.
async function handled(page, re) {
  return page.evaluate((src) => window.__sfHandled.filter((u) => new RegExp(src).test(u)).length, re.source);
}

// Waits until the page has handled more than n answers to URLs matching re.
async function handledMore(page, re, n, ms = 15000) {
  await page.waitForFunction(([src, k]) => window.__sfHandled.filter((u) => new RegExp(src).test(u)).length > k,
    [re.source, n], { timeout: ms });
}

// Clicks Create Service on the Services list and waits for the form: the
// list has a Namespace filter of its own, which getByLabel('Namespace')
// would find until the form has replaced the list.
async function openCreateForm(page) {
  await page.locator('#create-service').click();
  await page.locator('#f-name').waitFor();
}

// Waits until the Services list knows what the user may do (its actions
// say data-rules="known" once the rules review has answered).
async function rulesKnown(page) {
  await page.locator('.page-actions[data-rules="known"]').waitFor({ state: 'attached' });
}

// Opens a row's menu once the page knows what the user may do: the menu
// offers only what the rules allow.
async function openRowMenu(page, name) {
  await rulesKnown(page);
  await row(page, name).getByRole('button', { name: `Actions for ${name}` }).click();
}

async function main() {
  const env = new Env(BUILD);
  let context;
  const pageErrors = [];
  try {
    // ------------------------------------------------------------ setup
    await env.startKubefake();
    await env.startServer();
    for (const ns of ['dev', 'prod']) {
      const r = await env.kube('POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
      ok(r.status === 201, `kubefake namespace ${ns}`);
    }
    const dep = await env.kube('POST', '/apis/apps/v1/namespaces/dev/deployments', {
      apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web', namespace: 'dev' },
      spec: {
        selector: { matchLabels: { app: 'web', tier: 'front' } },
        template: { metadata: { labels: { app: 'web', tier: 'front' } }, spec: { containers: [{ name: 'web', image: 'nginx' }] } },
      },
    });
    ok(dep.status === 201, 'kubefake deployment dev/web');
    env.cli('cluster', 'add', 'east', '--kubeconfig', env.kubeconfig, '--label', 'env=prod');
    // A second cluster for the Multicloud Service, chosen by its label.
    const west = await env.startKubefake('west');
    ok((await env.kube('POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'dev' } },
      'application/json', 'west')).status === 201, 'kubefake west namespace dev');
    env.cli('cluster', 'add', 'west', '--kubeconfig', west.kubeconfig, '--label', 'env=prod');
    for (const c of ['east', 'west']) env.cli('rbac', 'grant', '--user', 'carol', 'ns-edit', '--cluster', c, '-n', 'dev');
    const viewerToken = env.cli('token', 'create', 'viewer').trim();
    env.cli('rbac', 'grant', '--user', 'viewer', 'ns-view', '--cluster', 'east', '-n', 'dev');
    const editorToken = env.cli('token', 'create', 'editor').trim();
    env.cli('rbac', 'grant', '--user', 'editor', 'ns-edit', '--cluster', 'east', '-n', 'prod');
    // carol: another writer, in dev of both clusters (i18-console).
    const carolToken = env.cli('token', 'create', 'carol').trim();
    // A cluster nothing answers for (port 1 refuses at once).
    const gone = await env.api('POST', '/clusters', {
      metadata: { name: 'gone' }, spec: { apiServer: 'https://127.0.0.1:1', token: 'unused-token-0123456789', insecureSkipVerify: true },
    });
    ok(gone.status === 201, `cluster gone registered (${gone.status})`);
    console.log(`     svcfleetd ${env.http}, kubefake ${env.kubeUrl}, files in ${env.dir}`);

    const userData = fs.mkdtempSync(path.join(os.tmpdir(), 'svcfleet-chromium-'));
    context = await chromium.launchPersistentContext(userData, {
      executablePath: CHROMIUM,
      headless: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
        '--disable-background-networking', '--disable-component-update', '--disable-sync'],
      viewport: { width: 1360, height: 860 },
    });
    context.setDefaultTimeout(15000);
    await context.addInitScript(FETCH_MARKS);
    const page = context.pages()[0] || await context.newPage();
    page.on('pageerror', (e) => pageErrors.push(e.message));
    page.on('console', (m) => {
      if (m.type() === 'error' && !/Failed to load resource/.test(m.text())) pageErrors.push(m.text());
    });

    // ------------------------------------------------------------ login
    await page.goto(`${env.http}/`);
    await page.getByLabel('Access token').waitFor();
    await checkLabels(page, 'the login page');
    await page.getByLabel('Access token').fill('not-a-token');
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.locator('#login-token-err').waitFor();
    ok(/does not accept/.test(await page.locator('#login-token-err').innerText()), 'a wrong token is refused beside the field');
    await shot(page, 'login-refused');
    await page.getByLabel('Access token').fill(env.adminToken);
    await page.keyboard.press('Enter');

    // --------------------------------------------------------- clusters
    await page.locator('tr[data-cluster="east"] .badge[data-state="READY"]').waitFor({ timeout: 20000 });
    ok(/Signed in as admin/.test(await page.locator('#user').innerText()), 'signed in as admin');
    // The pools come with a later health report than READY may (the
    // reconciler reads them after the cluster answers); the page reloads
    // every 5 s.
    ok(await page.locator('tr[data-cluster="east"]', { hasText: 'default' })
      .waitFor({ timeout: 20000 }).then(() => true, () => false), 'cluster row shows its MetalLB pools');
    await page.locator('tr[data-cluster="gone"] .badge[data-state="UNREACHABLE"]').waitFor({ timeout: 20000 });
    ok(await page.locator('tr[data-cluster="gone"] td.last-success').innerText() === 'never',
      'an unreachable cluster never had a success: "Last success" says never');
    ok(await page.locator('tr[data-cluster="east"] td.last-success time.rel').count() === 1, 'east has a last success time');
    await shot(page, 'clusters');

    // ------------------------- unreachable: why Create is not offered
    // (and its Services never read Synced: a cluster never reached gives
    // Error "unreachable"; one lost after contact, Unknown)
    ok((await env.api('POST', '/clusters/gone/namespaces/dev/services', {
      metadata: { name: 'web-gone' }, spec: { selector: { app: 'web' }, ports: [{ port: 80 }] },
    })).status === 201, 'a Service stored for the unreachable cluster');
    await page.getByRole('link', { name: 'gone', exact: true }).click();
    await page.locator('#create-unavailable').waitFor();
    await page.locator('#services tr[data-name="web-gone"]:is([data-state="UNKNOWN"], [data-state="ERROR"])').waitFor({ timeout: 20000 });
    const goneRow = await row(page, 'web-gone').innerText();
    ok(/Unknown[\s\S]*last confirmed never/.test(goneRow) || /Error[\s\S]*unreachable/.test(goneRow),
      `its Service never reads Synced: Unknown or Error saying unreachable (${goneRow.replace(/\s+/g, ' ')})`);
    ok(/not answering/.test(await page.locator('#create-unavailable').innerText()) && await page.locator('#create-service').count() === 0,
      'with the cluster unreachable the page says why Create is gone');
    await shot(page, 'unreachable-no-create');
    // The form reached by its address says the same.
    await page.evaluate(() => { location.hash = '#/clusters/gone/services/new'; });
    await page.locator('#live-error').waitFor();
    ok(/not answering/.test(await page.locator('#live-error').innerText()), 'the form says the cluster is not answering');
    await page.getByRole('link', { name: 'Clusters', exact: true }).click();
    await page.locator('tr[data-cluster="east"]').waitFor();

    // ---------------------------------------------------- services list
    await page.getByRole('link', { name: 'east', exact: true }).click();
    await page.locator('#create-service').waitFor();
    await checkLabels(page, 'the Services list');
    await shot(page, 'services-empty');

    // ------------------------------------- NodePort through the form
    // The form first reads the workloads of "default"; that answer is held
    // back until after "dev" is chosen and answered, as a slow cluster
    // would: it must not replace dev's workloads in the picker.
    await page.route('**/namespaces/default/workloads', async (route) => {
      await new Promise((r) => setTimeout(r, 1500));
      await route.continue();
    });
    const defaultWorkloads = /\/namespaces\/default\/workloads/;
    const lateBefore = await handled(page, defaultWorkloads);
    await page.locator('#create-service').click();
    await page.getByRole('tab', { name: 'ClusterIP' }).waitFor();
    ok(await page.getByRole('tab', { name: 'ClusterIP' }).getAttribute('aria-selected') === 'true', 'ClusterIP is the default tab');
    ok(await page.locator('#p0-node').count() === 0, 'no node port for ClusterIP');
    // Keyboard: arrows move between the access-type tabs.
    await page.getByRole('tab', { name: 'ClusterIP' }).focus();
    await page.keyboard.press('ArrowRight');
    ok(await page.getByRole('tab', { name: 'NodePort' }).getAttribute('aria-selected') === 'true', 'ArrowRight selects NodePort');
    ok(await page.evaluate(() => document.activeElement.id) === 'tab-NodePort', 'focus follows the tab');
    ok(await page.locator('#p0-node').count() === 1, 'node port shown for NodePort');
    await page.getByLabel('Namespace').selectOption('dev');
    await page.getByLabel('Service name').fill('web-np');
    // Tab moves on from the name to the namespace picker.
    await page.getByLabel('Service name').focus();
    await page.keyboard.press('Tab');
    ok(await page.evaluate(() => document.activeElement.id) === 'f-namespace', 'Tab goes from name to namespace');
    await page.getByLabel('Reference workload label').check();
    await page.getByLabel('Workload', { exact: true }).selectOption('deployment/web');
    await page.locator('.chips .chip', { hasText: 'tier=front' }).waitFor();
    // The late answer for "default" has arrived and been handled.
    await handledMore(page, defaultWorkloads, lateBefore);
    ok(await page.locator('.chips .chip', { hasText: 'tier=front' }).count() === 1
      && !(await page.getByLabel('Workload', { exact: true }).textContent()).includes('not found now'),
      'a late answer for another namespace leaves the workloads alone');
    await page.unroute('**/namespaces/default/workloads');
    await page.getByLabel('Port 1 service port').fill('80');
    await page.getByLabel('Port 1 container port').fill('8080');
    // Port rows come and go.
    await page.getByRole('button', { name: 'Add port' }).click();
    ok(await page.evaluate(() => document.activeElement.id) === 'p1-name', 'Add port adds a row and focuses it');
    await page.getByLabel('Port 2 service port').fill('443');
    await page.getByRole('button', { name: 'Remove port 2' }).click();
    ok(await page.locator('#p1-port').count() === 0 && await page.getByLabel('Port 1 service port').inputValue() === '80',
      'Remove port takes its row away and keeps the others');
    await page.getByLabel('Enable session persistence (by client IP)').check();
    ok(await page.getByLabel('Maximum session hold time (seconds)').inputValue() === '30', 'session hold time defaults to 30 s');
    ok(await page.getByLabel('Cluster (default): any node forwards to any pod').isChecked(), 'external traffic policy defaults to Cluster');
    await checkLabels(page, 'the Create Service form');
    await shot(page, 'create-nodeport');
    // i19-diff: before OK, the cluster's own dry run of the new Service.
    await page.getByRole('button', { name: 'Preview' }).click();
    await page.locator('#svc-preview .preview-cluster[data-cluster="east"][data-result="Changed"]').waitFor();
    ok(/new in the cluster/.test(await page.locator('#svc-preview .preview-cluster[data-cluster="east"]').innerText())
      && (await page.locator('#svc-preview .diff-line.add').allInnerTexts()).some((t) => /nodePort: 3\d{4}$/.test(t.trim())),
    'Preview shows the new Service as east\'s API server would make it (the node port it picks)');
    ok((await env.kube('GET', '/api/v1/namespaces/dev/services/web-np')).status === 404, 'a preview writes nothing');
    await page.getByRole('button', { name: 'OK' }).click();
    await row(page, 'web-np').waitFor();
    await page.locator('#services tr[data-name="web-np"][data-state="SYNCED"]').waitFor({ timeout: 20000 });
    const npRow = await row(page, 'web-np').innerText();
    ok(/NodePort/.test(npRow) && /<node IP>:3\d{4}/.test(npRow), 'NodePort row shows the node port the cluster assigned');
    ok(/10\.\d+\.\d+\.\d+:80/.test(npRow), 'NodePort row shows clusterIP:port');
    const npSvc = await env.kube('GET', '/api/v1/namespaces/dev/services/web-np');
    ok(npSvc.status === 200 && npSvc.body.spec.selector.tier === 'front' && npSvc.body.spec.sessionAffinity === 'ClientIP'
      && npSvc.body.spec.sessionAffinityConfig.clientIP.timeoutSeconds === 30, 'in the cluster: workload selector and ClientIP 30 s');
    await shot(page, 'nodeport-synced');

    // ------------------------------------------- LoadBalancer + MetalLB
    await openCreateForm(page);
    await page.getByRole('tab', { name: 'LoadBalancer' }).click();
    await page.getByLabel('Namespace').selectOption('dev');
    await page.getByLabel('Service name').fill('web-lb');
    await page.getByLabel('Selector label 1 key').fill('app');
    await page.getByLabel('Selector label 1 value').fill('web');
    await page.getByLabel('Port 1 name').fill('https');
    await page.getByLabel('Port 1 service port').fill('443');
    await page.getByLabel('Port 1 container port').fill('8443');
    ok(await page.getByLabel('MetalLB', { exact: true }).isChecked(), 'MetalLB is the default load balancer');
    await page.getByLabel('Other load balancer').check();
    ok(await page.locator('#f-pool').count() === 0 && await page.getByLabel('Load balancer class (optional)').isVisible(),
      'another load balancer asks for its class, not a MetalLB pool');
    await page.getByLabel('MetalLB', { exact: true }).check();
    await page.getByLabel('MetalLB IP pool').selectOption('default');
    await checkLabels(page, 'the LoadBalancer form');
    await shot(page, 'create-loadbalancer');
    await page.getByRole('button', { name: 'OK' }).click();
    await page.locator('#services tr[data-name="web-lb"][data-state="SYNCED"]').waitFor({ timeout: 20000 });
    const lbRow = await row(page, 'web-lb').innerText();
    ok(/192\.168\.50\.\d+:443/.test(lbRow), `LoadBalancer row shows its MetalLB address (${lbRow.replace(/\s+/g, ' ')})`);
    await shot(page, 'loadbalancer-address');

    // ------------------------------ leaving the list while it is busy
    // Create Service is clicked and, before the form is drawn, the list's
    // own Namespace filter is changed (a user touching it in the same
    // moment), while watch events keep arriving (web-lb's annotations
    // change over and over): the user must land on the form and stay
    // there; the list, being left, must neither pull the location back
    // nor draw over the form.
    let ticking = true;
    let ticks = 0; // changes made so far
    const ticker = (async () => {
      try {
        for (let i = 0; ticking; i++) {
          const cur = await env.api('GET', '/clusters/east/namespaces/dev/services/web-lb');
          cur.body.metadata.annotations = { ...(cur.body.metadata.annotations || {}), 'test.svcfleet.io/tick': String(i) };
          if ((await env.api('PUT', '/clusters/east/namespaces/dev/services/web-lb', cur.body)).status === 200) ticks++;
          await sleep(50); // pacing the writes, not waiting for anything
        }
      } catch (e) {
        ticking = false; // the servers are gone: the test has failed already
      }
    })();
    await page.locator('#f-ns-filter option[value="dev"]').waitFor({ state: 'attached' });
    await page.evaluate(() => {
      document.querySelector('#create-service').click();
      const filter = document.querySelector('#f-ns-filter');
      filter.value = 'dev';
      filter.dispatchEvent(new Event('change', { bubbles: true }));
    });
    await page.locator('#f-name').waitFor();
    // Watch events for the list keep coming: wait for ten more changes
    // stored (each one an event) with the form up.
    const ticksAtForm = ticks;
    await until('ten more changes of web-lb while the form is up', () => ticks >= ticksAtForm + 10);
    ok(await page.locator('#f-name').count() === 1 && await page.locator('#services').count() === 0,
      'Create Service lands on the form although the list was touched as it was left');
    ok(/\/services\/new/.test(await page.evaluate(() => location.hash)), 'the location stays the form\'s');
    ticking = false;
    await ticker;
    await page.getByRole('link', { name: 'Cancel' }).click();
    await row(page, 'web-lb').waitFor();

    // --------------------------------------- invalid name beside the field
    await openCreateForm(page);
    await page.getByLabel('Namespace').selectOption('dev');
    await page.getByLabel('Service name').fill('Bad_Name');
    await page.getByLabel('Selector label 1 key').fill('app');
    await page.getByLabel('Selector label 1 value').fill('web');
    await page.getByLabel('Port 1 service port').fill('0');
    await page.getByRole('button', { name: 'OK' }).click();
    await page.locator('#f-name-err').waitFor();
    ok(/DNS-1035/.test(await page.locator('#f-name-err').innerText()), 'the name error is shown');
    ok(await page.locator('.field:has(#f-name) #f-name-err').count() === 1, 'the name error sits beside the name field');
    ok(await page.getByLabel('Service name').getAttribute('aria-invalid') === 'true', 'the name field is marked invalid');
    ok(/between 1 and 65535/.test(await page.locator('#p0-port-err').innerText()), 'the port error sits in its port row');
    ok(await page.evaluate(() => document.activeElement.id) === 'f-name', 'focus moves to the first field in error');
    await shot(page, 'invalid-name');
    // A workload to reference, not chosen: say so, not "Required value".
    await page.getByLabel('Reference workload label').check();
    await page.getByRole('button', { name: 'OK' }).click();
    await page.locator('#f-workload-err').waitFor();
    ok(/Choose a workload/.test(await page.locator('#f-workload-err').innerText()), 'no workload chosen: "Choose a workload"');
    ok(await page.evaluate(() => document.activeElement.id) === 'f-workload', 'focus on the workload picker');
    await page.getByRole('link', { name: 'Cancel' }).click();

    // ------------------------------------------------- modify a port
    await row(page, 'web-np').waitFor();
    // The workloads answer late, while the port is being typed in: the
    // redraw it causes must leave the keystrokes where they were going.
    await page.route('**/namespaces/dev/workloads', async (route) => {
      await new Promise((r) => setTimeout(r, 1500));
      await route.continue();
    });
    const devWorkloads = /\/namespaces\/dev\/workloads/;
    const devBefore = await handled(page, devWorkloads);
    await openRowMenu(page, 'web-np');
    await page.getByRole('menuitem', { name: 'Modify' }).click();
    await page.getByLabel('Port 1 service port').waitFor();
    ok(await page.getByLabel('Service name').inputValue() === 'web-np', 'Modify fills in the form');
    ok(await page.getByRole('tab', { name: 'NodePort' }).getAttribute('aria-selected') === 'true', 'Modify opens on the Service\'s tab');
    await page.getByLabel('Port 1 service port').click();
    await page.keyboard.press('Control+A');
    await handledMore(page, devWorkloads, devBefore); // the workloads' answer redraws the form
    await page.keyboard.type('81');
    ok(await page.getByLabel('Port 1 service port').inputValue() === '81', 'typing goes on in the field after a redraw');
    await page.unroute('**/namespaces/dev/workloads');
    await shot(page, 'modify-port');
    await page.getByRole('button', { name: 'OK' }).click();
    await until('the list to show port 81 synced', async () => {
      const t = await row(page, 'web-np').innerText();
      return /81→8080\/TCP/.test(t) && (await row(page, 'web-np').getAttribute('data-state')) === 'SYNCED';
    });
    const np81 = await env.kube('GET', '/api/v1/namespaces/dev/services/web-np');
    ok(np81.body.spec.ports[0].port === 81, 'the cluster has port 81');
    await shot(page, 'modified');

    // ------------- the cluster's own answer before OK (i19-diff)
    // Preview asks east's API server for a dry run of the change: what
    // would change there, then — its admission webhook refusing — the
    // webhook's words. Nothing is written either way.
    await openRowMenu(page, 'web-np');
    await page.getByRole('menuitem', { name: 'Modify' }).click();
    await page.locator('.chips .chip', { hasText: 'tier=front' }).waitFor(); // the workloads are read
    await page.getByLabel('Port 1 service port').fill('83');
    await page.getByRole('button', { name: 'Preview' }).click();
    await page.locator('#svc-preview .preview-cluster[data-cluster="east"][data-result="Changed"]').waitFor();
    const adds = (await page.locator('#svc-preview .diff-line.add').allInnerTexts()).map((t) => t.trim());
    const dels = (await page.locator('#svc-preview .diff-line.del').allInnerTexts()).map((t) => t.trim());
    ok(adds.some((t) => /^\+\s+(- )?port: 83$/.test(t)) && dels.some((t) => /^-\s+(- )?port: 81$/.test(t)),
      `the preview shows the port change as east's API server answers it (${adds.join(' | ')})`);
    await checkLabels(page, 'the Modify form with its preview');
    await shot(page, 'service-preview');
    const deny = await env.kube('POST', '/_kubefake/faults', {
      admission_deny: 'ports below 1024 need an approval', admission_status: 403,
      admission_webhook: 'policy.example.com', admission_dry_run_only: true,
    });
    ok(deny.status === 200, 'east\'s admission webhook now refuses dry runs');
    await page.getByLabel('Port 1 service port').fill('84');
    ok(await page.locator('#svc-preview').count() === 0, 'changing the form drops the preview');
    await page.getByRole('button', { name: 'Preview' }).click();
    await page.locator('#svc-preview .preview-cluster[data-cluster="east"][data-result="Refused"]').waitFor();
    const refusedText = await page.locator('#svc-preview .preview-cluster[data-cluster="east"]').innerText();
    ok(/HTTP 403/.test(refusedText)
      && /admission webhook "policy\.example\.com" denied the request: ports below 1024 need an approval/.test(refusedText),
    'the preview shows east\'s admission error in the webhook\'s words');
    await shot(page, 'service-preview-refused');
    ok((await env.kube('GET', '/api/v1/namespaces/dev/services/web-np')).body.spec.ports[0].port === 81
      && (await env.api('GET', '/clusters/east/namespaces/dev/services/web-np')).body.spec.ports[0].port === 81,
    'nothing is written by a preview, in the cluster or in svcfleet');
    ok((await env.kube('DELETE', '/_kubefake/faults')).status === 200, 'east\'s admission webhook is off again');
    await page.getByRole('link', { name: 'Cancel' }).click();

    // ------- a name the cluster already has, not svcfleet's (i18-console)
    // The create form's Preview warns that a Service of that name exists
    // in the cluster unmanaged (made there directly) or managed by another
    // svcfleet installation, that OK would not overwrite it; and a name
    // svcfleet itself stores is said to exist already. Nothing is written.
    const taken = await env.kube('POST', '/api/v1/namespaces/dev/services', {
      apiVersion: 'v1', kind: 'Service', metadata: { name: 'web-taken', namespace: 'dev' },
      spec: { selector: { app: 'taken' }, ports: [{ port: 80 }] },
    });
    const foreign = await env.kube('POST', '/api/v1/namespaces/dev/services', {
      apiVersion: 'v1', kind: 'Service',
      metadata: { name: 'web-foreign', namespace: 'dev', annotations: { 'svcfleet.io/owner': 'another-installation', 'svcfleet.io/cluster': 'east' } },
      spec: { selector: { app: 'foreign' }, ports: [{ port: 80 }] },
    });
    ok(taken.status === 201 && foreign.status === 201, 'east has web-taken (nobody\'s) and web-foreign (another svcfleet\'s)');
    await row(page, 'web-np').waitFor();
    await openCreateForm(page);
    await page.getByLabel('Namespace').selectOption('dev');
    await page.getByLabel('Service name').fill('web-taken');
    await page.getByLabel('Selector label 1 key').fill('app');
    await page.getByLabel('Selector label 1 value').fill('web');
    await page.getByLabel('Port 1 service port').fill('80');
    await page.getByRole('button', { name: 'Preview' }).click();
    await page.locator('#svc-preview .preview-cluster[data-cluster="east"] .owner-warning').waitFor();
    const takenWarn = await page.locator('#svc-preview .owner-warning').innerText();
    ok(/Cluster east already has a Service named web-taken/.test(takenWarn) && /made outside svcfleet/.test(takenWarn)
      && /will not overwrite it/.test(takenWarn), `the preview warns of the cluster's own web-taken (${takenWarn})`);
    ok(await page.locator('#svc-preview .owner-warning').getAttribute('data-owner') === 'none', 'the warning says nobody manages it');
    await shot(page, 'preview-name-taken');
    await page.getByLabel('Service name').fill('web-foreign');
    await page.getByRole('button', { name: 'Preview' }).click();
    await page.locator('#svc-preview .owner-warning[data-owner="other"]').waitFor();
    ok(/managed by another svcfleet installation/.test(await page.locator('#svc-preview .owner-warning').innerText()),
      'the preview warns of web-foreign, another svcfleet\'s');
    await page.getByLabel('Service name').fill('web-np');
    await page.getByRole('button', { name: 'Preview' }).click();
    await page.locator('#svc-preview-exists').waitFor();
    ok(/A Service named web-np exists already/.test(await page.locator('#svc-preview-exists').innerText())
      && await page.locator('#svc-preview .owner-warning').count() === 0,
    'a name svcfleet stores is said to exist already (its cluster copy is svcfleet\'s: no ownership warning)');
    const takenAfter = await env.kube('GET', '/api/v1/namespaces/dev/services/web-taken');
    ok((await env.api('GET', '/clusters/east/namespaces/dev/services/web-taken')).status === 404
      && (await env.api('GET', '/clusters/east/namespaces/dev/services/web-foreign')).status === 404
      && takenAfter.body.metadata.resourceVersion === taken.body.metadata.resourceVersion
      && !(takenAfter.body.metadata.annotations || {})['svcfleet.io/owner'],
    'nothing is written by these previews, in svcfleet or in the cluster');
    await page.getByRole('link', { name: 'Cancel' }).click();
    for (const n of ['web-taken', 'web-foreign']) {
      ok((await env.kube('DELETE', `/api/v1/namespaces/dev/services/${n}`)).status === 200, `${n} removed from east`);
    }

    // ------------------------------------- a resourceVersion conflict
    await openRowMenu(page, 'web-np');
    await page.getByRole('menuitem', { name: 'Modify' }).click();
    await page.getByLabel('Port 1 service port').waitFor();
    const cur = await env.apiAs(carolToken, 'GET', '/clusters/east/namespaces/dev/services/web-np');
    cur.body.spec.ports[0].targetPort = 9090;
    const put = await env.apiAs(carolToken, 'PUT', '/clusters/east/namespaces/dev/services/web-np', cur.body);
    ok(put.status === 200, `carol changes web-np meanwhile (${put.status})`);
    await page.getByLabel('Port 1 service port').fill('82');
    await page.getByRole('button', { name: 'OK' }).click();
    await page.locator('#conflict').waitFor();
    const conflictText = await page.locator('#conflict').innerText();
    ok(/changed after you opened it/.test(conflictText), 'the conflict is explained');
    ok(await page.locator('#conflict-by').innerText() === 'carol'
      && /^\d{4}-/.test(await page.locator('#conflict-writer time.rel').getAttribute('datetime') || ''),
    'the conflict names the other writer (carol) and when');
    await shot(page, 'conflict');
    await page.getByRole('button', { name: /Load the latest version/ }).click();
    await until('the latest version in the form', async () => (await page.getByLabel('Port 1 container port').inputValue()) === '9090');
    ok(true, 'loading the latest version shows their change');
    await page.getByRole('link', { name: 'Cancel' }).click();

    // --------------------------------------------- YAML with an error
    await row(page, 'web-np').waitFor();
    await page.locator('#create-yaml').click();
    await page.locator('#yaml-text').waitFor();
    await checkLabels(page, 'the YAML page');
    const bad = ['apiVersion: v1', 'kind: Service', 'metadata:', '  name: web-yaml', '  namespace: dev',
      '  labels:', '    team: blue', 'spec:', '  selector:', '    app: web', '  ports:', '  - port: 70000', ''].join('\n');
    await page.locator('#yaml-text').fill('apiVersion: v1\nkind: Service\nmetadata: [name: x\n');
    await page.getByRole('button', { name: 'Create' }).click();
    await page.locator('#yaml-errors .problems').waitFor();
    const syntaxIntro = await page.locator('#yaml-intro').innerText();
    await page.locator('#yaml-text').fill(bad);
    await page.getByRole('button', { name: 'Create' }).click();
    await until('the validation error', async () => /spec\.ports/.test(await page.locator('#yaml-errors').innerText()));
    ok(syntaxIntro === await page.locator('#yaml-intro').innerText(),
      `a YAML syntax error and a validation error are introduced the same way (${syntaxIntro})`);
    await page.locator('#yaml-errors .problems').waitFor();
    const problems = await page.locator('#yaml-errors').innerText();
    ok(/Line 12/.test(problems) && /spec\.ports\[0\]\.port/.test(problems), 'the YAML error names its field and line');
    ok(await page.locator('.gutter div.bad', { hasText: /^12$/ }).count() === 1, 'line 12 is marked in the editor');
    await shot(page, 'yaml-error');
    await page.locator('#yaml-text').fill(bad.replace('70000', '7000'));
    await page.getByRole('button', { name: 'Create' }).click();
    await row(page, 'web-yaml').waitFor();
    ok(true, 'the corrected YAML creates web-yaml');

    // ------------------------------------------------------- filters
    await page.getByLabel('Label selector').fill('team=blue');
    await page.getByRole('button', { name: 'Filter' }).click();
    await until('only web-yaml to be listed', async () => (await page.locator('#services tbody tr').count()) === 1
      && (await row(page, 'web-yaml').count()) === 1);
    ok(/l=team(%3D|=)blue/.test(page.url()), 'the label filter is kept in the address');
    await shot(page, 'filtered-by-label');
    await page.getByLabel('Label selector').fill('');
    await page.getByRole('button', { name: 'Filter' }).click();
    await page.getByLabel('Namespace').selectOption('prod');
    await page.locator('p.empty', { hasText: 'No Services in namespace prod' }).waitFor();
    ok(true, 'the namespace filter shows what prod has (nothing)');
    await page.getByLabel('Namespace').selectOption('');
    await row(page, 'web-np').waitFor();

    // ------------------------------- the cluster's own words on an error
    const ghost = await env.api('POST', '/clusters/east/namespaces/ghost/services', {
      metadata: { name: 'web-ghost' }, spec: { selector: { app: 'web' }, ports: [{ port: 80 }] },
    });
    ok(ghost.status === 201, 'a Service in a namespace the cluster does not have is stored');
    await page.locator('#services tr[data-name="web-ghost"][data-state="ERROR"]').waitFor({ timeout: 20000 });
    const ghostMsg = await row(page, 'web-ghost').locator('.sync .sub').innerText();
    ok(/ghost/.test(ghostMsg) && /not found/i.test(ghostMsg), `its row shows Error with the cluster's message (${ghostMsg})`);
    await shot(page, 'sync-error');
    ok((await env.api('DELETE', '/clusters/east/namespaces/ghost/services/web-ghost')).status === 200, 'web-ghost deleted');

    // --------------------------------------------------- detail view
    const withAnn = await env.api('GET', '/clusters/east/namespaces/dev/services/web-np');
    withAnn.body.metadata.annotations = { ...(withAnn.body.metadata.annotations || {}), 'team.example.com/owner': 'blue' };
    ok((await env.api('PUT', '/clusters/east/namespaces/dev/services/web-np', withAnn.body)).status === 200, 'web-np gets an annotation');
    await row(page, 'web-np').getByRole('link', { name: 'web-np' }).click();
    await page.locator('#cluster-status').waitFor();
    await page.locator('#audit').waitFor();
    const trail = await page.locator('#audit').innerText();
    ok(/CreateService/.test(trail) && /UpdateService/.test(trail) && /ABORTED/.test(trail), 'the audit trail has the create, the updates and the refused update');
    ok(/SYNCED|Synced/.test(await page.locator('#cluster-status').innerText()), 'per-cluster status shows the sync state');
    const timeTitle = await page.locator('#cluster-status time.rel').first().getAttribute('title');
    ok(/\d{4}-\d\d-\d\dT/.test(timeTitle || ''), 'relative times carry the exact time on hover');
    await until('the Annotations row', async () => /team\.example\.com\/owner = blue/.test(await page.locator('#annotations').innerText()));
    ok(true, 'the detail page has an Annotations row');
    await shot(page, 'detail');

    // ------------------------------------------ history and roll back
    await page.getByRole('tab', { name: 'History' }).click();
    await page.locator('#history tbody tr').nth(2).waitFor();
    const gens = await page.locator('#history tbody tr').evaluateAll((rs) => rs.map((r) => Number(r.dataset.generation)));
    const oldest = gens[gens.length - 1];
    ok(gens.length >= 3 && gens[0] > oldest, `History lists the generations newest first (${gens.join(', ')})`);
    const histRows = await page.locator('#history tbody tr').allInnerTexts();
    ok(histRows.some((t) => /carol/.test(t)) && histRows.every((t) => /admin|carol/.test(t)), 'each generation names who made it (admin, carol)');
    await checkLabels(page, 'the History tab');
    await page.getByLabel('Compare generation').selectOption(String(oldest));
    await until('the diff from the first generation', async () => {
      const del = await page.locator('#history-diff .del').allInnerTexts();
      const add = await page.locator('#history-diff .add').allInnerTexts();
      return del.some((t) => /port: 80$/.test(t.trim())) && add.some((t) => /port: 81$/.test(t.trim()));
    });
    ok(true, 'the diff between two generations shows the port that changed');
    await shot(page, 'history-diff');
    await page.getByRole('button', { name: `Roll back to generation ${oldest}` }).click();
    await page.getByRole('dialog').waitFor();
    ok(/port: 80/.test(await page.getByRole('dialog').innerText()), 'the confirmation shows what the rollback changes');
    await shot(page, 'rollback-confirm');
    await page.getByRole('dialog').getByRole('button', { name: 'Roll back' }).click();
    await until('a rollback generation', async () => /rollback to/.test(await page.locator('#history tbody tr').first().innerText()));
    await until('the cluster to follow the rollback', async () => {
      const k = await env.kube('GET', '/api/v1/namespaces/dev/services/web-np');
      return k.body.spec.ports[0].port === 80 && k.body.spec.ports[0].targetPort === 8080;
    });
    ok(true, 'Roll back makes a new generation and the cluster follows');
    await shot(page, 'rolled-back');

    // ----------------------------------------------------------- drift
    // Someone labels the Service in the cluster behind svcfleet's back.
    const drifted = await env.kube('PATCH', '/api/v1/namespaces/dev/services/web-np?fieldManager=kubectl-label',
      { metadata: { labels: { 'app.kubernetes.io/managed-by': 'someone-else' } } }, 'application/merge-patch+json');
    ok(drifted.status === 200, `web-np changed in the cluster (${drifted.status})`);
    await page.getByRole('tab', { name: 'Overview' }).click();
    await page.locator('#drift tbody tr').first().waitFor({ timeout: 20000 });
    const driftText = await page.locator('#drift').innerText();
    ok(/kubectl-label/.test(driftText) && /managed-by/.test(driftText) && /someone-else/.test(driftText),
      'the Drift section names the writer, the field and the value it wrote');
    await shot(page, 'drift');
    await page.getByRole('link', { name: 'Cluster east' }).click();

    // i19-ssd: under drift policy Report the change stays in the cluster
    // and the list says so with a state of its own.
    env.cli('create', 'service', 'web-keep', '--cluster', 'east', '-n', 'dev', '--selector', 'app=keep',
      '--port', '80', '--annotation', 'svcfleet.io/drift-policy=Report');
    await page.locator('#services tr[data-name="web-keep"][data-state="SYNCED"]').waitFor({ timeout: 20000 });
    const kept = await env.kube('PATCH', '/api/v1/namespaces/dev/services/web-keep?fieldManager=kubectl-patch',
      { spec: { selector: { app: 'other' } } }, 'application/merge-patch+json');
    ok(kept.status === 200, `web-keep changed in the cluster (${kept.status})`);
    await page.locator('#services tr[data-name="web-keep"][data-state="DRIFTED"]').waitFor({ timeout: 20000 });
    ok(/Drifted \(kept\)/.test(await row(page, 'web-keep').innerText()), 'a kept drift reads "Drifted (kept)"');
    const keptNow = await env.kube('GET', '/api/v1/namespaces/dev/services/web-keep');
    ok(keptNow.body.spec.selector.app === 'other', 'the change stays in the cluster');
    await shot(page, 'drifted');

    // -------------------------------------------------------- delete
    await row(page, 'web-lb').waitFor();
    await openRowMenu(page, 'web-lb');
    await page.getByRole('menuitem', { name: 'Delete' }).click();
    await page.getByRole('dialog').waitFor();
    await shot(page, 'delete-confirm');
    await page.getByRole('dialog').getByRole('button', { name: 'Delete' }).click();
    await until('web-lb to leave the list', async () => (await row(page, 'web-lb').count()) === 0, 20000);
    await until('web-lb to leave the cluster', async () => (await env.kube('GET', '/api/v1/namespaces/dev/services/web-lb')).status === 404);
    ok(true, 'deleted from the list and from the cluster');
    await shot(page, 'deleted');

    // ------------------------------------------- Multicloud Services
    await page.getByRole('link', { name: 'Multicloud Services' }).click();
    await page.locator('#create-fleet').waitFor();
    await page.locator('p.empty', { hasText: 'No Multicloud Services' }).waitFor();
    await page.locator('#create-fleet').click();
    await page.getByLabel('Clusters by label').waitFor();
    await page.getByLabel('Clusters by label').check();
    await page.getByLabel('Cluster labels').fill('env=prod');
    await until('the clusters env=prod matches', async () => /east, west/.test(await page.locator('#deploy-matches').innerText()));
    ok(true, 'Deploy to by label shows which clusters match now');
    await until('the namespaces of the first cluster', async () => (await page.locator('#f-namespace option[value="dev"]').count()) === 1);
    await page.getByLabel('Namespace').selectOption('dev');
    await page.getByLabel('Service name').fill('web-fleet');
    await page.getByLabel('Selector label 1 key').fill('app');
    await page.getByLabel('Selector label 1 value').fill('web');
    await page.getByLabel('Port 1 service port').fill('70000');
    await page.getByLabel('Port 1 container port').fill('8080');
    await checkLabels(page, 'the Multicloud Service form');
    await page.getByRole('button', { name: 'Preview' }).click();
    await page.locator('#p0-port-err').waitFor();
    ok(/between 1 and 65535/.test(await page.locator('#p0-port-err').innerText()), 'a Multicloud Service\'s error sits beside its field');
    await page.getByLabel('Port 1 service port').fill('80');
    // An override for west only.
    await page.getByRole('button', { name: 'Add override' }).click();
    await page.getByLabel('Override 1 cluster').selectOption('west');
    await page.getByLabel('Override 1 annotations (key=value, comma-separated)').fill('team=west');
    await checkLabels(page, 'the Multicloud Service form with an override');
    await page.getByRole('button', { name: 'Preview' }).click();
    await page.locator('#fleet-preview .preview-cluster[data-cluster="west"]').waitFor();
    const prev = await page.locator('#fleet-preview').innerText();
    ok(/Cluster east/.test(prev) && /Cluster west/.test(prev) && /80→8080\/TCP/.test(prev), 'the preview shows what each cluster gets');
    ok(await page.locator('#fleet-preview .preview-cluster[data-result="Changed"]').count() === 2
      && /API server accepts it \(HTTP 201\)/.test(await page.locator('#fleet-preview .preview-cluster[data-cluster="west"] .server-answer').innerText()),
    'the preview shows each cluster\'s own answer to a dry run (i19-diff)');
    ok(/team = west/.test(await page.locator('#fleet-preview .preview-cluster[data-cluster="west"]').innerText())
      && !/team = west/.test(await page.locator('#fleet-preview .preview-cluster[data-cluster="east"]').innerText()),
    'the override shows in west\'s preview only');
    ok((await env.kube('GET', '/api/v1/namespaces/dev/services/web-fleet', undefined, 'application/json', 'west')).status === 404,
      'nothing is written before Deploy');
    await shot(page, 'fleet-preview');
    await page.getByRole('button', { name: 'Deploy to 2 clusters' }).click();
    await page.locator('#fleet tr[data-name="web-fleet"][data-synced="2/2"]').waitFor({ timeout: 20000 });
    ok(/2\/2 synced/.test(await page.locator('#fleet tr[data-name="web-fleet"]').innerText()), 'the list says 2/2 synced');
    await shot(page, 'fleet-list');
    await page.getByRole('link', { name: 'web-fleet' }).click();
    await page.locator('#fleet-clusters tr[data-cluster="west"][data-state="SYNCED"]').waitFor({ timeout: 20000 });
    ok(await page.locator('#fleet-clusters tr[data-cluster="east"][data-state="SYNCED"]').count() === 1, 'the detail shows each cluster\'s status');
    ok((await env.kube('GET', '/api/v1/namespaces/dev/services/web-fleet', undefined, 'application/json', 'west')).status === 200,
      'west has the Service');
    const westSvc = await env.kube('GET', '/api/v1/namespaces/dev/services/web-fleet', undefined, 'application/json', 'west');
    const eastSvc = await env.kube('GET', '/api/v1/namespaces/dev/services/web-fleet');
    ok((westSvc.body.metadata.annotations || {}).team === 'west' && !(eastSvc.body.metadata.annotations || {}).team,
      'the override reached west only');
    await shot(page, 'fleet-detail');

    // ------------------------- Modify a Multicloud Service (i18-console)
    // west gets a label of its own, for an override chosen by label.
    env.cli('cluster', 'label', 'west', 'region=eu');
    await page.locator('#modify-fleet').click();
    await page.locator('#f-deploy-labels').waitFor();
    ok(await page.locator('#f-name').inputValue() === 'web-fleet' && await page.locator('#f-name').getAttribute('readonly') !== null,
      'Modify opens the form filled in, the name fixed');
    ok(await page.locator('#f-deploy-labels').inputValue() === 'env=prod', 'Deploy to is filled in from the placement');
    ok(await page.locator('#ov-0-cluster').inputValue() === 'west', 'the override is filled in (cluster west)');
    ok(await page.locator('#ov-0-annotations').inputValue() === 'team=west', 'the override\'s annotations are filled in');
    await page.getByLabel('Port 1 service port').fill('81');
    // The override now chooses its clusters by label.
    await page.getByLabel('Override 1 by cluster labels').check();
    // Labels no placed cluster has: refused, the reason beside the overrides.
    await page.locator('#ov-0-labels').fill('region=nowhere');
    await until('no cluster to match', async () => /No cluster matches now/.test(await page.locator('#ov-0-matches').innerText()));
    await page.getByRole('button', { name: 'Preview' }).click();
    await page.locator('#sec-overrides-err').waitFor();
    ok(/selects no placed cluster/.test(await page.locator('#sec-overrides-err').innerText()),
      'an override whose labels select no placed cluster is refused beside the overrides');
    await page.locator('#ov-0-labels').fill('region=eu');
    await until('the override label to match west', async () => /Matches now: west$/.test(await page.locator('#ov-0-matches').innerText()));
    ok(true, 'an override by cluster label shows which clusters it matches');
    await checkLabels(page, 'the Modify Multicloud Service form');
    // Someone changes the Multicloud Service while the form is open.
    const theirs = await env.api('GET', '/namespaces/dev/fleetservices/web-fleet');
    const startedFrom = theirs.body.metadata.resourceVersion;
    const tmd = theirs.body.spec.template.metadata || {};
    theirs.body.spec.template.metadata = { ...tmd, annotations: { ...(tmd.annotations || {}), 'changed-by': 'someone-else' } };
    delete theirs.body.status;
    const theirPut = await env.api('PUT', '/namespaces/dev/fleetservices/web-fleet', theirs.body);
    ok(theirPut.status === 200, `the Multicloud Service changed behind the form (${theirPut.status})`);
    await page.getByRole('button', { name: 'Preview' }).click();
    await page.locator('#conflict').waitFor();
    ok(await page.locator('#conflict-mine').innerText() === startedFrom
      && await page.locator('#conflict-theirs').innerText() === theirPut.body.metadata.resourceVersion,
    'the conflict names the version started from and the one stored now');
    ok(/409 Conflict/.test(await page.locator('#conflict').innerText()) && /clusters|labels/.test(await page.locator('#conflict-now').innerText()),
      'the conflict says nothing was written and shows what is stored now');
    ok(await page.locator('#ov-0-labels').inputValue() === 'region=eu', 'the edits are kept beside the conflict');
    await shot(page, 'fleet-conflict');
    await page.getByRole('button', { name: 'Save mine over theirs (preview first)' }).click();
    await page.locator('#fleet-preview .preview-cluster[data-cluster="west"]').waitFor();
    const prev2 = await page.locator('#fleet-preview').innerText();
    ok(/81→8080\/TCP/.test(prev2) && /update/.test(prev2), 'the preview of the change shows the new port, an update in each cluster');
    ok((await page.locator('#fleet-preview .preview-cluster[data-cluster="west"] .diff-line.add').allInnerTexts())
      .some((t) => /^\+\s+(- )?port: 81$/.test(t.trim())), 'west\'s API server answer shows its port change');
    ok(/team = west/.test(await page.locator('#fleet-preview .preview-cluster[data-cluster="west"]').innerText())
      && !/team = west/.test(await page.locator('#fleet-preview .preview-cluster[data-cluster="east"]').innerText()),
    'the override chosen by label shows in west\'s preview only');
    ok((await env.kube('GET', '/api/v1/namespaces/dev/services/web-fleet', undefined, 'application/json', 'west')).body.spec.ports[0].port === 80,
      'nothing is changed before Apply');
    await shot(page, 'fleet-modify-preview');
    await page.getByRole('button', { name: 'Apply to 2 clusters' }).click();
    await page.locator('#fleet-placement').waitFor();
    await until('west to get port 81', async () => {
      const r = await env.kube('GET', '/api/v1/namespaces/dev/services/web-fleet', undefined, 'application/json', 'west');
      return r.status === 200 && r.body.spec.ports[0].port === 81;
    });
    await until('east to get port 81', async () => (await env.kube('GET', '/api/v1/namespaces/dev/services/web-fleet')).body.spec.ports[0].port === 81);
    const stored = (await env.api('GET', '/namespaces/dev/fleetservices/web-fleet')).body;
    const ov = stored.spec.overrides[0];
    ok(ov.clusterSelector && ov.clusterSelector.matchLabels.region === 'eu' && !(ov.clusters || []).length,
      'the override is stored by cluster label');
    ok(!((stored.spec.template.metadata || {}).annotations || {})['changed-by'], 'saving mine over theirs replaced their change');
    const westAfter = await env.kube('GET', '/api/v1/namespaces/dev/services/web-fleet', undefined, 'application/json', 'west');
    ok((westAfter.body.metadata.annotations || {}).team === 'west', 'west still gets its override, now by label');

    // ------------------------------- Convert a Service (i18-console)
    const legacy = await env.api('POST', '/clusters/east/namespaces/dev/services', {
      metadata: { name: 'legacy' }, spec: { type: 'NodePort', selector: { app: 'legacy' }, ports: [{ port: 80, nodePort: 31234 }] },
    });
    ok(legacy.status === 201, `Service legacy created in east (${legacy.status})`);
    await page.getByRole('link', { name: 'Clusters', exact: true }).click();
    // The Multicloud Service's page links to east too: act once it is gone.
    await page.getByRole('heading', { name: 'Clusters', exact: true, level: 1 }).waitFor();
    await page.getByRole('link', { name: 'east', exact: true }).click();
    await row(page, 'legacy').getByRole('link', { name: 'legacy' }).click();
    await page.locator('#convert').click();
    await page.locator('#convert-preview').waitFor();
    const cprev = await page.locator('#convert-preview').innerText();
    ok(/clusters east/.test(cprev) && /node 31234/.test(cprev), 'the convert preview shows the placement and the node port kept');
    ok((await env.api('GET', '/namespaces/dev/fleetservices/legacy')).status === 404, 'nothing is converted before Convert');
    await shot(page, 'convert-preview');
    await page.locator('#convert-ok').click();
    await page.locator('h1', { hasText: 'Multicloud Service legacy' }).waitFor();
    await page.locator('#fleet-clusters tr[data-cluster="east"]').waitFor();
    ok(/clusters east/.test(await page.locator('#fleet-placement').innerText()), 'the converted Multicloud Service is deployed to east');
    const owned = (await env.api('GET', '/clusters/east/namespaces/dev/services/legacy')).body;
    ok(owned.status.owner === 'FleetService/legacy' && owned.spec.ports[0].nodePort === 31234,
      'the Service is now its copy, node port kept');
    await page.locator('#fleet-clusters tr[data-cluster="east"] a').click();
    await page.locator('#owner-link').waitFor();
    await page.locator('#modify').waitFor();
    ok(await page.locator('#convert').count() === 0, 'a copy names its Multicloud Service and offers no Convert');
    await shot(page, 'converted-copy');

    // ---- nodePorts Same, placement by matchExpressions (i18-console)
    await page.getByRole('link', { name: 'Multicloud Services' }).click();
    await page.locator('#create-fleet').click();
    await page.getByLabel('Clusters by label').waitFor();
    await page.getByLabel('Clusters by label').check();
    await page.getByRole('button', { name: 'Add label expression' }).click();
    ok(await page.evaluate(() => document.activeElement.id) === 'f-expr-0-key', 'Add label expression adds a row and focuses its key');
    await page.getByLabel('Label expression 1 key').fill('env');
    await page.getByLabel('Label expression 1 operator').selectOption('In');
    await page.getByLabel('Label expression 1 values (comma-separated)').fill('prod, staging');
    await until('env In (prod, staging) to match east and west', async () => /Matches now: east, west$/.test(await page.locator('#deploy-matches').innerText()));
    ok(true, 'a label expression shows which clusters match now');
    await page.getByRole('button', { name: 'Add label expression' }).click();
    await page.getByLabel('Label expression 2 key').fill('tier');
    ok(/In needs at least one value/.test(await page.locator('#f-expr-1-hint').innerText()), 'a hint says In needs a value');
    await until('tier In () to match nothing', async () => /No cluster matches now/.test(await page.locator('#deploy-matches').innerText()));
    await until('the namespaces of the first cluster', async () => (await page.locator('#f-namespace option[value="dev"]').count()) === 1);
    await page.getByRole('tab', { name: 'NodePort' }).click();
    await page.getByLabel('Same: one node port per port, free in every placed cluster').check();
    await page.getByLabel('Namespace').selectOption('dev');
    await page.getByLabel('Service name').fill('web-same');
    await page.getByLabel('Selector label 1 key').fill('app');
    await page.getByLabel('Selector label 1 value').fill('web');
    await page.getByLabel('Port 1 service port').fill('80');
    await page.getByLabel('Port 1 container port').fill('8080');
    await checkLabels(page, 'the Multicloud Service form with label expressions and node ports');
    // The server, not the form, refuses In without values: beside the field.
    await page.getByRole('button', { name: 'Preview' }).click();
    await page.locator('#f-expr-1-values-err').waitFor();
    ok(/must be specified when `operator` is 'In'/.test(await page.locator('#f-expr-1-values-err').innerText())
      && await page.getByLabel('Label expression 2 values (comma-separated)').getAttribute('aria-invalid') === 'true',
    'the server\'s error on an expression\'s values sits beside that field');
    await page.getByLabel('Label expression 2 operator').selectOption('DoesNotExist');
    ok(await page.getByLabel('Label expression 2 values (comma-separated)').isDisabled(), 'DoesNotExist takes no values');
    await until('east and west to match', async () => /Matches now: east, west$/.test(await page.locator('#deploy-matches').innerText()));
    await page.getByRole('button', { name: 'Preview' }).click();
    await page.locator('#fleet-preview .preview-cluster[data-cluster="west"]').waitFor();
    const sameNodes = await page.locator('#fleet-preview .preview-cluster').evaluateAll((els) => els.map((e) => {
      const m = /\(node (\d+)\)/.exec(e.innerText);
      return m ? m[1] : '';
    }));
    ok(sameNodes.length === 2 && sameNodes[0] !== '' && sameNodes[0] === sameNodes[1], `the preview gives both clusters one node port (${sameNodes.join(', ')})`);
    ok((await env.api('GET', '/namespaces/dev/fleetservices/web-same')).status === 404, 'nothing is written before Deploy');
    await shot(page, 'fleet-same-preview');
    await page.getByRole('button', { name: 'Deploy to 2 clusters' }).click();
    await page.locator('#fleet tr[data-name="web-same"][data-synced="2/2"]').waitFor({ timeout: 20000 });
    const same = (await env.api('GET', '/namespaces/dev/fleetservices/web-same')).body;
    ok(same.spec.nodePorts === 'Same', `stored with nodePorts Same (${same.spec.nodePorts})`);
    ok(JSON.stringify(same.spec.placement.clusterSelector.matchExpressions)
      === JSON.stringify([{ key: 'env', operator: 'In', values: ['prod', 'staging'] }, { key: 'tier', operator: 'DoesNotExist' }]),
    `stored with the label expressions (${JSON.stringify(same.spec.placement.clusterSelector)})`);
    const described = env.cli('describe', 'fleetservice', 'web-same', '-n', 'dev');
    ok(/Placement:\s+env In,tier DoesNotExist/.test(described) && /Node ports:\s+Same/.test(described)
      && new RegExp(`Same ports:\\s+${sameNodes[0]}\\b`).test(described),
    `the CLI describes it the same (${described.split('\n').filter((l) => /Placement|ports/.test(l)).join('; ')})`);
    const eastSame = await env.kube('GET', '/api/v1/namespaces/dev/services/web-same');
    const westSame = await env.kube('GET', '/api/v1/namespaces/dev/services/web-same', undefined, 'application/json', 'west');
    ok(eastSame.status === 200 && westSame.status === 200 && eastSame.body.spec.ports[0].nodePort > 0
      && eastSame.body.spec.ports[0].nodePort === westSame.body.spec.ports[0].nodePort
      && String(eastSame.body.spec.ports[0].nodePort) === sameNodes[0],
    `the copies' node ports are equal across clusters (${eastSame.body.spec.ports[0].nodePort}, ${westSame.body.spec.ports[0].nodePort})`);

    // ---- the conflict names the other writer (i18-console, issue 19)
    await page.getByRole('link', { name: 'web-same' }).click();
    await page.locator('#modify-fleet').click();
    await page.locator('#f-expr-1-key').waitFor();
    ok(await page.locator('#f-expr-1-key').inputValue() === 'tier' && await page.locator('#f-expr-1-op').inputValue() === 'DoesNotExist'
      && await page.locator('#f-nodeports-Same').isChecked(), 'Modify fills in the label expressions and node ports Same');
    const carols = await env.apiAs(carolToken, 'GET', '/namespaces/dev/fleetservices/web-same');
    carols.body.spec.template.metadata = { annotations: { 'changed-by': 'carol' } };
    delete carols.body.status;
    const carolPut = await env.apiAs(carolToken, 'PUT', '/namespaces/dev/fleetservices/web-same', carols.body);
    ok(carolPut.status === 200, `carol changes web-same through the gateway (${carolPut.status})`);
    await page.getByLabel('Port 1 service port').fill('82');
    await page.getByRole('button', { name: 'Preview' }).click();
    await page.locator('#conflict').waitFor();
    ok(await page.locator('#conflict-by').innerText() === 'carol', 'the Multicloud Service conflict names carol');
    const when = await page.locator('#conflict-writer time.rel').getAttribute('datetime');
    ok(when === carolPut.body.status.specUpdateTime, `and when she changed it (${when})`);
    await shot(page, 'fleet-conflict-writer');
    await page.getByRole('button', { name: 'Save mine over theirs (preview first)' }).click();
    await page.locator('#fleet-preview .preview-cluster[data-cluster="west"]').waitFor();
    await page.getByRole('button', { name: 'Apply to 2 clusters' }).click();
    await page.locator('#fleet-placement').waitFor();
    const after = (await env.api('GET', '/namespaces/dev/fleetservices/web-same')).body;
    ok(after.spec.template.spec.ports[0].port === 82 && after.status.specUpdatedBy === 'admin',
      'saving over carol\'s change stores mine, by admin');

    // ----------------------------------------------- ns-view sees no Create
    await page.getByRole('button', { name: 'Log out' }).click();
    await page.getByLabel('Access token').fill(viewerToken);
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.getByRole('link', { name: 'east', exact: true }).click();
    await row(page, 'web-np').waitFor();
    await rulesKnown(page);
    ok(await page.locator('#create-service').count() === 0, 'ns-view is not offered Create');
    ok(await page.locator('#create-yaml').count() === 0, 'ns-view is not offered Create via YAML');
    await openRowMenu(page, 'web-np');
    const items = await page.getByRole('menuitem').allInnerTexts();
    ok(items.length === 1 && items[0] === 'View details', `ns-view's row menu only views (${items.join(', ')})`);
    await shot(page, 'viewer');
    await page.keyboard.press('Escape');
    await row(page, 'web-np').getByRole('link', { name: 'web-np' }).click();
    await page.locator('#cluster-status').waitFor();
    ok(await page.locator('#modify, #delete').count() === 0, 'ns-view has no Modify or Delete in the detail view');
    await page.getByRole('tab', { name: 'History' }).click();
    await page.locator('#history tbody tr').first().waitFor();
    ok(await page.getByRole('button', { name: /Roll back to generation/ }).count() === 0, 'ns-view gets no Roll back');

    // -------------------- ns-edit of prod, All namespaces: nothing seen
    await page.getByRole('button', { name: 'Log out' }).click();
    await page.getByLabel('Access token').fill(editorToken);
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.getByRole('link', { name: 'east', exact: true }).click();
    await page.locator('#empty-list', { hasText: 'No Services you can see' }).waitFor();
    ok(/prod/.test(await page.locator('#your-namespaces').innerText()), 'ns-edit is told which namespace she may see');
    await shot(page, 'editor-nothing-seen');

    ok(pageErrors.length === 0, `no script errors in the page${pageErrors.length ? `: ${pageErrors.join(' | ')}` : ''}`);
  } catch (e) {
    failures++;
    console.log(`FAIL ${e.stack || e}`);
    if (pageErrors.length) console.log(`     page errors: ${pageErrors.join(' | ')}`);
    if (context && context.pages()[0]) {
      await shot(context.pages()[0], 'failure').catch(() => {});
    }
    for (const f of ['svcfleetd.log', 'kubefake.log']) {
      const p = path.join(env.dir, f);
      if (fs.existsSync(p)) console.log(`--- ${f} (last lines)\n${fs.readFileSync(p, 'utf8').split('\n').slice(-30).join('\n')}`);
    }
  } finally {
    if (context) await context.close().catch(() => {});
    const codes = await env.stop();
    ok(codes['svcfleetd.log'] === 0, `svcfleetd shut down cleanly (exit ${codes['svcfleetd.log']})`);
    if (codes['svcfleetd.log'] !== 0) {
      console.log(fs.readFileSync(env.logFile, 'utf8').split('\n').slice(-40).join('\n'));
    }
    if (!failures) env.cleanup();
  }
  console.log(`${failures ? 'FAILED' : 'PASSED'} in ${((Date.now() - t0) / 1000).toFixed(1)} s; screenshots in ${OUT}`);
  process.exit(failures ? 1 : 0);
}

main();
