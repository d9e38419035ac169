// kernel.js - a kernel connection over cnote's kernel WebSocket (Jupyter's
// v1.kernel.websocket.jupyter.org binary framing).
//
// One Kernel object per notebook page. It keeps one session id for the page's life, so a
// reconnect after a network drop gets the messages the server buffered meanwhile (Jupyter
// Server's replay). Requests are futures keyed by msg_id: IOPub and stdin messages whose
// parent is a request go to that request's callbacks; replies resolve it. Events (EventTarget):
//   'status'      detail: {state}  idle|busy|starting|restarting|dead|disconnected|unknown
//   'iopub'       detail: msg      every IOPub message (after the future's own callbacks)
//   'connection'  detail: {state}  connecting|connected|disconnected

import { wsUrl, kernels as kernelsApi } from './api.js';

export const PROTOCOL = 'v1.kernel.websocket.jupyter.org';

export function uuid() {
  if (globalThis.crypto && crypto.randomUUID) return crypto.randomUUID().replace(/-/g, '');
  let s = '';
  for (let i = 0; i < 32; i++) s += Math.floor(Math.random() * 16).toString(16);
  return s;
}

const enc = new TextEncoder();
const dec = new TextDecoder();

// v1 frame: u64le N (= 6 + buffers), N u64le offsets, channel, header, parent_header,
// metadata, content, buffers; the last offset is the frame length.
export function encodeV1(msg) {
  const parts = [
    enc.encode(msg.channel),
    enc.encode(JSON.stringify(msg.header)),
    enc.encode(JSON.stringify(msg.parent_header || {})),
    enc.encode(JSON.stringify(msg.metadata || {})),
    enc.encode(JSON.stringify(msg.content || {})),
  ];
  for (const b of msg.buffers || []) parts.push(b instanceof Uint8Array ? b : new Uint8Array(b.buffer || b));
  const n = parts.length + 1;
  let off = 8 * (n + 1);
  const offsets = [];
  for (const p of parts) {
    offsets.push(off);
    off += p.length;
  }
  offsets.push(off);
  const out = new Uint8Array(off);
  const dv = new DataView(out.buffer);
  dv.setBigUint64(0, BigInt(n), true);
  offsets.forEach((o, i) => dv.setBigUint64(8 * (i + 1), BigInt(o), true));
  parts.forEach((p, i) => out.set(p, offsets[i]));
  return out.buffer;
}

export function decodeV1(buf) {
  const dv = new DataView(buf);
  const n = Number(dv.getBigUint64(0, true));
  if (n < 6 || 8 * (n + 1) > buf.byteLength) throw new Error('bad v1 frame');
  const off = [];
  for (let i = 0; i < n; i++) off.push(Number(dv.getBigUint64(8 * (i + 1), true)));
  const part = (i) => new Uint8Array(buf, off[i], off[i + 1] - off[i]);
  const json = (i) => {
    const t = dec.decode(part(i));
    return t ? JSON.parse(t) : {};
  };
  const buffers = [];
  for (let i = 5; i < n - 1; i++) buffers.push(new DataView(buf, off[i], off[i + 1] - off[i]));
  return {
    channel: dec.decode(part(0)),
    header: json(1),
    parent_header: json(2),
    metadata: json(3),
    content: json(4),
    buffers,
  };
}

// Jupyter protocol >= 5.2 counts cursor positions in code points; JS strings in UTF-16 units.
export function toCodePoints(text, utf16pos) {
  let n = 0;
  for (let i = 0; i < utf16pos && i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length) i++;
    n++;
  }
  return n;
}

export function fromCodePoints(text, cp) {
  let i = 0;
  for (let n = 0; n < cp && i < text.length; n++) {
    const c = text.charCodeAt(i);
    i += c >= 0xd800 && c <= 0xdbff && i + 1 < text.length ? 2 : 1;
  }
  return i;
}

const BACKOFF_MS = [250, 500, 1000, 2000, 4000, 8000];

export class Kernel extends EventTarget {
  constructor() {
    super();
    this.id = null;
    this.sessionId = uuid();
    this.ws = null;
    this.state = 'unknown';
    this.connection = 'disconnected';
    this.futures = new Map(); // msg_id -> future
    this.info = null;
    this.closed = false;
    this.attempt = 0;
    this.timer = null;
    this.outbox = [];
  }

