// Binary buffers through the kernel WebSocket, as ipywidgets uses them: a comm opened with
// kernel.createComm sends ArrayBuffers to an ipykernel comm target that echoes them back; the
// echoed buffers must equal the sent bytes. With the v1.kernel.websocket.jupyter.org subprotocol
// (the default when the client offers it) and with the legacy framing because the client offers
// no subprotocol (cnote has no server-side "always legacy" switch: libwebsockets 4.1 answers with
// any subprotocol it selected; see docs/architecture.md). The raw frames are checked too, so a
// server that picked the wrong framing cannot pass by accident.

import assert from 'node:assert/strict';
import crypto from 'node:crypto';

import {
    execute,
    parseFrame,
    recordingWebSocket,
    serverTest,
    toBuffer,
    V1_PROTOCOL,
    waitReady,
    waitUntil,
    withTimeout,
} from './harness.mjs';

const ECHO_TARGET = `
import comm as _comm_pkg

def _cnote_echo_target(comm, open_msg):
    def _on_msg(msg):
        bufs = [bytes(b) for b in msg.get("buffers") or []]
        comm.send(data={"echo": msg["content"]["data"], "sizes": [len(b) for b in bufs]}, buffers=bufs)
    comm.on_msg(_on_msg)
    comm.send(data={"opened": open_msg["content"]["data"]})

_comm_pkg.get_comm_manager().register_target("cnote_echo", _cnote_echo_target)
print("registered")
`;

const VARIANTS = [
    { framing: 'v1 subprotocol', legacyServer: false, offerProtocols: true },
    { framing: 'legacy framing, client offers no subprotocol', legacyServer: false, offerProtocols: false },
];

for (const { framing, legacyServer, offerProtocols } of VARIANTS) {
    const legacy = legacyServer || !offerProtocols;
    serverTest(`binary buffers round-trip through a comm (${framing})`, { legacy: legacyServer }, async (server) => {
        const rec = {};
        const settings = server.settings({ WebSocket: recordingWebSocket(rec, { offerProtocols }) });
        const kernel = await withTimeout(server.kernelManager(settings).startNew({ name: 'python3' }),
            30000, 'KernelManager.startNew(python3)');
        await waitReady(kernel);
        const ws = rec.sockets.at(-1);
        const protocol = legacy ? '' : V1_PROTOCOL;
        assert.equal(ws.protocol, protocol, 'subprotocol selected by the server');

        const reg = await execute(kernel, ECHO_TARGET);
        assert.equal(reg.reply.content.status, 'ok', JSON.stringify(reg.reply.content));
        assert.equal(reg.streams.stdout, 'registered\n');

        const comm = kernel.createComm('cnote_echo');
        // JupyterLab's default (commsOverSubshells: per comm target) asks an ipykernel that has
        // subshells for one on the control channel, in the background: wait for it to exist, so
        // that the kernel is not disposed at the end while that request is in flight (which
        // rejects it with "Canceled future", seen on a loaded machine)
        const subshellReady = kernel.supportsSubshells
            ? waitUntil(async () => (await kernel.requestListSubshell({}).done).content.subshell_id.length > 0,
                20000, 'the comm target subshell')
            : Promise.resolve();
        const received = [];
        comm.onMsg = (msg) => {
            received.push(msg);
        };
        await withTimeout(comm.open({ hello: 'open' }).done, 20000, 'comm_open done');
        await subshellReady;
        await waitUntil(() => received.length >= 1, 10000, 'the comm_msg answering comm_open');
        assert.deepEqual(received[0].content.data, { opened: { hello: 'open' } });

        const all = new Uint8Array(256).map((_, i) => i);
        const big = crypto.randomBytes(100000);
        const sent = [all.buffer, big.buffer.slice(big.byteOffset, big.byteOffset + big.byteLength)];
        const framesBefore = rec.frames.length;
        await withTimeout(comm.send({ seq: 1 }, {}, sent).done, 20000, 'comm_msg done');
        await waitUntil(() => received.length >= 2, 10000, 'the echoed comm_msg');

        const echo = received[1];
        assert.deepEqual(echo.content.data, { echo: { seq: 1 }, sizes: [256, 100000] });
        assert.equal(echo.buffers.length, 2);
        assert.ok(toBuffer(echo.buffers[0]).equals(Buffer.from(all)), 'buffer 0 differs');
        assert.ok(toBuffer(echo.buffers[1]).equals(big), 'buffer 1 differs');

        // The frames on the wire: one binary frame out with our buffers, one binary frame in
        // with the echo, both in the framing of the selected protocol.
        const frames = rec.frames.slice(framesBefore);
        const out = frames.filter((f) => f.dir === 'send' && f.binary
            && f.data.length > 100000 && f.data.includes(Buffer.from('comm_msg')));
        assert.equal(out.length, 1, 'no binary frame sent for the comm_msg with buffers');
        const inFrames = frames.filter((f) => f.dir === 'recv' && f.binary && f.data.length > 100000);
        assert.equal(inFrames.length, 1, 'no binary frame received for the echo');
        for (const f of [out[0], inFrames[0]]) {
            const parsed = parseFrame(f.data, protocol);
            if (legacy) {
                assert.equal(parsed.n, 3, 'legacy framing: 1 JSON part + 2 buffers');
                const json = JSON.parse(parsed.parts[0].toString('utf8'));
                assert.equal(json.header.msg_type, 'comm_msg');
                assert.equal(json.channel, f.dir === 'send' ? 'shell' : 'iopub');
            } else {
                assert.equal(parsed.n, 8, 'v1 framing: 6 + 2 buffers offsets');
                assert.equal(parsed.offsets.at(-1), f.data.length, 'v1 last offset = frame length');
                const channel = parsed.parts[0].toString('utf8');
                assert.equal(channel, f.dir === 'send' ? 'shell' : 'iopub');
            }
            assert.ok(parsed.parts.at(-2).equals(Buffer.from(all)), 'framed buffer 0 differs');
            assert.ok(parsed.parts.at(-1).equals(big), 'framed buffer 1 differs');
        }
        if (legacy) {
            assert.ok(rec.frames.some((f) => f.dir === 'recv' && !f.binary),
                'legacy framing sends messages without buffers as text frames');
        } else {
            assert.ok(rec.frames.every((f) => f.binary), 'v1 framing must use binary frames only');
        }
        comm.dispose();
    });
}
