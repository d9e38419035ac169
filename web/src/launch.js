// launch.js - what a kernel in a Kubernetes pod is doing while it starts, for the notebook page.
//
// A pod kernel's POST api/sessions (or its restart) answers only once the pod runs, which can take
// minutes (scheduling, image pull). Meanwhile watchLaunch() polls the server's kernel models
// (their "launch" field: provisioner, stage, message, pod, profile, node) and
// api/kernels/<id>/progress (the launch's events), and LaunchBanner shows both: one line of text
// and a "Details" disclosure with the events. Local kernels have no "launch" field, so nothing
// shows for them. It does not start or restart kernels (notebook.js does) and knows nothing of
// sessions.

import * as api from './api.js';
import { h as el } from './dom.js';

const enc = (id) => encodeURIComponent(id);

/** The REST calls used here; tests pass their own. */
export const launchApi = {
  list: () => api.request('GET', 'api/kernels'),
  get: (id) => api.request('GET', `api/kernels/${enc(id)}`),
  progress: (id) => api.request('GET', `api/kernels/${enc(id)}/progress`),
  async log(id, tail = 500) {
    const res = await api.request('GET', `api/kernels/${enc(id)}/log?tail=${tail}`, undefined, { raw: true });
    const text = await res.text();
    if (!res.ok) {
      let msg = text;
      try {
        msg = JSON.parse(text).message || text;
      } catch {
        /* plain text */
      }
      throw new api.ApiError(res.status, msg || `${res.status} ${res.statusText}`);
    }
    return text;
  },
  logUrl: (id, tail = 500) => api.url(`api/kernels/${enc(id)}/log?tail=${tail}`),
};

/** One line for a launch: 'Starting kernel pod: pulling — Pulling image "x"'. */
export function launchText(launch) {
  if (!launch) return '';
  const stage = launch.stage || 'creating';
  const msg = launch.message ? ` — ${launch.message}` : '';
  return `Starting kernel pod: ${stage}${msg}`;
}

/** Where a pod kernel runs, for a tooltip: 'pod cnote-kernel-…, profile cpu, node n1'. */
export function podSummary(launch) {
  if (!launch) return '';
  const parts = [];
  if (launch.pod) parts.push(`pod ${launch.pod}`);
  if (launch.profile) parts.push(`profile ${launch.profile}`);
  if (launch.node) parts.push(`node ${launch.node}`);
  return parts.join(', ');
}

/** "hh:mm:ss" of an ISO time (local time), or the input when it does not parse. */
export function eventTime(t) {
  const ms = Date.parse(t);
  if (!Number.isFinite(ms)) return String(t || '');
  return new Date(ms).toLocaleTimeString([], { hour12: false });
}

/** A <details> listing a progress's events (time, reason, message), newest last. */
export function eventsDetails(events, { open = false } = {}) {
  const list = el('ol', { class: 'launch-events' });
  fillEvents(list, events);
  return el('details', { class: 'launch-details', open }, el('summary', { text: 'Details' }), list);
}

function fillEvents(list, events) {
  list.replaceChildren(
    ...(events || []).map((ev) =>
      el(
        'li',
        { class: ev.type === 'Warning' ? 'warning' : '' },
        el('time', { datetime: ev.time, text: eventTime(ev.time) }),
        ' ',
        el('strong', { text: ev.reason || ev.stage || '' }),
        ev.message ? `: ${ev.message}` : '',
      ),
    ),
  );
}

/**
 * Poll a pod kernel's launch until stop(): every intervalMs (the first time after firstMs).
 * opts: kernelId (known for a restart), before (a Set of kernel ids that existed before a new
 *       session's POST: the new kernel is one that is not in it, "starting" and has "launch"),
 *       onUpdate({kernel, launch, progress}) (only for pod kernels), api (launchApi).
 * Errors of single polls are ignored (the POST's own result tells what failed). Returns
 * {stop(), last: the last update or null}.
 */
export function watchLaunch({ kernelId = null, before = null, onUpdate, intervalMs = 1000, firstMs = 250, api: rest = launchApi } = {}) {
  let stopped = false;
  let timer = null;
  let id = kernelId;
  const w = {
    last: null,
    stop() {
      stopped = true;
      clearTimeout(timer);
    },
  };
  const find = async () => {
    const all = await rest.list();
    return (all || []).find((k) => k && k.launch && k.execution_state === 'starting' && !(before && before.has(k.id))) || null;
  };
  const tick = async () => {
    try {
      const kernel = id ? await rest.get(id) : await find();
      if (stopped || !kernel || !kernel.launch) return;
      id = kernel.id;
      let progress = null;
      try {
        progress = await rest.progress(id);
      } catch {
        /* the model alone still tells the stage */
      }
      if (stopped) return;
      w.last = { kernel, launch: kernel.launch, progress };
      onUpdate(w.last);
    } catch {
      /* the next poll tries again */
    } finally {
      if (!stopped) timer = setTimeout(tick, intervalMs);
    }
  };
  timer = setTimeout(tick, firstMs);
  return w;
}

/** The banner that shows a launch: role=status, its text and events updated in place (so an
 * open "Details" stays open and a screen reader hears only what changed). */
export class LaunchBanner {
  constructor() {
    this.text = el('span', { class: 'launch-text' });
    this.list = el('ol', { class: 'launch-events' });
    this.details = el('details', { class: 'launch-details' }, el('summary', { text: 'Details' }), this.list);
    this.details.hidden = true;
    this.root = el('div', { class: 'banner info launch', role: 'status', 'data-key': 'launch' }, el('div', { class: 'grow' }, this.text, this.details));
  }

  update({ launch, progress }) {
    const t = launchText(launch);
    if (this.text.textContent !== t) this.text.textContent = t;
    const events = (progress && progress.events) || [];
    if (events.length !== this.list.children.length) fillEvents(this.list, events);
    this.details.hidden = !events.length;
  }
}
