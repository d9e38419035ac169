// Running cells the way a notebook does, on the C kernel and on ipykernel: stream output and
// execute replies, errors, execute_result of a trailing expression, stdin answered through
// future.onStdin + sendInputReply, and completion.

import assert from 'node:assert/strict';

import { execute, KERNELS, serverTest, waitReady, withTimeout } from './harness.mjs';

async function startKernel(server, name) {
    const kernel = await withTimeout(server.kernelManager().startNew({ name }), 30000,
        `KernelManager.startNew(${name})`);
    await waitReady(kernel);
    return kernel;
}

for (const k of Object.values(KERNELS)) {
    serverTest(`execute on ${k.name}: stream, reply, error, execute_result`, {}, async (server) => {
        const kernel = await startKernel(server, k.name);

        const hello = await execute(kernel, k.hello.code);
        assert.equal(hello.reply.content.status, 'ok', JSON.stringify(hello.reply.content));
        assert.equal(hello.streams.stdout, k.hello.stdout);
        assert.equal(hello.reply.header.msg_type, 'execute_reply');
        assert.equal(hello.reply.channel, 'shell');
        assert.equal(typeof hello.reply.content.execution_count, 'number');
        const count1 = hello.reply.content.execution_count;
        assert.ok(count1 >= 1);
        const types = hello.iopub.map((m) => m.header.msg_type);
        assert.equal(types[0], 'status', `first IOPub message of the request: ${types}`);
        assert.equal(hello.iopub[0].content.execution_state, 'busy');
        assert.ok(types.includes('execute_input'), `no execute_input in ${types}`);
        assert.equal(types.at(-1), 'status');
        assert.equal(hello.iopub.at(-1).content.execution_state, 'idle');
        for (const m of hello.iopub) {
            assert.equal(m.parent_header.msg_id, hello.future.msg.header.msg_id);
        }

        const err = await execute(kernel, k.error.code);
        assert.equal(err.reply.content.status, 'error');
        assert.equal(err.reply.content.ename, k.error.ename);
        assert.equal(err.errors.length, 1, `error messages on IOPub: ${JSON.stringify(err.errors)}`);
        assert.equal(err.errors[0].ename, k.error.ename);
        assert.ok(Array.isArray(err.errors[0].traceback) && err.errors[0].traceback.length > 0,
            'empty traceback');
        assert.equal(typeof err.errors[0].evalue, 'string');

        const def = await execute(kernel, k.define);
        assert.equal(def.reply.content.status, 'ok', JSON.stringify(def.reply.content));
        const expr = await execute(kernel, k.expression);
        assert.equal(expr.reply.content.status, 'ok', JSON.stringify(expr.reply.content));
        assert.equal(expr.results.length, 1, `execute_result messages: ${JSON.stringify(expr.results)}`);
        assert.match(expr.results[0].data['text/plain'], /\b42\b/);
        assert.equal(expr.results[0].execution_count, expr.reply.content.execution_count);
        assert.ok(expr.reply.content.execution_count > count1, 'execution_count did not grow');
    });

    serverTest(`stdin on ${k.name}: input_request answered with sendInputReply`, {}, async (server) => {
        const kernel = await startKernel(server, k.name);
        const res = await execute(kernel, k.stdin, {
            onStdin: (msg, kc) => {
                kc.sendInputReply({ status: 'ok', value: '21' }, msg.header);
            },
        });
        assert.equal(res.stdin.length, 1, `input requests: ${res.stdin.length}`);
        const request = res.stdin[0];
        assert.equal(request.header.msg_type, 'input_request');
        assert.equal(request.channel, 'stdin');
        assert.equal(request.content.password, false);
        if (k.name === 'python3') {
            assert.equal(request.content.prompt, '? ');
        }
        assert.equal(res.reply.content.status, 'ok', JSON.stringify(res.reply.content));
        assert.match(res.streams.stdout || '', /got 42/);
    });

    serverTest(`complete on ${k.name}: requestComplete matches a defined name`, {}, async (server) => {
        const kernel = await startKernel(server, k.name);
        const def = await execute(kernel, k.completeSetup);
        assert.equal(def.reply.content.status, 'ok', JSON.stringify(def.reply.content));
        const reply = await withTimeout(kernel.requestComplete({ code: 'my_lo', cursor_pos: 5 }), 30000,
            'requestComplete');
        assert.equal(reply.header.msg_type, 'complete_reply');
        assert.equal(reply.content.status, 'ok');
        assert.ok(reply.content.matches.includes('my_long_name'),
            `matches: ${JSON.stringify(reply.content.matches)}`);
        assert.equal(reply.content.cursor_start, 0);
        assert.equal(reply.content.cursor_end, 5);
    });
}
