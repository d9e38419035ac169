// Shared helpers for the @jupyterlab/services tests: start a server (cnote-server, or the real
// Jupyter Server with CNOTE_NODE_TARGET=jupyter) on a free loopback port with temporary
// directories and a random token, hand out ServerConnection settings and the managers JupyterLab
// uses, and tear everything down (client connections first, then the server: SIGTERM, then
// SIGKILL after a bound). Every wait here has a deadline, so a broken server fails a test instead
// of hanging the run. CNOTE_SERVER_BIN overrides the cnote-server binary (a private build).
// The file name does not match node --test's patterns: it is not a test.

import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

import {
    KernelManager,
    KernelSpecManager,
    ServerConnection,
    SessionManager,
} from '@jupyterlab/services';
import WebSocket from 'ws';

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const TARGET = process.env.CNOTE_NODE_TARGET || 'cnote';
if (TARGET !== 'cnote' && TARGET !== 'jupyter') {
    throw new Error(`CNOTE_NODE_TARGET must be "cnote" or "jupyter", not "${TARGET}"`);
}
export const JUPYTER_PATH = path.join(REPO, '.venv', 'share', 'jupyter');
export const V1_PROTOCOL = 'v1.kernel.websocket.jupyter.org';

/* The kernels under test, with the cells each test runs on them. */
export const KERNELS = {
    cnote: {
        name: 'cnote',
        hello: { code: 'printf("hello from C\\n");', stdout: 'hello from C\n' },
        error: { code: 'undeclared_function_xyz(1);', ename: 'CompileError' },
        define: 'int x = 21;',
        expression: 'x * 2',
        stdin: 'int n; scanf("%d", &n); printf("got %d\\n", n * 2);',
        completeSetup: 'int my_long_name = 1;',
        busyLoop: 'for(;;);',
        after: { code: 'printf("after\\n");', stdout: 'after\n' },
        defineMarker: 'int before_restart = 7;',
        useMarker: 'before_restart',
    },
    python3: {
        name: 'python3',
        hello: { code: 'print("hello from py")', stdout: 'hello from py\n' },
        error: { code: '1 / 0', ename: 'ZeroDivisionError' },
        define: 'x = 21',
        expression: 'x * 2',
        stdin: 'n = input("? ")\nprint("got", int(n) * 2)',
        completeSetup: 'my_long_name = 1',
        busyLoop: 'while True: pass',
        after: { code: 'print("after")', stdout: 'after\n' },
        defineMarker: 'before_restart = 7',
        useMarker: 'before_restart',
    },
};

// The library announces every WebSocket it opens on console.debug; keep the report readable.
if (!process.env.CNOTE_NODE_DEBUG) {
    console.debug = () => {};
}

/* Every server started by this process, so none outlives it even if a test is abandoned. */
const live = new Set();
process.on('exit', () => {
    for (const proc of live) {
        try {
            proc.kill('SIGKILL');
        } catch {
            /* already gone */
        }
    }
});

export function sleep(ms) {
    return new Promise((resolve) => setTimeout(resolve, ms));
}

/* Resolve with `promise`, or reject after `ms` with a message that says what was awaited. */
export function withTimeout(promise, ms, what) {
    let timer;
    const timeout = new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
    });
    return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/* Poll `predicate` every 20 ms until it is true; reject after `ms`. */
export async function waitUntil(predicate, ms, what) {
    const deadline = Date.now() + ms;
    for (;;) {
        if (await predicate()) {
            return;
        }
        if (Date.now() > deadline) {
            const desc = typeof what === 'function' ? what() : what;
            throw new Error(`timed out after ${ms} ms waiting for ${desc}`);
        }
        await sleep(20);
    }
}

function freePort() {
    return new Promise((resolve, reject) => {
        const srv = net.createServer();
        srv.on('error', reject);
        srv.listen(0, '127.0.0.1', () => {
            const { port } = srv.address();
            srv.close(() => resolve(port));
        });
    });
}

