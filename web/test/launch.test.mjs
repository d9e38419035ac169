// Unit tests of launch.js: the progress text of a kernel pod's launch, the poll that stops when
// the start settles, the banner updated in place, and the events shown with a failure.
import { dom } from './dom-setup.mjs';
import { test } from 'node:test';
import assert from 'node:assert/strict';

const { launchText, podSummary, watchLaunch, LaunchBanner, eventsDetails, eventTime } = await import('../src/launch.js');

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const launch = (stage, message) => ({ provisioner: 'kubernetes', stage, message, pod: 'cnote-kernel-k1', profile: 'gpu', node: 'n1' });
const events = [
  { time: '2026-11-29T11:06:35.570456Z', stage: 'creating', type: 'Normal', reason: 'Creating', message: 'creating the kernel pod' },
  { time: '2026-11-29T11:06:35.640669Z', stage: 'pulling', type: 'Normal', reason: 'Pulling', message: 'Pulling image "img:1"' },
];

test('the progress line names the stage and the message', () => {
  assert.equal(launchText(launch('pulling', 'Pulling image "img:1"')), 'Starting kernel pod: pulling — Pulling image "img:1"');
  assert.equal(launchText(launch('scheduling', '')), 'Starting kernel pod: scheduling');
  assert.equal(launchText({}), 'Starting kernel pod: creating');
  assert.equal(launchText(null), '');
  assert.equal(podSummary(launch('ready')), 'pod cnote-kernel-k1, profile gpu, node n1');
  assert.equal(podSummary({ pod: 'p' }), 'pod p');
  assert.equal(eventTime('not a time'), 'not a time');
  assert.match(eventTime(events[0].time), /^\d\d:\d\d:\d\d$/);
});

// a fake REST API: a new kernel appears "starting" with a launch that moves on each list
function fakeApi({ local = false } = {}) {
  const calls = { list: 0, get: 0, progress: 0, n: 0 };
  const stages = ['scheduling', 'pulling', 'starting'];
  const model = (id, n) => ({
    id,
    execution_state: 'starting',
    ...(local ? {} : { launch: launch(stages[Math.min(n, stages.length - 1)], `m${n}`) }),
  });
  return {
    calls,
    list: async () => [{ id: 'old', execution_state: 'starting', launch: launch('pulling', 'another notebook') }, (calls.list++, model('new', calls.n++))],
    get: async (id) => (calls.get++, model(id, calls.n++)),
    progress: async (id) => {
      calls.progress++;
      return { kernel_id: id, events };
    },
  };
}

test('a new session: the kernel that was not there before is polled until stop()', async () => {
  const rest = fakeApi();
  const seen = [];
  const w = watchLaunch({ before: new Set(['old']), api: rest, firstMs: 1, intervalMs: 10, onUpdate: (u) => seen.push(u) });
  await sleep(60);
  w.stop();
  const n = seen.length;
  assert.ok(n >= 2, `updates: ${n}`);
  assert.ok(seen.every((u) => u.kernel.id === 'new'));
  assert.equal(seen[0].launch.stage, 'scheduling');
  assert.equal(seen[1].launch.stage, 'pulling');
  assert.deepEqual(seen[0].progress.events, events);
  assert.equal(rest.calls.list, 1, 'once the kernel is known it is polled by id');
  assert.equal(w.last, seen[n - 1]);
  await sleep(50);
  assert.equal(seen.length, n, 'no update after stop()');
  assert.equal(rest.calls.get, n - 1, 'one GET per update after the first');
});

test('a restart polls the known kernel; a poll in flight at stop() is dropped', async () => {
  let release;
  const rest = {
    calls: 0,
    get: (id) => {
      rest.calls++;
      return new Promise((r) => (release = () => r({ id, execution_state: 'restarting', launch: launch('creating', 'x') })));
    },
    progress: async () => ({ events: [] }),
    list: async () => assert.fail('a restart does not list'),
  };
  const seen = [];
  const w = watchLaunch({ kernelId: 'k1', api: rest, firstMs: 1, intervalMs: 5, onUpdate: (u) => seen.push(u) });
  await sleep(20);
  assert.equal(rest.calls, 1);
  w.stop();
  release();
  await sleep(30);
  assert.equal(seen.length, 0);
  assert.equal(rest.calls, 1, 'no poll after stop()');
});

test('local kernels (no "launch") and failing polls show nothing and keep polling quietly', async () => {
  const rest = fakeApi({ local: true });
  const seen = [];
  const w = watchLaunch({ before: new Set(['old']), api: rest, firstMs: 1, intervalMs: 5, onUpdate: (u) => seen.push(u) });
  await sleep(40);
  w.stop();
  assert.equal(seen.length, 0);
  let fails = 0;
  const w2 = watchLaunch({
    kernelId: 'k',
    api: { get: async () => (fails++, Promise.reject(new Error('502'))), progress: async () => ({}) },
    firstMs: 1,
    intervalMs: 5,
    onUpdate: () => assert.fail('no update'),
  });
  await sleep(40);
  w2.stop();
  assert.ok(fails >= 2, `polls: ${fails}`);
});

test('the banner is a polite status updated in place; its Details list the events', () => {
  const b = new LaunchBanner();
  document.body.append(b.root);
  assert.equal(b.root.getAttribute('role'), 'status');
  b.update({ launch: launch('scheduling', 'waiting for a node'), progress: { events: [] } });
  assert.equal(b.root.querySelector('.launch-text').textContent, 'Starting kernel pod: scheduling — waiting for a node');
  assert.equal(b.details.hidden, true, 'no events, no Details');
  const text = b.text;
  b.details.open = true;
  b.update({ launch: launch('pulling', 'Pulling image "img:1"'), progress: { events } });
  assert.equal(b.text, text, 'same node, new text');
  assert.equal(text.textContent, 'Starting kernel pod: pulling — Pulling image "img:1"');
  assert.equal(b.details.hidden, false);
  assert.equal(b.details.open, true, 'an open disclosure stays open');
  assert.equal(b.details.querySelector('summary').textContent, 'Details');
  const items = [...b.details.querySelectorAll('li')].map((li) => li.textContent);
  assert.equal(items.length, 2);
  assert.match(items[1], /^\d\d:\d\d:\d\d Pulling: Pulling image "img:1"$/);
  b.root.remove();
});

test('a failure keeps the server\'s whole message and the events of the launch', async () => {
  const { ApiError, errorText } = await import('../src/api.js');
  const msg = 'Kernel failed to start: no node can run this kernel now: 0/1 nodes are available: 1 Insufficient nvidia.com/gpu.';
  const text = `The kernel could not start: ${errorText(new ApiError(500, msg, 'no node'))}`;
  assert.ok(text.includes(msg), text);
  const d = eventsDetails([...events, { time: events[1].time, type: 'Warning', reason: 'FailedScheduling', message: '0/1 nodes are available: 1 Insufficient nvidia.com/gpu.' }]);
  assert.equal(d.tagName, 'DETAILS');
  const last = d.querySelector('li:last-child');
  assert.equal(last.className, 'warning');
  assert.match(last.textContent, /FailedScheduling: 0\/1 nodes are available: 1 Insufficient nvidia\.com\/gpu\.$/);
  assert.ok(dom.window.document.createElement('details'));
});