  // Connect to kernel `id` (reconnects by itself until close()).
  connect(id) {
    if (this.id !== id) {
      this.id = id;
      this.info = null;
    }
    this.closed = false;
    this.attempt = 0;
    this.open();
  }

  open() {
    clearTimeout(this.timer);
    if (this.ws) {
      this.ws.onclose = this.ws.onmessage = this.ws.onopen = this.ws.onerror = null;
      try {
        this.ws.close();
      } catch {
        /* closing anyway */
      }
    }
    this.setConnection('connecting');
    const u = wsUrl(`api/kernels/${encodeURIComponent(this.id)}/channels?session_id=${this.sessionId}`);
    let ws;
    try {
      ws = new WebSocket(u, [PROTOCOL]);
    } catch {
      this.scheduleReconnect();
      return;
    }
    ws.binaryType = 'arraybuffer';
    this.ws = ws;
    ws.onopen = () => {
      this.attempt = 0;
      this.setConnection('connected');
      const q = this.outbox;
      this.outbox = [];
      for (const m of q) this.sendRaw(m);
      // the kernel may be busy with a long cell (kernel_info waits behind it on shell): take
      // its state from the server meanwhile
      kernelsApi.get(this.id).then(
        (m) => {
          if (this.ws === ws && (this.state === 'disconnected' || this.state === 'unknown') && m && m.execution_state) {
            this.setState(m.execution_state);
          }
        },
        () => {},
      );
      this.requestInfo();
    };
    ws.onmessage = (ev) => this.receive(ev.data);
    ws.onclose = (ev) => {
      if (this.ws !== ws) return;
      this.ws = null;
      if (this.closed) return;
      this.setConnection('disconnected');
      this.setState('disconnected');
      this.scheduleReconnect(ev.code);
    };
    ws.onerror = () => {};
  }

  async scheduleReconnect() {
    if (this.closed) return;
    const delay = BACKOFF_MS[Math.min(this.attempt, BACKOFF_MS.length - 1)];
    this.attempt++;
    this.timer = setTimeout(async () => {
      if (this.closed) return;
      try {
        await kernelsApi.get(this.id);
      } catch (e) {
        if (e && e.status === 404) {
          this.setState('dead');
          this.dispatchEvent(new CustomEvent('gone', { detail: { id: this.id } }));
          return;
        }
      }
      this.open();
    }, delay);
  }

  close() {
    this.closed = true;
    clearTimeout(this.timer);
    if (this.ws) {
      const ws = this.ws;
      this.ws = null;
      ws.onclose = null;
      try {
        ws.close(1000);
      } catch {
        /* gone */
      }
    }
    this.setConnection('disconnected');
  }

  setConnection(state) {
    if (this.connection === state) return;
    this.connection = state;
    this.dispatchEvent(new CustomEvent('connection', { detail: { state } }));
  }

  setState(state) {
    if (this.state === state) return;
    this.state = state;
    this.dispatchEvent(new CustomEvent('status', { detail: { state } }));
  }

  async requestInfo() {
    try {
      const reply = await this.request('kernel_info_request', {}, { timeoutMs: 30000 });
      this.info = reply.content;
      if (this.state === 'unknown' || this.state === 'disconnected' || this.state === 'starting') this.setState('idle');
      this.dispatchEvent(new CustomEvent('info', { detail: this.info }));
    } catch {
      /* a reconnect asks again */
    }
  }

