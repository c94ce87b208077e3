// api.js: the console's client of svcfleetd's JSON gateway
// (/apis/svcfleet.io/v1). Every call carries the session's bearer token;
// the server decides everything (authentication, permissions, validation)
// and answers errors as Kubernetes Status objects, which ApiError keeps.

export const API = '/apis/svcfleet.io/v1';

const TOKEN_KEY = 'svcfleet.token';

export function token() {
  return sessionStorage.getItem(TOKEN_KEY) || '';
}

export function setToken(t) {
  if (t) {
    sessionStorage.setItem(TOKEN_KEY, t);
  } else {
    sessionStorage.removeItem(TOKEN_KEY);
  }
}

// An answer other than 2xx: status is the HTTP code, body the Status
// object (or text), causes its details.causes.
export class ApiError extends Error {
  constructor(status, body) {
    const msg = body && typeof body === 'object' && body.message
      ? body.message : (typeof body === 'string' && body ? body : `HTTP ${status}`);
    super(msg);
    this.status = status;
    this.body = body;
    this.reason = body && body.reason ? body.reason : '';
    this.causes = (body && body.details && body.details.causes) || [];
  }
}

// Called when the server rejects the token (401): the app goes back to the
// login page.
let onUnauthorized = () => {};
export function setUnauthorizedHandler(fn) {
  onUnauthorized = fn;
}

function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params || {})) {
    if (v !== undefined && v !== null && v !== '') {
      q.set(k, String(v));
    }
  }
  const s = q.toString();
  return s ? `?${s}` : '';
}

// call(method, path, opts): opts.body (object: JSON; string: YAML),
// opts.query, opts.accept ('yaml' for YAML text), opts.signal,
// opts.raw (return the text). Resolves to the parsed answer.
export async function call(method, path, opts = {}) {
  const headers = { Authorization: `Bearer ${opts.token !== undefined ? opts.token : token()}` };
  let body;
  if (opts.body !== undefined) {
    if (typeof opts.body === 'string') {
      headers['Content-Type'] = 'application/yaml';
      body = opts.body;
    } else {
      headers['Content-Type'] = 'application/json';
      body = JSON.stringify(opts.body);
    }
  }
  if (opts.accept === 'yaml') {
    headers.Accept = 'application/yaml';
  }
  const res = await fetch(API + path + query(opts.query), {
    method, headers, body, signal: opts.signal, cache: 'no-store',
  });
  const text = await res.text();
  let data = text;
  if ((res.headers.get('Content-Type') || '').startsWith('application/json') && !opts.raw) {
    try {
      data = JSON.parse(text);
    } catch (e) {
      data = text;
    }
  }
  if (!res.ok) {
    if (typeof data === 'string' && data.startsWith('{')) {
      try { data = JSON.parse(data); } catch (e) { /* keep the text */ }
    }
    const err = new ApiError(res.status, data);
    if (res.status === 401 && opts.token === undefined) {
      onUnauthorized(err);
    }
    throw err;
  }
  return data;
}

export const get = (path, opts) => call('GET', path, opts);

// watch(path, rv, signal) long-polls a Services list: resolves to
// {events, rv} — the changes after rv (possibly none) and where to go on.
// An expired rv comes back as an event of type ERROR.
export async function watch(path, rv, signal, query = {}) {
  const text = await call('GET', path, {
    query: { ...query, watch: 1, resourceVersion: rv, timeoutSeconds: 30 },
    signal,
    raw: true,
  });
  const events = [];
  let next = rv;
  for (const line of String(text).split('\n')) {
    if (!line.trim()) continue;
    const ev = JSON.parse(line);
    if (ev.type === 'BOOKMARK') {
      next = ev.object.metadata.resourceVersion;
    } else {
      events.push(ev);
    }
  }
  return { events, rv: next };
}

// The caller's rules at (cluster, namespace) and for each of namespaces:
// {can(resource, verb, ns?)}; ns undefined = the namespace asked first.
export async function rules(cluster, namespace, namespaces) {
  const r = await call('POST', '/selfsubjectrulesreviews', {
    body: { spec: { cluster, namespace: namespace || '', namespaces: namespaces || [] } },
  });
  const has = (list, resource, verb) => (list || []).some(
    (rule) => rule.resources.includes(resource) && rule.verbs.includes(verb));
  return {
    can(resource, verb, ns) {
      if (ns === undefined || ns === (namespace || '')) {
        return has(r.status.resourceRules, resource, verb);
      }
      const per = r.status.namespaces && r.status.namespaces[ns];
      return per ? has(per.resourceRules, resource, verb) : false;
    },
    anyNamespace(resource, verb) {
      return Object.values(r.status.namespaces || {}).some(
        (per) => has(per.resourceRules, resource, verb));
    },
  };
}
