// Sessions and kernel lifetimes as JupyterLab drives them: SessionManager.startNew opens a
// notebook session on a kernel and its kernel connection reaches `connected` + `idle`;
// session.shutdown() and kernel.shutdown() make the kernel (and session) leave the REST lists.

import assert from 'node:assert/strict';

import { KERNELS, serverTest, waitReady, waitUntil, withTimeout } from './harness.mjs';

for (const k of Object.values(KERNELS)) {
    serverTest(`SessionManager.startNew on ${k.name}: session model, connected, idle`, {}, async (server) => {
        const sessions = server.sessionManager();
        const session = await withTimeout(sessions.startNew({
            path: 'work/notebook.ipynb',
            name: 'notebook.ipynb',
            type: 'notebook',
            kernel: { name: k.name },
        }), 30000, 'SessionManager.startNew');
        server.track(session);

        assert.equal(typeof session.id, 'string');
        assert.ok(session.id.length > 0);
        assert.equal(session.path, 'work/notebook.ipynb');
        assert.equal(session.name, 'notebook.ipynb');
        assert.equal(session.type, 'notebook');
        const kernel = session.kernel;
        assert.ok(kernel, 'session has no kernel connection');
        assert.equal(kernel.name, k.name);

        await waitReady(kernel);
        assert.equal(kernel.connectionStatus, 'connected');
        assert.equal(kernel.status, 'idle');
        const info = await kernel.info;
        assert.equal(info.status, 'ok');
        assert.equal(typeof info.protocol_version, 'string');
        assert.equal(info.language_info.name, k.name === 'cnote' ? 'c' : 'python');

        // The server's view agrees, through the manager and through REST.
        await withTimeout(sessions.refreshRunning(), 20000, 'SessionManager.refreshRunning');
        const models = [...sessions.running()];
        const model = models.find((m) => m.id === session.id);
        assert.ok(model, `session ${session.id} not in SessionManager.running()`);
        assert.equal(model.kernel.id, kernel.id);
        assert.equal(model.kernel.name, k.name);
        const rest = await server.api('GET', `api/sessions/${session.id}`);
        assert.equal(rest.status, 200);
        assert.equal(rest.json.path, 'work/notebook.ipynb');
        assert.equal(rest.json.kernel.id, kernel.id);
        const kernels = await server.api('GET', 'api/kernels');
        const km = kernels.json.find((x) => x.id === kernel.id);
        assert.ok(km, 'kernel not in /api/kernels');
        assert.ok(km.connections >= 1, `connections=${km.connections}, expected >= 1`);
    });

    serverTest(`shutdown on ${k.name}: session.shutdown() and kernel.shutdown()`, {}, async (server) => {
        const sessions = server.sessionManager();
        const kernels = server.kernelManager();
        const session = await withTimeout(sessions.startNew({
            path: 'a.ipynb', name: 'a.ipynb', type: 'notebook', kernel: { name: k.name },
        }), 30000, 'SessionManager.startNew');
        const kernel = await withTimeout(kernels.startNew({ name: k.name }), 30000, 'KernelManager.startNew');
        await waitReady(session.kernel);
        await waitReady(kernel);
        const sessionKernelId = session.kernel.id;
        assert.notEqual(sessionKernelId, kernel.id);

        let list = await server.api('GET', 'api/kernels');
        assert.deepEqual(list.json.map((x) => x.id).sort(), [sessionKernelId, kernel.id].sort());

        await withTimeout(session.shutdown(), 30000, 'session.shutdown()');
        list = await server.api('GET', 'api/kernels');
        assert.deepEqual(list.json.map((x) => x.id), [kernel.id], 'session kernel still listed');
        const sessionList = await server.api('GET', 'api/sessions');
        assert.deepEqual(sessionList.json, [], 'session still listed');
        assert.equal((await server.api('GET', `api/kernels/${sessionKernelId}`)).status, 404);

        await withTimeout(kernel.shutdown(), 30000, 'kernel.shutdown()');
        assert.equal(kernel.status, 'dead');
        list = await server.api('GET', 'api/kernels');
        assert.deepEqual(list.json, [], 'kernel still listed after kernel.shutdown()');
        await withTimeout(kernels.refreshRunning(), 20000, 'KernelManager.refreshRunning');
        await waitUntil(() => [...kernels.running()].length === 0, 5000, 'KernelManager.running() empty');
    });
}