/*
 * A WebSocket class for ServerConnection settings that records every frame in `record.frames`
 * ({dir: 'send'|'recv', binary, data: Buffer}) and every socket in `record.sockets`. It is the
 * `ws` client, as Node 20 needs, with two optional changes: extra handshake `headers` (e.g.
 * Authorization) and `offerProtocols: false`, which drops the subprotocols the library offers
 * (a client from before the v1 protocol, e.g. JupyterLab 3).
 */
export function recordingWebSocket(record, { headers = {}, offerProtocols = true } = {}) {
    record.frames ??= [];
    record.sockets ??= [];
    return class RecordingWebSocket extends WebSocket {
        constructor(url, protocols, options = {}) {
            super(url, offerProtocols ? protocols : [],
                { ...options, headers: { ...headers, ...options.headers } });
            record.sockets.push(this);
            this.on('message', (data, isBinary) => {
                record.frames.push({ dir: 'recv', binary: isBinary, data: toBuffer(data) });
            });
        }

        send(data, ...rest) {
            record.frames.push({ dir: 'send', binary: typeof data !== 'string', data: toBuffer(data) });
            return super.send(data, ...rest);
        }
    };
}

/* Copy of the bytes of a Buffer, ArrayBuffer, typed array, DataView or string. */
export function toBuffer(data) {
    if (typeof data === 'string') {
        return Buffer.from(data, 'utf8');
    }
    if (Array.isArray(data)) {
        return Buffer.concat(data.map(toBuffer));
    }
    if (ArrayBuffer.isView(data)) {
        return Buffer.from(data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength));
    }
    return Buffer.from(data.slice(0));
}

class Server {
    constructor({ proc, baseUrl, token, logPath, dirs }) {
        this.proc = proc;
        this.baseUrl = baseUrl; // ends in "/"
        this.wsUrl = 'ws' + baseUrl.slice(4);
        this.token = token;
        this.logPath = logPath;
        this.dirs = dirs;
        this.disposables = [];
    }

    /* ServerConnection settings as JupyterLab would have them, with the ws WebSocket class. */
    settings(overrides = {}) {
        return ServerConnection.makeSettings({
            baseUrl: this.baseUrl,
            wsUrl: this.wsUrl,
            token: this.token,
            appendToken: true,
            WebSocket,
            ...overrides,
        });
    }

    /* Dispose `obj` (a manager, a connection) before the server stops; returns `obj`. */
    track(obj) {
        this.disposables.push(obj);
        return obj;
    }

    kernelManager(settings = this.settings()) {
        return this.track(new KernelManager({ serverSettings: settings }));
    }

    sessionManager(settings = this.settings()) {
        const kernelManager = this.kernelManager(settings);
        return this.track(new SessionManager({ kernelManager, serverSettings: settings }));
    }

    kernelSpecManager(settings = this.settings()) {
        return this.track(new KernelSpecManager({ serverSettings: settings }));
    }

    /* A REST call with the token, outside the library (to check what the server holds). */
    async api(method, urlPath, body) {
        const res = await fetch(this.baseUrl + urlPath.replace(/^\//, ''), {
            method,
            headers: { Authorization: `token ${this.token}`, 'Content-Type': 'application/json' },
            body: body === undefined ? undefined : JSON.stringify(body),
            signal: AbortSignal.timeout(20000),
        });
        const text = await res.text();
        let json;
        try {
            json = text ? JSON.parse(text) : undefined;
        } catch {
            json = undefined;
        }
        return { status: res.status, json, text, headers: res.headers };
    }

    logTail(lines = 60) {
        try {
            const all = fs.readFileSync(this.logPath, 'utf8').split('\n');
            return all.slice(-lines).join('\n');
        } catch (e) {
            return `(no log: ${e.message})`;
        }
    }

    /* Dispose the client side, then stop the server; safe to call twice. */
    async close() {
        for (const obj of this.disposables.reverse()) {
            try {
                obj.dispose();
            } catch {
                /* keep going: the server must stop anyway */
            }
        }
        this.disposables = [];
        await stopProcess(this.proc, 15000);
        live.delete(this.proc);
        if (!process.env.CNOTE_NODE_KEEP) {
            for (const d of this.dirs) {
                fs.rmSync(d, { recursive: true, force: true });
            }
        }
    }
}

