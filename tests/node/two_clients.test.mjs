// Two KernelConnections (two browser tabs, or a notebook and a console) on one kernel: each
// gets only its own replies, both see all IOPub output. Client B authenticates its WebSocket
// with an `Authorization: token` header instead of `?token=`, as non-browser clients do.

import assert from 'node:assert/strict';

import {
    execute,
    KERNELS,
    recordingWebSocket,
    serverTest,
    waitReady,
    waitUntil,
    withTimeout,
} from './harness.mjs';

function recorder(kernel) {
    const recv = [];
    const iopub = [];
    kernel.anyMessage.connect((_, { msg, direction }) => {
        if (direction === 'recv') {
            recv.push(msg);
        }
    });
    kernel.iopubMessage.connect((_, msg) => iopub.push(msg));
    return { recv, iopub };
}

function repliesTo(recv, msgId) {
    return recv.filter((m) => m.channel === 'shell' && m.parent_header.msg_id === msgId);
}

function streamOf(iopub, msgId) {
    return iopub
        .filter((m) => m.header.msg_type === 'stream' && m.parent_header.msg_id === msgId)
        .map((m) => m.content.text)
        .join('');
}

for (const k of Object.values(KERNELS)) {
    serverTest(`two clients on one ${k.name} kernel: own replies, shared IOPub`, {}, async (server) => {
        const a = await withTimeout(server.kernelManager().startNew({ name: k.name }), 30000,
            'KernelManager.startNew');
        await waitReady(a);

        const ws = {};
        const headerAuth = server.settings({
            appendToken: false,
            WebSocket: recordingWebSocket(ws, { headers: { Authorization: `token ${server.token}` } }),
        });
        const b = server.kernelManager(headerAuth).connectTo({ model: a.model });
        await waitReady(b);
        assert.equal(b.id, a.id);
        assert.notEqual(b.clientId, a.clientId);
        assert.ok(!ws.sockets[0].url.includes('token='), `token in the URL: ${ws.sockets[0].url}`);

        const recA = recorder(a);
        const recB = recorder(b);

        const ra = await execute(a, k.hello.code);
        const idA = ra.future.msg.header.msg_id;
        assert.equal(ra.reply.content.status, 'ok');
        assert.equal(ra.streams.stdout, k.hello.stdout);
        await waitUntil(() => streamOf(recB.iopub, idA) === k.hello.stdout, 10000,
            () => `client B to see A's stream (has ${JSON.stringify(streamOf(recB.iopub, idA))})`);
        await waitUntil(() => recB.iopub.some((m) => m.header.msg_type === 'execute_input'
            && m.parent_header.msg_id === idA), 10000, "client B to see A's execute_input");

        const rb = await execute(b, k.after.code);
        const idB = rb.future.msg.header.msg_id;
        assert.equal(rb.reply.content.status, 'ok');
        assert.equal(rb.streams.stdout, k.after.stdout);
        await waitUntil(() => streamOf(recA.iopub, idB) === k.after.stdout, 10000,
            () => `client A to see B's stream (has ${JSON.stringify(streamOf(recA.iopub, idB))})`);
        assert.equal(rb.reply.content.execution_count, ra.reply.content.execution_count + 1,
            'both clients share one execution counter');

        // Replies go to the requester only.
        assert.equal(repliesTo(recA.recv, idA).length, 1, 'A did not get exactly one reply to its request');
        assert.equal(repliesTo(recB.recv, idB).length, 1, 'B did not get exactly one reply to its request');
        assert.deepEqual(repliesTo(recB.recv, idA), [], "B received A's execute_reply");
        assert.deepEqual(repliesTo(recA.recv, idB), [], "A received B's execute_reply");

        // Closing one client leaves the other working.
        b.dispose();
        const again = await execute(a, k.hello.code);
        assert.equal(again.streams.stdout, k.hello.stdout);
    });
}
