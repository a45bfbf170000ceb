import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MAX_BYTES, encode, utf8Length } from '../src/beacon.js';

const call = (i) => ({ method: 'GET', path: '/api/items/' + i + '/' + 'x'.repeat(400), status: 200, ms: 12.5 });
const beacon = (views) => ({ v: 1, app: 'shop', sr: 0.5, conn: '4g', views });

function decodeAll(bodies) {
  return bodies.map((b) => {
    assert.ok(utf8Length(b) <= MAX_BYTES, `body of ${utf8Length(b)} bytes`);
    assert.equal(utf8Length(b), Buffer.byteLength(b));
    return JSON.parse(b);
  });
}

test('utf8Length counts bytes as they go on the wire', () => {
  for (const s of ['', 'abc', 'é', '€', '😀', '/caf%C3%A9/ü/日本/🙂🙃']) assert.equal(utf8Length(s), Buffer.byteLength(s), s);
});

test('a small batch is one body, unchanged', () => {
  const b = beacon([{ path: '/', nav: 'navigate', pv: true, vitals: { LCP: 1000 } }]);
  assert.deepEqual(encode(b), [JSON.stringify(b)]);
});

test('a big batch is split by views; every body fits and every view arrives once', () => {
  const views = [];
  for (let i = 0; i < 300; i++) views.push({ path: '/p/' + i, nav: 'soft', pv: true, api: [call(i)] });
  const bodies = encode(beacon(views));
  assert.ok(bodies.length >= 3, `${bodies.length} bodies`);
  const decoded = decodeAll(bodies);
  for (const d of decoded) assert.deepEqual([d.v, d.app, d.sr, d.conn], [1, 'shop', 0.5, '4g']);
  assert.deepEqual(
    decoded.flatMap((d) => d.views),
    views,
  );
});

test('one view too big on its own is split: pv and vitals once, every call kept', () => {
  const api = [];
  for (let i = 0; i < 400; i++) api.push(call(i));
  const errors = [{ kind: 'error', fp: '0badf00d' }];
  const view = { path: '/dash', route: '/dash', nav: 'navigate', pv: true, vitals: { LCP: 2100, CLS: 0.01 }, api, errors };
  const decoded = decodeAll(encode(beacon([view])));
  const parts = decoded.flatMap((d) => d.views);
  assert.ok(parts.length >= 3);
  assert.equal(parts.filter((p) => p.pv).length, 1);
  assert.deepEqual(parts.filter((p) => p.vitals).map((p) => p.vitals), [{ LCP: 2100, CLS: 0.01 }]);
  for (const p of parts) assert.deepEqual([p.path, p.route, p.nav], ['/dash', '/dash', 'navigate']);
  assert.deepEqual(parts.flatMap((p) => p.api || []), api);
  assert.deepEqual(parts.flatMap((p) => p.errors || []), errors);
});

test('a single record that can never fit is dropped rather than sent over the limit', () => {
  const huge = { path: '/x', nav: 'navigate', pv: true, api: [{ method: 'GET', path: '/' + 'y'.repeat(MAX_BYTES), status: 200, ms: 1 }] };
  const ok = { path: '/ok', nav: 'soft', pv: true };
  const decoded = decodeAll(encode(beacon([huge, ok])));
  assert.deepEqual(decoded.flatMap((d) => d.views), [ok]);
});

test('the byte limit counts multi-byte characters', () => {
  const views = [];
  for (let i = 0; i < 40; i++) views.push({ path: '/' + i, route: '/日本語'.repeat(100), nav: 'soft', pv: true });
  const bodies = encode(beacon(views), 10000);
  assert.ok(bodies.length > 1);
  for (const b of bodies) assert.ok(Buffer.byteLength(b) <= 10000);
  assert.equal(bodies.flatMap((b) => JSON.parse(b).views).length, 40);
});