function exited(proc) {
    return proc.exitCode !== null || proc.signalCode !== null;
}

async function stopProcess(proc, graceMs) {
    if (exited(proc)) {
        return;
    }
    const gone = new Promise((resolve) => proc.once('exit', resolve));
    proc.kill('SIGTERM');
    try {
        await withTimeout(gone, graceMs, 'server exit after SIGTERM');
    } catch {
        proc.kill('SIGKILL');
        await withTimeout(gone, 5000, 'server exit after SIGKILL').catch(() => {});
    }
}

/*
 * Start the server under test. `legacy: true` makes it always use the legacy kernel WebSocket
 * framing (no subprotocol). Resolves once GET /api answers.
 */
export async function startServer({ legacy = false, extraArgs = [] } = {}) {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cnote-node-'));
    const root = path.join(tmp, 'root');
    const data = path.join(tmp, 'data');
    fs.mkdirSync(root);
    fs.mkdirSync(data);
    const logPath = path.join(tmp, 'server.log');
    const token = crypto.randomBytes(24).toString('hex');
    const env = { ...process.env, JUPYTER_PATH };
    let cmd;
    let args;
    let port;
    if (TARGET === 'cnote') {
        cmd = process.env.CNOTE_SERVER_BIN || path.join(REPO, 'build', 'bin', 'cnote-server');
        args = ['--ip', '127.0.0.1', '--port', '0', '--root', root, '--data-dir', data,
            '--token', token, '--shutdown-kernels-on-exit'];
        if (legacy) {
            args.push('--kernel-ws-protocol', '');
        }
    } else {
        port = await freePort();
        cmd = path.join(REPO, '.venv', 'bin', 'jupyter-server');
        env.JUPYTER_CONFIG_DIR = path.join(data, 'config');
        env.JUPYTER_RUNTIME_DIR = path.join(data, 'runtime');
        env.JUPYTER_DATA_DIR = path.join(data, 'data');
        env.IPYTHONDIR = path.join(data, 'ipython');
        args = ['--no-browser', '--ip=127.0.0.1', `--port=${port}`, '--ServerApp.port_retries=0',
            `--IdentityProvider.token=${token}`, `--ServerApp.root_dir=${root}`, '--allow-root'];
        if (legacy) {
            // --ServerApp.kernel_ws_protocol is deprecated and, in jupyter_server 2.21, has no effect
            args.push('--ZMQChannelsWebsocketConnection.kernel_ws_protocol=');
        }
    }
    args.push(...extraArgs);
    if (!fs.existsSync(cmd)) {
        throw new Error(`${cmd} is missing (build it with make, or run scripts/setup.sh)`);
    }
    const logFd = fs.openSync(logPath, 'a');
    // Output goes to a file, never a pipe that nobody drains (a full pipe would block the server
    // and the kernels, which inherit its stdout and stderr).
    const proc = spawn(cmd, args, { env, stdio: ['ignore', logFd, logFd] });
    fs.closeSync(logFd);
    live.add(proc);
    const server = new Server({ proc, baseUrl: '', token, logPath, dirs: [tmp] });
    try {
        let baseUrl;
        if (TARGET === 'cnote') {
            await waitUntil(() => {
                if (exited(proc)) {
                    throw new Error(`cnote-server exited (${proc.exitCode ?? proc.signalCode})`);
                }
                const m = /(https?:\/\/[^\s?]+)/.exec(fs.readFileSync(logPath, 'utf8'));
                baseUrl = m && m[1];
                return Boolean(baseUrl);
            }, 20000, 'cnote-server to print its URL');
        } else {
            baseUrl = `http://127.0.0.1:${port}/`;
        }
        if (!baseUrl.endsWith('/')) {
            baseUrl += '/';
        }
        server.baseUrl = baseUrl;
        server.wsUrl = 'ws' + baseUrl.slice(4);
        await waitUntil(async () => {
            if (exited(proc)) {
                throw new Error(`server exited (${proc.exitCode ?? proc.signalCode})`);
            }
            try {
                const res = await fetch(baseUrl + 'api', { signal: AbortSignal.timeout(2000) });
                await res.arrayBuffer();
                return res.status === 200;
            } catch {
                return false;
            }
        }, 60000, 'GET /api to answer');
    } catch (e) {
        const tail = server.logTail();
        await server.close();
        e.message += `\n--- server log (${logPath}) ---\n${tail}`;
        throw e;
    }
    return server;
}

