// cnote's web app with kernels in Kubernetes pods (issue 7), end to end: headless Chromium
// (playwright-core, tests/browser/harness.mjs) -> cnote-server with the Kubernetes provisioner
// -> a real kube-apiserver + kube-scheduler with the process kubelet (scripts/k8s/cluster.sh;
// reused when CNOTE_K8S_DIR names a running one) -> the C kernel in a "pod".
//
// What is checked: while a new notebook's kernel pod starts, the launch's stage and message show
// in a role=status banner (with the launch's events under "Details"), then the banner goes and
// the kernel is idle; the kernel status tooltip names the pod and profile and "View log" shows
// the pod's log; a cell runs in the pod; a restart shows the new pod's launch; a pod deleted
// with kubectl turns into a dead banner that says it was deleted; a kernel that no node can run
// fails with the server's whole reason. The profiles file is the test's own: its default
// profile's container waits 3 s before it execs the kernel, so the launch is slow enough to be
// seen on any cluster (a cluster started here also takes 2 s per image pull, so "pulling" is
// seen too). Screenshots go to build/artifacts/k8s-app-*.png.
//
// Run: scripts/run-k8s-e2e.sh, or by hand (after make and make web):
//   node --test tests/k8s/k8s-app.test.mjs

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';

import { ROOT, startCnote, launchBrowser, screenshot, tempDir, removeTempDir } from '../browser/harness.mjs';

const CLUSTER_SH = path.join(ROOT, 'scripts', 'k8s', 'cluster.sh');
const NS = 'cnote';
const TOKEN = 'k8s-app-token';

let clusterDir = null; // set when this file started the cluster
let env;
let srv;
let br;
let page;

function loadEnv(dir) {
  const e = {};
  for (const line of fs.readFileSync(path.join(dir, 'env'), 'utf8').split('\n')) {
    const i = line.indexOf('=');
    if (i > 0 && !line.startsWith('#')) e[line.slice(0, i)] = line.slice(i + 1);
  }
  return e;
}

function kubectl(...args) {
  return execFileSync(env.CNOTE_K8S_KUBECTL || 'kubectl', ['--kubeconfig', env.CNOTE_K8S_ADMIN_KUBECONFIG, '-n', NS, ...args], {
    encoding: 'utf8',
    timeout: 60_000,
  });
}

// A profiles file whose one profile is the default; the rest as tests/k8s/profiles-test.yaml.
function profilesFile(dir, name, override) {
  const f = path.join(dir, `${name}.yaml`);
  fs.writeFileSync(
    f,
    `image: localhost/cnote/cnote-kernel:dev
image_pull_policy: IfNotPresent
storage: null
resources:
  requests: {cpu: 100m, memory: 64Mi}
  limits: {memory: 2Gi}
timeouts: {schedule_s: 60, pull_s: 60, ready_s: 60, delete_s: 20}
profiles:
  - slug: ${name}
    display_name: ${name}
    default: true
    override: ${JSON.stringify(override)}
`,
  );
  return f;
}

async function startServer(profiles, instance) {
  return startCnote({
    token: TOKEN,
    args: ['--autosave-seconds', '0', '--k8s-config', profiles, '--kubeconfig', env.CNOTE_K8S_SERVER_KUBECONFIG, '--instance-id', instance],
  });
}

async function newNotebook(s, name) {
  await s.api('PUT', `api/contents/${name}`, {
    type: 'notebook',
    format: 'json',
    content: {
      nbformat: 4,
      nbformat_minor: 5,
      metadata: { kernelspec: { name: 'cnote', display_name: 'C', language: 'c' } },
      cells: [{ id: 'c1', cell_type: 'code', source: '', metadata: {}, outputs: [], execution_count: null }],
    },
  });
}

// Every text the launch banner and the kernel status tooltip ever showed, recorded in the page
// (a launch can be quicker than a test's polling).
const RECORDER = () => {
  window.__launchSeen = [];
  const note = () => {
    const b = document.querySelector('.banner.launch');
    if (b) {
      const t = `${b.querySelector('.launch-text').textContent} | events=${b.querySelectorAll('.launch-events li').length}`;
      if (window.__launchSeen[window.__launchSeen.length - 1] !== t) window.__launchSeen.push(t);
    }
  };
  new MutationObserver(note).observe(document, { subtree: true, childList: true, characterData: true, attributes: true });
};

