// Interrupt and restart from the client, as JupyterLab's toolbar buttons do them: a busy cell
// ends with an error (or aborted) reply after kernel.interrupt() and the kernel keeps working;
// kernel.restart() keeps the kernel id, forgets the state and comes back idle.

import assert from 'node:assert/strict';

import { execute, KERNELS, serverTest, sleep, waitReady, waitUntil, withTimeout } from './harness.mjs';

async function startKernel(server, name) {
    const kernel = await withTimeout(server.kernelManager().startNew({ name }), 30000,
        `KernelManager.startNew(${name})`);
    await waitReady(kernel);
    return kernel;
}

for (const k of Object.values(KERNELS)) {
    serverTest(`interrupt on ${k.name}: a busy cell ends, the next one runs`, {}, async (server) => {
        const kernel = await startKernel(server, k.name);
        const future = kernel.requestExecute({ code: k.busyLoop, allow_stdin: false, stop_on_error: true });
        const iopub = [];
        future.onIOPub = (msg) => iopub.push(msg);
        await waitUntil(() => iopub.some((m) => m.header.msg_type === 'execute_input'), 15000,
            'execute_input of the busy cell');
        await sleep(300); // let the loop start for real
        assert.equal(kernel.status, 'busy');
        const t0 = Date.now();
        await withTimeout(kernel.interrupt(), 10000, 'kernel.interrupt()');
        const reply = await withTimeout(future.done, 15000, 'reply of the interrupted cell');
        const elapsed = Date.now() - t0;
        assert.ok(['error', 'aborted'].includes(reply.content.status),
            `status ${reply.content.status} after interrupt`);
        if (reply.content.status === 'error') {
            assert.equal(reply.content.ename, 'KeyboardInterrupt');
        }
        assert.ok(elapsed < 15000, `interrupt took ${elapsed} ms`);

        const after = await execute(kernel, k.after.code);
        assert.equal(after.reply.content.status, 'ok', JSON.stringify(after.reply.content));
        assert.equal(after.streams.stdout, k.after.stdout);
        assert.equal(kernel.status, 'idle');
    });

    serverTest(`restart on ${k.name}: state gone, same id, idle`, {}, async (server) => {
        const kernel = await startKernel(server, k.name);
        const def = await execute(kernel, k.defineMarker);
        assert.equal(def.reply.content.status, 'ok', JSON.stringify(def.reply.content));
        const use = await execute(kernel, k.useMarker);
        assert.equal(use.reply.content.status, 'ok', 'marker unknown before the restart');
        const id = kernel.id;
        const statuses = [];
        kernel.statusChanged.connect((_, s) => statuses.push(s));

        await withTimeout(kernel.restart(), 30000, 'kernel.restart()');
        await waitReady(kernel);
        assert.equal(kernel.id, id);
        assert.ok(statuses.includes('restarting'), `statuses during restart: ${statuses}`);

        const gone = await execute(kernel, k.useMarker);
        assert.equal(gone.reply.content.status, 'error', 'the variable survived the restart');
        assert.equal(gone.errors.length, 1);
        assert.equal(gone.errors[0].ename, k.name === 'cnote' ? 'CompileError' : 'NameError');
        assert.equal(kernel.status, 'idle');
        assert.equal(kernel.connectionStatus, 'connected');

        let rest;
        await waitUntil(async () => {
            rest = await server.api('GET', `api/kernels/${id}`);
            return rest.status === 200 && rest.json.execution_state === 'idle';
        }, 5000, () => `GET /api/kernels/<id> to say idle (got ${rest?.status} ${rest?.text})`);
        // cells keep running after the restart
        const hello = await execute(kernel, k.hello.code);
        assert.equal(hello.streams.stdout, k.hello.stdout);
    });
}
