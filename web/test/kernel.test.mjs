// Unit tests of kernel.js's pure parts: the v1 WebSocket framing and cursor units.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { encodeV1, decodeV1, toCodePoints, fromCodePoints } from '../src/kernel.js';

test('v1 frames round-trip, with and without buffers, and have the documented layout', () => {
  const msg = {
    channel: 'shell',
    header: { msg_id: 'm1', msg_type: 'comm_msg' },
    parent_header: {},
    metadata: { a: 1 },
    content: { data: 'é' },
    buffers: [new Uint8Array([1, 2, 3])],
  };
  const buf = encodeV1(msg);
  const dv = new DataView(buf);
  assert.equal(Number(dv.getBigUint64(0, true)), 7); // 6 + 1 buffer
  assert.equal(Number(dv.getBigUint64(8, true)), 64); // channel starts after 8 * (7 + 1) bytes
  assert.equal(Number(dv.getBigUint64(8 * 7, true)), buf.byteLength); // last offset = length
  const back = decodeV1(buf);
  assert.equal(back.channel, 'shell');
  assert.deepEqual(back.header, msg.header);
  assert.deepEqual(back.metadata, msg.metadata);
  assert.deepEqual(back.content, msg.content);
  assert.deepEqual([...new Uint8Array(back.buffers[0].buffer, back.buffers[0].byteOffset, 3)], [1, 2, 3]);
  const plain = decodeV1(encodeV1({ ...msg, buffers: [] }));
  assert.equal(plain.buffers.length, 0);
  assert.deepEqual(plain.parent_header, {});
});

test('a truncated v1 frame is refused', () => {
  const buf = new ArrayBuffer(16);
  new DataView(buf).setBigUint64(0, 6n, true);
  assert.throws(() => decodeV1(buf), /bad v1 frame/);
});

test('cursor positions convert between UTF-16 units and code points', () => {
  const s = 'a😀b';
  assert.equal(toCodePoints(s, 3), 2); // after the emoji (2 UTF-16 units)
  assert.equal(fromCodePoints(s, 2), 3);
  assert.equal(toCodePoints(s, s.length), 3);
  assert.equal(fromCodePoints(s, 3), 4);
  assert.equal(toCodePoints('plain', 4), 4);
});
