// env.mjs: what the console's browser test runs against — a kubefake
// cluster (with a namespace, a Deployment and MetalLB pools) and svcfleetd
// with its embedded reconciler and HTTP endpoint, each on free ports in a
// private temporary directory; plus the svcfleet CLI and plain HTTP calls.
import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function bin(build, rel) {
  const p = path.join(build, rel);
  if (!fs.existsSync(p)) throw new Error(`${p} is missing: build first`);
  return p;
}

// Waits until fn() returns a truthy value (polled), or throws what.
export async function until(what, fn, ms = 20000) {
  const end = Date.now() + ms;
  let last;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}${last ? `: ${last.message}` : ''}`);
    await sleep(100);
  }
}

export class Env {
  constructor(build) {
    this.build = build;
    this.dir = fs.mkdtempSync(path.join(process.env.TMPDIR || os.tmpdir(), 'svcfleet-web-'));
    this.procs = [];
  }

  spawn(cmd, args, logName, env) {
    const log = fs.openSync(path.join(this.dir, logName), 'a');
    const p = spawn(cmd, args, { stdio: ['ignore', 'pipe', log], env: { ...process.env, ...env } });
    p.stdoutText = '';
    p.logName = logName;
    p.stdout.on('data', (d) => { p.stdoutText += d; fs.appendFileSync(path.join(this.dir, logName), d); });
    this.procs.push(p);
    return p;
  }

  // startKubefake(name): a kubefake cluster; "east" (the first) is the
  // one kube() talks to, another is reached with kube(..., name).
  async startKubefake(name = 'east') {
    const first = name === 'east';
    const state = path.join(this.dir, first ? 'kubefake' : `kubefake-${name}`);
    const kubeconfig = path.join(this.dir, `${name}.kubeconfig`);
    this.kubeToken = 'kubefake-web-test-token-0123456789abcdef';
    const kf = this.spawn(bin(this.build, 'tests/kubefake/kubefake'), [
      '--listen', '127.0.0.1:0', '--state-dir', state, '--token', this.kubeToken,
      '--write-kubeconfig', kubeconfig,
      '--metallb-pool', first ? 'default=192.168.50.0/29' : 'default=192.168.70.0/29', '--metallb-pool', 'spare=192.168.60.0/29',
      '--lb-delay-ms', '200', '--log-level', 'warn',
    ], first ? 'kubefake.log' : `kubefake-${name}.log`);
    const ready = await until(`kubefake ${name} to be ready`, () => /ready (https:\/\/\S+)/.exec(kf.stdoutText));
    this.kubes = this.kubes || {};
    this.kubes[name] = { url: ready[1], ca: fs.readFileSync(path.join(state, 'ca.crt')), kubeconfig };
    if (first) {
      this.kubeconfig = kubeconfig;
      this.kubeUrl = ready[1];
      this.kubeCA = this.kubes[name].ca;
    }
    return this.kubes[name];
  }

  // A request to kubefake as its admin (contentType: the body's type,
  // JSON unless said otherwise, e.g. a merge patch).
  kube(method, p, body, contentType = 'application/json', name = 'east') {
    const k = this.kubes[name];
    const u = new URL(p, k.url);
    return new Promise((resolve, reject) => {
      const req = https.request(u, {
        method, ca: k.ca,
        headers: { Authorization: `Bearer ${this.kubeToken}`, 'Content-Type': contentType },
      }, (res) => {
        let text = '';
        res.on('data', (d) => { text += d; });
        res.on('end', () => resolve({ status: res.statusCode, body: text ? JSON.parse(text) : null }));
      });
      req.on('error', reject);
      if (body) req.write(JSON.stringify(body));
      req.end();
    });
  }

  async startServer() {
    this.data = path.join(this.dir, 'data');
    this.rpc = `ipc://${this.data}/svcfleet.sock`;
    this.logFile = path.join(this.dir, 'svcfleetd.log');
    this.spawn(bin(this.build, 'cmd/svcfleetd/svcfleetd'), [
      '--data-dir', this.data, '--listen', this.rpc, '--http', '127.0.0.1:0', '--log-level', 'info',
    ], 'svcfleetd.log', { SVCFLEET_RECONCILER_BACKOFF_MAX: '2s' });
    const m = await until('svcfleetd to serve HTTP', () => {
      const log = fs.existsSync(this.logFile) ? fs.readFileSync(this.logFile, 'utf8') : '';
      return /svcfleetd serving (https?:\/\/[0-9.:]+)/.exec(log);
    });
    this.http = m[1];
    this.adminToken = await until('the admin token', () => {
      const f = path.join(this.data, 'admin.token');
      return fs.existsSync(f) && fs.readFileSync(f, 'utf8').trim();
    });
  }

  cli(...args) {
    return execFileSync(bin(this.build, 'client/cli/svcfleet'),
      ['--server', this.rpc, '--token', this.adminToken, ...args], { encoding: 'utf8' });
  }

  // A gateway call with the admin token: {status, body}.
  async api(method, p, body) {
    return this.apiAs(this.adminToken, method, p, body);
  }

  // A gateway call with another user's token: {status, body}.
  async apiAs(token, method, p, body) {
    const res = await fetch(`${this.http}/apis/svcfleet.io/v1${p}`, {
      method,
      headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
      body: body ? JSON.stringify(body) : undefined,
    });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : null };
  }

  // stop ends every process (SIGTERM, then SIGKILL after 10 s) and
  // returns {log name: exit code}; 0 is a clean shutdown (and, in a
  // sanitizer build, no leak).
  async stop() {
    const codes = {};
    for (const p of this.procs.reverse()) {
      if (p.exitCode === null && p.signalCode === null) {
        const exited = new Promise((r) => p.on('exit', r));
        p.kill('SIGTERM');
        await Promise.race([exited, sleep(10000)]);
        if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
      }
      codes[p.logName] = p.exitCode;
    }
    this.procs = [];
    return codes;
  }

  cleanup() {
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}
