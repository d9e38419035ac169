// api.js - the Jupyter Server REST API as cnote serves it, for the rest of the app.
//
// The page config comes from <script id="cnote-config"> (the server fills it in); every URL is
// built from its baseUrl, so the app works under --base-url and behind a reverse proxy that
// keeps the prefix. Authentication is the login cookie the server set when the page was opened
// with ?token= or through the login page; unsafe requests carry the _xsrf cookie's value in
// X-XSRFToken, as Jupyter Server expects. A 403 sends the browser to the login page.

function readConfig() {
  const el = typeof document !== 'undefined' && document.getElementById('cnote-config');
  let c = {};
  try {
    c = el ? JSON.parse(el.textContent) : {};
  } catch {
    c = {};
  }
  let base = typeof c.baseUrl === 'string' && c.baseUrl ? c.baseUrl : '/';
  if (!base.endsWith('/')) base += '/';
  return {
    baseUrl: base,
    autosaveSeconds: Number.isFinite(c.autosaveSeconds) ? c.autosaveSeconds : 120,
    version: c.version || '',
  };
}

export const config = readConfig();

export class ApiError extends Error {
  constructor(status, message, reason) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.reason = reason || '';
  }
}

export function encodePath(p) {
  return String(p)
    .split('/')
    .filter((s) => s !== '')
    .map(encodeURIComponent)
    .join('/');
}

export function url(path) {
  return config.baseUrl + String(path).replace(/^\/+/, '');
}

export function wsUrl(path) {
  const loc = window.location;
  const proto = loc.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${proto}//${loc.host}${url(path)}`;
}

export function appLink(kind, path) {
  const p = encodePath(path || '');
  if (kind === 'notebooks') return url(`notebooks/${p}`);
  return url(p ? `tree/${p}` : 'tree');
}

function cookie(name) {
  for (const part of (document.cookie || '').split(';')) {
    const i = part.indexOf('=');
    if (i > 0 && part.slice(0, i).trim() === name) return decodeURIComponent(part.slice(i + 1).trim());
  }
  return '';
}

let redirecting = false;

export function goLogin() {
  if (redirecting) return;
  redirecting = true;
  const next = window.location.pathname + window.location.search + window.location.hash;
  window.location.assign(url(`login?next=${encodeURIComponent(next)}`));
}

// fetch a base-relative API path; JSON body in, JSON out (null for 204). Throws ApiError.
export async function request(method, path, body, { raw = false, signal } = {}) {
  const headers = {};
  if (method !== 'GET' && method !== 'HEAD') {
    const x = cookie('_xsrf');
    if (x) headers['X-XSRFToken'] = x;
  }
  let payload;
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    payload = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(url(path), { method, headers, body: payload, credentials: 'same-origin', signal, cache: 'no-store' });
  } catch (e) {
    if (e && e.name === 'AbortError') throw e;
    throw new ApiError(0, `cannot reach the server (${e && e.message ? e.message : e})`, 'network');
  }
  if (raw) return res;
  if (res.status === 204) return null;
  const text = await res.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  if (!res.ok) {
    // only a missing or expired login goes to the login page; other 403s (a file the server
    // may not read, a quota) are errors to show
    if (res.status === 403 && data && /authentication required/i.test(String(data.reason || ''))) goLogin();
    const msg = (data && (data.message || data.reason)) || `${res.status} ${res.statusText}`;
    throw new ApiError(res.status, msg, data && data.reason);
  }
  return data;
}

const P = (p) => encodePath(p);

function b64FromBytes(bytes) {
  let s = '';
  const step = 0x8000;
  for (let i = 0; i < bytes.length; i += step) s += String.fromCharCode.apply(null, bytes.subarray(i, i + step));
  return btoa(s);
}

const CHUNK = 1 << 20;

export const contents = {
  get(path, { content = true, type, hash = false } = {}) {
    const q = [`content=${content ? 1 : 0}`];
    if (type) q.push(`type=${type}`);
    if (hash) q.push('hash=1');
    return request('GET', `api/contents/${P(path)}?${q.join('&')}`);
  },
  list(dir) {
    return this.get(dir || '', { type: 'directory' });
  },
  newUntitled(dir, { type = 'notebook', ext } = {}) {
    const body = { type };
    if (ext) body.ext = ext;
    return request('POST', `api/contents/${P(dir || '')}`, body);
  },
  save(path, model) {
    return request('PUT', `api/contents/${P(path)}`, model);
  },
  rename(oldPath, newPath) {
    return request('PATCH', `api/contents/${P(oldPath)}`, { path: newPath.replace(/^\/+/, '') });
  },
  remove(path) {
    return request('DELETE', `api/contents/${P(path)}`);
  },
  // A browser File: notebooks as JSON models, text as text, anything else base64 in 1 MiB chunks
  // (the contents API's chunk protocol: chunk 1..n, -1 for the last one).
  async upload(dir, file) {
    const path = (dir ? `${dir.replace(/\/+$/, '')}/` : '') + file.name;
    if (/\.ipynb$/i.test(file.name) && file.size < 64 * CHUNK) {
      const content = JSON.parse(await file.text());
      return this.save(path, { type: 'notebook', format: 'json', content });
    }
    const bytes = new Uint8Array(await file.arrayBuffer());
    if (bytes.length <= CHUNK) {
      return this.save(path, { type: 'file', format: 'base64', content: b64FromBytes(bytes) });
    }
    let model = null;
    for (let off = 0, n = 1; off < bytes.length; off += CHUNK, n++) {
      const last = off + CHUNK >= bytes.length;
      model = await this.save(path, {
        type: 'file',
        format: 'base64',
        chunk: last ? -1 : n,
        content: b64FromBytes(bytes.subarray(off, off + CHUNK)),
      });
    }
    return model;
  },
  checkpoints(path) {
    return request('GET', `api/contents/${P(path)}/checkpoints`);
  },
  createCheckpoint(path) {
    return request('POST', `api/contents/${P(path)}/checkpoints`);
  },
  restoreCheckpoint(path, id) {
    return request('POST', `api/contents/${P(path)}/checkpoints/${encodeURIComponent(id)}`);
  },
  downloadUrl(path) {
    return url(`files/${P(path)}?download=1`);
  },
};

export const sessions = {
  list() {
    return request('GET', 'api/sessions');
  },
  create({ path, name, type = 'notebook', kernelName }) {
    return request('POST', 'api/sessions', { path, name: name || path, type, kernel: { name: kernelName } });
  },
  patch(id, body) {
    return request('PATCH', `api/sessions/${encodeURIComponent(id)}`, body);
  },
  remove(id) {
    return request('DELETE', `api/sessions/${encodeURIComponent(id)}`);
  },
};

export const kernels = {
  list() {
    return request('GET', 'api/kernels');
  },
  get(id) {
    return request('GET', `api/kernels/${encodeURIComponent(id)}`);
  },
  interrupt(id) {
    return request('POST', `api/kernels/${encodeURIComponent(id)}/interrupt`);
  },
  restart(id) {
    return request('POST', `api/kernels/${encodeURIComponent(id)}/restart`);
  },
  remove(id) {
    return request('DELETE', `api/kernels/${encodeURIComponent(id)}`);
  },
};

export const kernelspecs = {
  get() {
    return request('GET', 'api/kernelspecs');
  },
};

// the user-visible text of an error
export function errorText(e) {
  if (e instanceof ApiError) return e.status ? `${e.message} (HTTP ${e.status})` : e.message;
  return e && e.message ? e.message : String(e);
}