  receive(data) {
    let msg;
    try {
      msg = typeof data === 'string' ? JSON.parse(data) : decodeV1(data);
    } catch (e) {
      console.warn('cnote: undecodable kernel message', e);
      return;
    }
    const type = msg.header && msg.header.msg_type;
    const parent = msg.parent_header && msg.parent_header.msg_id;
    const fut = parent ? this.futures.get(parent) : null;
    if (msg.channel === 'iopub') {
      if (type === 'status') {
        const st = msg.content.execution_state;
        if (fut && st === 'idle') fut.idle = true;
        // only the kernel-wide states change the indicator; busy/idle of any request do too
        this.setState(st);
      }
      if (fut && fut.onIOPub) fut.onIOPub(msg);
      this.dispatchEvent(new CustomEvent('iopub', { detail: msg }));
      if (fut) this.maybeDone(fut);
    } else if (msg.channel === 'stdin') {
      if (fut && fut.onStdin) fut.onStdin(msg);
      else this.dispatchEvent(new CustomEvent('stdin', { detail: msg }));
    } else if (fut) {
      fut.reply = msg;
      if (fut.onReply) fut.onReply(msg);
      this.maybeDone(fut);
    }
  }

  maybeDone(fut) {
    // a request is done with its reply and, for shell requests that make the kernel busy, idle
    if (!fut.reply || (fut.waitIdle && !fut.idle)) return;
    this.futures.delete(fut.msgId);
    clearTimeout(fut.timer);
    fut.resolve(fut.reply);
  }

  makeMsg(channel, msgType, content, metadata = {}) {
    return {
      channel,
      header: {
        msg_id: uuid(),
        msg_type: msgType,
        username: '',
        session: this.sessionId,
        date: new Date().toISOString(),
        version: '5.3',
      },
      parent_header: {},
      metadata,
      content,
      buffers: [],
    };
  }

  sendRaw(msg) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.send(encodeV1(msg));
    else this.outbox.push(msg);
  }

  // Send a request; returns a future {msgId, done: Promise<reply msg>}. Options: onIOPub,
  // onStdin, onReply, channel, waitIdle (default: shell requests wait for their idle status),
  // timeoutMs (rejects; default none).
  send(msgType, content, opts = {}) {
    const channel = opts.channel || 'shell';
    const msg = this.makeMsg(channel, msgType, content, opts.metadata);
    const fut = {
      msgId: msg.header.msg_id,
      onIOPub: opts.onIOPub,
      onStdin: opts.onStdin,
      onReply: opts.onReply,
      waitIdle: opts.waitIdle !== undefined ? opts.waitIdle : channel === 'shell' && msgType === 'execute_request',
      idle: false,
      reply: null,
    };
    fut.done = new Promise((resolve, reject) => {
      fut.resolve = resolve;
      fut.reject = reject;
    });
    if (opts.timeoutMs) {
      fut.timer = setTimeout(() => {
        this.futures.delete(fut.msgId);
        fut.reject(new Error(`${msgType}: no reply in ${Math.round(opts.timeoutMs / 1000)} s`));
      }, opts.timeoutMs);
    }
    this.futures.set(fut.msgId, fut);
    this.sendRaw(msg);
    return fut;
  }

  request(msgType, content, opts = {}) {
    return this.send(msgType, content, { ...opts, waitIdle: false }).done;
  }

  execute(code, opts = {}) {
    return this.send(
      'execute_request',
      {
        code,
        silent: false,
        store_history: true,
        user_expressions: {},
        allow_stdin: true,
        stop_on_error: true,
      },
      opts,
    );
  }

  // reply content of complete_request; positions in UTF-16 units of `code`
  async complete(code, pos) {
    const r = await this.request(
      'complete_request',
      { code, cursor_pos: toCodePoints(code, pos) },
      { timeoutMs: 10000 },
    );
    const c = r.content;
    if (c.status === 'ok') {
      c.cursor_start = fromCodePoints(code, c.cursor_start);
      c.cursor_end = fromCodePoints(code, c.cursor_end);
    }
    return c;
  }

  async inspect(code, pos, detail = 0) {
    const r = await this.request(
      'inspect_request',
      { code, cursor_pos: toCodePoints(code, pos), detail_level: detail },
      { timeoutMs: 10000 },
    );
    return r.content;
  }

  inputReply(value, parentHeader) {
    const msg = this.makeMsg('stdin', 'input_reply', { value });
    msg.parent_header = parentHeader;
    this.sendRaw(msg);
  }

  // Forget pending requests (after a restart or a kernel change): they will never finish.
  abortAll(reason) {
    for (const fut of this.futures.values()) {
      clearTimeout(fut.timer);
      fut.reject(new Error(reason));
    }
    this.futures.clear();
  }
}