describe('cnote web app, kernels in Kubernetes pods', { timeout: 300_000 }, () => {
  before(async () => {
    if (process.env.CNOTE_K8S_DIR) {
      env = loadEnv(process.env.CNOTE_K8S_DIR);
    } else {
      clusterDir = tempDir('cnote-k8s-app-');
      // its own pod addresses (127.<octet>.x.y), apart from other clusters on this machine
      const octet = 150 + (process.pid % 100);
      execFileSync(CLUSTER_SH, ['start', clusterDir], {
        stdio: 'inherit',
        timeout: 240_000,
        env: { ...process.env, CNOTE_K8S_KUBELET_ARGS: `--pull-delay 2 --ip-octet ${octet}` },
      });
      env = loadEnv(clusterDir);
    }
    const dir = tempDir('cnote-k8s-app-profiles-');
    const slow = profilesFile(dir, 'slow-start', {
      command: ['sh', '-c', 'sleep 3; exec cnote-kernel --connection-env CNOTE_CONNECTION --ip-env CNOTE_POD_IP'],
    });
    srv = await startServer(slow, `k8s-app-${process.pid}`);
    br = await launchBrowser({ viewport: { width: 1280, height: 900 } });
    page = br.page;
    await br.context.addInitScript(RECORDER);
  });

  after(async () => {
    if (page) await screenshot(page, 'k8s-app-last');
    if (br) await br.close();
    if (srv) await srv.stop();
    if (clusterDir) {
      try {
        execFileSync(CLUSTER_SH, ['stop', clusterDir], { stdio: 'inherit', timeout: 120_000 });
      } finally {
        removeTempDir(clusterDir);
      }
    }
    if (br && br.pageErrors.length) console.log(br.pageErrors.join('\n'));
  });

  it('shows the pod launch while it runs, then the kernel is idle and runs a cell', async () => {
    await newNotebook(srv, 'pods.ipynb');
    await page.goto(`${srv.url}notebooks/pods.ipynb?token=${TOKEN}`);
    const banner = page.locator('#banners .banner.launch[role="status"]');
    await banner.locator('.launch-text', { hasText: /^Starting kernel pod: / }).waitFor({ timeout: 30_000 });
    // the container runs (sleeping 3 s before the kernel): the server is connecting to it
    await banner.locator('.launch-text', { hasText: /^Starting kernel pod: connecting/ }).waitFor({ timeout: 30_000 });
    await page.locator('.launch-details summary', { hasText: 'Details' }).click();
    await banner.locator('.launch-events li', { hasText: 'Started' }).first().waitFor({ timeout: 10_000 });
    await screenshot(page, 'k8s-app-launching');
    await page.waitForSelector('#kernel-status[data-state="idle"]', { timeout: 90_000 });
    await page.locator('#banners .banner.launch').waitFor({ state: 'detached', timeout: 10_000 });
    const seen = await page.evaluate(() => window.__launchSeen);
    assert.ok(seen.some((t) => /^Starting kernel pod: connecting — /.test(t)), seen.join('\n'));
    assert.ok(seen.some((t) => !/events=0$/.test(t)), `events listed: ${seen.join('\n')}`);
    if (clusterDir) assert.ok(seen.some((t) => /^Starting kernel pod: pulling — Pulling image "localhost\/cnote\/cnote-kernel:dev"/.test(t)), seen.join('\n'));

    // the tooltip names the pod; "View log" shows its log
    const kid = await page.evaluate(() => window.cnote.kernel.id);
    const title = await page.locator('#kernel-status').getAttribute('title');
    assert.match(title, new RegExp(`pod cnote-kernel-${kid}.*profile slow-start`), title);
    await page.locator('#kernel-log').click();
    const dlg = page.locator('dialog.log-dialog');
    await dlg.waitFor();
    await dlg.locator('pre', { hasText: /./ }).filter({ hasNotText: 'Loading…' }).waitFor({ timeout: 10_000 });
    assert.doesNotMatch(await dlg.locator('pre').innerText(), /could not be read/);
    await dlg.locator('button', { hasText: 'Close' }).click();
    await dlg.waitFor({ state: 'detached' });

    // a cell runs in the pod
    await page.locator('#notebook .cell').first().locator('.editor').click();
    await page.keyboard.insertText('printf("hello from pod %d\\n", 6 * 7);');
    await page.keyboard.press('Shift+Enter');
    await page.locator('#notebook .cell .outputs', { hasText: 'hello from pod 42' }).waitFor({ timeout: 60_000 });
    assert.equal(await page.locator('#banners .banner.error').count(), 0);
  });

  it('a restart shows the new pod\'s launch too', async () => {
    const before = await page.evaluate(() => window.__launchSeen.length);
    await page.getByRole('button', { name: 'Restart kernel' }).click();
    await page.locator('dialog button.primary', { hasText: 'Restart' }).click();
    await page.locator('#banners .banner.launch .launch-text', { hasText: /^Starting kernel pod: / }).waitFor({ timeout: 30_000 });
    await page.locator('#banners .banner.launch').waitFor({ state: 'detached', timeout: 90_000 });
    const seen = await page.evaluate((n) => window.__launchSeen.slice(n), before);
    assert.ok(seen.some((t) => /^Starting kernel pod: (creating|scheduling|pulling|starting|connecting)/.test(t)), seen.join('\n'));
    await page.waitForSelector('#kernel-status[data-state="idle"]', { timeout: 60_000 });
    await page.locator('#notebook .cell').last().locator('.editor').click();
    await page.keyboard.insertText('printf("again\\n");');
    await page.keyboard.press('Shift+Enter');
    await page.locator('#notebook .cell .outputs', { hasText: 'again' }).waitFor({ timeout: 60_000 });
  });

  it('a kernel pod deleted with kubectl shows a dead banner that says why', async () => {
    const kid = await page.evaluate(() => window.cnote.kernel.id);
    // (after the restart the pod is cnote-kernel-<id>-r1: found by its label)
    kubectl('delete', 'pod', '-l', `cnote.io/kernel-id=${kid}`, '--wait=false');
    const dead = page.locator('#banners .banner.error[data-key="died"]');
    await dead.locator('.grow', { hasText: /deleted/ }).waitFor({ timeout: 30_000 });
    await page.waitForSelector('#kernel-status[data-state="dead"]', { timeout: 5_000 });
    assert.match(await dead.innerText(), /^The kernel is dead: .*deleted/);
    await screenshot(page, 'k8s-app-dead');
  });

  it('a kernel no node can run fails with the server\'s whole reason', async () => {
    const dir = tempDir('cnote-k8s-app-gpu-');
    const gpu = profilesFile(dir, 'too-many-gpus', { resources: { limits: { 'nvidia.com/gpu': 3 } } });
    const s2 = await startServer(gpu, `k8s-app-gpu-${process.pid}`);
    const p2 = await br.context.newPage();
    try {
      await newNotebook(s2, 'gpu.ipynb');
      await p2.goto(`${s2.url}notebooks/gpu.ipynb?token=${TOKEN}`);
      const err = p2.locator('#banners .banner.error[data-key="kernel"]');
      await err.waitFor({ timeout: 60_000 });
      const text = await err.locator('.grow').innerText();
      assert.match(text, /^The kernel could not start: Kernel failed to start: no node can run this kernel now: .*Insufficient nvidia\.com\/gpu\..*\(HTTP 500\)/s);
      // (the launch's events come with the error when a poll saw them; this one fails faster)
      assert.equal(await p2.locator('#banners .banner.launch').count(), 0);
      assert.equal(await p2.locator('#kernel-status').getAttribute('data-state'), 'dead');
      await screenshot(p2, 'k8s-app-unschedulable');
    } finally {
      await p2.close();
      await s2.stop();
      removeTempDir(dir);
    }
  });
});