/*
 * A node:test test that gets its own server: `fn(server, t)` runs under `timeoutMs`; on failure
 * the server log's tail is appended to the error; the clients and the server are always stopped.
 */
export function serverTest(name, options, fn) {
    const { timeoutMs = 60000, legacy = false, extraArgs = [] } = options;
    test(name, { timeout: timeoutMs + 40000 }, async (t) => {
        const server = await startServer({ legacy, extraArgs });
        try {
            await withTimeout(Promise.resolve().then(() => fn(server, t)), timeoutMs, name);
        } catch (e) {
            const err = e instanceof Error ? e : new Error(String(e));
            err.message += `\n--- ${TARGET} server log tail (${server.logPath}) ---\n${server.logTail()}`;
            throw err;
        } finally {
            await server.close();
        }
    });
}

/* Wait until a kernel connection is connected and its kernel idle. */
export async function waitReady(kernel, ms = 30000) {
    await waitUntil(() => kernel.connectionStatus === 'connected' && kernel.status === 'idle', ms,
        () => `kernel ${kernel.name} connected+idle (now ${kernel.connectionStatus}/${kernel.status})`);
    await withTimeout(kernel.info, ms, 'kernel_info_reply');
}

/*
 * Execute `code` and collect what JupyterLab would: the reply and the IOPub messages of the
 * request. `onStdin(msg, kernel)` answers input requests (allow_stdin is set when it is given).
 */
export async function execute(kernel, code, { timeoutMs = 30000, onStdin, onIOPub } = {}) {
    const future = kernel.requestExecute({
        code,
        silent: false,
        store_history: true,
        allow_stdin: Boolean(onStdin),
        stop_on_error: true,
    });
    const iopub = [];
    const stdin = [];
    future.onIOPub = (msg) => {
        iopub.push(msg);
        if (onIOPub) {
            onIOPub(msg, future);
        }
    };
    if (onStdin) {
        future.onStdin = (msg) => {
            stdin.push(msg);
            onStdin(msg, kernel);
        };
    }
    const reply = await withTimeout(future.done, timeoutMs, `execute ${JSON.stringify(code)}`);
    return { future, reply, iopub, stdin, ...summarize(iopub) };
}

/* Stream text by name, execute_results, display data and errors from IOPub messages. */
export function summarize(iopub) {
    const streams = {};
    const results = [];
    const errors = [];
    for (const msg of iopub) {
        const type = msg.header.msg_type;
        if (type === 'stream') {
            streams[msg.content.name] = (streams[msg.content.name] || '') + msg.content.text;
        } else if (type === 'execute_result') {
            results.push(msg.content);
        } else if (type === 'error') {
            errors.push(msg.content);
        }
    }
    return { streams, results, errors };
}

/* Parse a recorded binary frame: {protocol: 'v1'|'legacy', parts: [Buffer]}. */
export function parseFrame(buf, protocol) {
    const parts = [];
    if (protocol === V1_PROTOCOL) {
        const n = Number(buf.readBigUInt64LE(0));
        const offsets = [];
        for (let i = 0; i < n; i++) {
            offsets.push(Number(buf.readBigUInt64LE(8 * (i + 1))));
        }
        for (let i = 0; i + 1 < n; i++) {
            parts.push(buf.subarray(offsets[i], offsets[i + 1]));
        }
        return { n, offsets, parts };
    }
    const n = buf.readUInt32BE(0);
    const offsets = [];
    for (let i = 0; i < n; i++) {
        offsets.push(buf.readUInt32BE(4 * (i + 1)));
    }
    for (let i = 0; i < n; i++) {
        parts.push(buf.subarray(offsets[i], i + 1 < n ? offsets[i + 1] : buf.length));
    }
    return { n, offsets, parts };
}
