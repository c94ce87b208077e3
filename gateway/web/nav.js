// nav.js: moving between the console's pages (hash routes) and what the
// session knows about the signed-in user.

export const session = { user: '', groups: [] };

function queryString(query) {
  if (!query) return '';
  const q = new URLSearchParams(Object.entries(query).filter(([, v]) => v !== undefined && v !== null && v !== '')).toString();
  return q ? `?${q}` : '';
}

export function href(path, query) {
  return `#${path}${queryString(query)}`;
}

// go(path, query): navigate; the same address again renders it again.
export function go(path, query) {
  const target = href(path, query);
  if (location.hash === target) {
    window.dispatchEvent(new HashChangeEvent('hashchange'));
  } else {
    location.hash = target;
  }
}
