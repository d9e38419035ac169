// Kernelspecs as JupyterLab's launcher sees them: KernelSpecManager lists `cnote` and `python3`
// with the names, display names and languages of their kernel.json files, and resource URLs
// (logos) that the server serves.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';

import { JUPYTER_PATH, serverTest, withTimeout } from './harness.mjs';

function kernelJson(name) {
    return JSON.parse(fs.readFileSync(path.join(JUPYTER_PATH, 'kernels', name, 'kernel.json'), 'utf8'));
}

serverTest('KernelSpecManager lists cnote and python3 with their resources', {}, async (server) => {
    const manager = server.kernelSpecManager();
    await withTimeout(manager.ready, 20000, 'KernelSpecManager.ready');
    await withTimeout(manager.refreshSpecs(), 20000, 'KernelSpecManager.refreshSpecs');
    const specs = manager.specs;
    assert.ok(specs, 'no specs');
    assert.equal(typeof specs.default, 'string');
    assert.ok(specs.default in specs.kernelspecs, `default ${specs.default} is not a listed kernelspec`);

    for (const name of ['cnote', 'python3']) {
        const spec = specs.kernelspecs[name];
        assert.ok(spec, `kernelspec ${name} missing; have ${Object.keys(specs.kernelspecs)}`);
        const file = kernelJson(name);
        assert.equal(spec.name, name);
        assert.equal(spec.display_name, file.display_name);
        assert.equal(spec.language, file.language);
        assert.deepEqual(spec.argv, file.argv);

        const logos = ['logo-32x32', 'logo-64x64', 'logo-svg'];
        for (const key of logos) {
            assert.equal(typeof spec.resources[key], 'string', `${name} has no resource ${key}`);
        }
        for (const key of logos) {
            const url = new URL(spec.resources[key], server.baseUrl);
            const res = await fetch(url, {
                headers: { Authorization: `token ${server.token}` },
                signal: AbortSignal.timeout(10000),
            });
            const body = Buffer.from(await res.arrayBuffer());
            assert.equal(res.status, 200, `GET ${url.pathname} -> ${res.status}`);
            const ext = key === 'logo-svg' ? 'svg' : 'png';
            const onDisk = fs.readFileSync(path.join(JUPYTER_PATH, 'kernels', name, `${key}.${ext}`));
            assert.ok(body.equals(onDisk), `${url.pathname} differs from the file`);
            assert.match(res.headers.get('content-type') || '', ext === 'svg' ? /image\/svg\+xml/ : /image\/png/);
        }
    }
});
