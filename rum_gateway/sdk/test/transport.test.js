// Which way a beacon leaves. Node has no navigator.sendBeacon, so the navigator here is a
// recording stand-in; the real sendBeacon path is driven in Chromium by the e2e test.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { send } from '../src/transport.js';

const URL_ = 'https://rum.example.com/v1/beacon';

function recorders(beaconResult) {
  const sent = { beacon: [], fetch: [] };
  const nav = {
    sendBeacon(url, body) {
      sent.beacon.push([url, body]);
      if (beaconResult instanceof Error) throw beaconResult;
      return beaconResult;
    },
  };
  const fetchFn = (url, init) => {
    sent.fetch.push([url, init]);
    return Promise.reject(new TypeError('offline'));
  };
  return [nav, fetchFn, sent];
}

test('sendBeacon with the string body (text/plain, no preflight) when it accepts', () => {
  const [nav, fetchFn, sent] = recorders(true);
  assert.equal(send(URL_, '{"v":1}', nav, fetchFn), 'beacon');
  assert.deepEqual(sent.beacon, [[URL_, '{"v":1}']]);
  assert.deepEqual(sent.fetch, []);
});

test('refused or throwing sendBeacon falls back to fetch keepalive, without cookies', async () => {
  for (const result of [false, new Error('blocked')]) {
    const [nav, fetchFn, sent] = recorders(result);
    assert.equal(send(URL_, 'body', nav, fetchFn), 'fetch');
    assert.deepEqual(sent.fetch, [[URL_, { method: 'POST', body: 'body', keepalive: true, mode: 'no-cors', credentials: 'omit' }]]);
  }
  await new Promise((r) => setImmediate(r)); // the rejected fetch was handled
});

test('no sendBeacon at all, or nothing usable: fetch, then nothing, never a throw', () => {
  const [, fetchFn, sent] = recorders(true);
  assert.equal(send(URL_, 'b', {}, fetchFn), 'fetch');
  assert.equal(sent.fetch.length, 1);
  assert.equal(send(URL_, 'b', undefined, undefined), '');
  const throwing = () => {
    throw new Error('fetch gone');
  };
  assert.equal(send(URL_, 'b', { sendBeacon: () => false }, throwing), '');
});
