import assert from 'node:assert/strict';
import { test } from 'node:test';
import { describeError, fnv1a } from '../src/errors.js';

const err = (message, filename = 'https://shop.example.com/app.js', lineno = 10, colno = 5) => ({ type: 'error', message, filename, lineno, colno });

test('FNV-1a matches its published test vectors', () => {
  assert.equal(fnv1a(''), '811c9dc5');
  assert.equal(fnv1a('a'), 'e40c292c');
  assert.equal(fnv1a('foobar'), 'bf9cf968');
});

test('an error becomes a kind and an 8-hex fingerprint, never its text', () => {
  const d = describeError(err('Cannot read properties of undefined (reading "email: ann@example.com")'));
  assert.equal(d.kind, 'error');
  assert.match(d.fp, /^[0-9a-f]{8}$/);
  assert.deepEqual(Object.keys(d), ['kind', 'fp']);
  assert.ok(!JSON.stringify(d).includes('ann'));
});

test('the same error groups: digits folded, script query strings ignored', () => {
  const a = describeError(err('index 7 out of range', 'https://shop.example.com/app.js?v=1'));
  const b = describeError(err('index 9 out of range', 'https://shop.example.com/app.js?v=2#x'));
  assert.equal(a.fp, b.fp);
});

test('different errors, places or kinds get different fingerprints', () => {
  const base = describeError(err('boom')).fp;
  assert.notEqual(describeError(err('bang')).fp, base);
  assert.notEqual(describeError(err('boom', 'https://shop.example.com/vendor.js')).fp, base);
  assert.notEqual(describeError(err('boom', undefined, 11)).fp, base);
  assert.notEqual(describeError(err('boom', undefined, 10, 6)).fp, base);
  assert.notEqual(describeError({ type: 'unhandledrejection', reason: 'boom' }).fp, base);
});

test('rejections: Errors by name and message, other reasons by type, no page code called', () => {
  const e1 = describeError({ type: 'unhandledrejection', reason: new TypeError('failed to fetch') });
  const e2 = describeError({ type: 'unhandledrejection', reason: new TypeError('failed to fetch') });
  assert.equal(e1.kind, 'unhandledrejection');
  assert.equal(e1.fp, e2.fp);
  assert.notEqual(describeError({ type: 'unhandledrejection', reason: new RangeError('failed to fetch') }).fp, e1.fp);
  const hostile = {
    toString() {
      throw new Error('page code ran');
    },
  };
  const h = describeError({ type: 'unhandledrejection', reason: hostile });
  assert.equal(h.fp, describeError({ type: 'unhandledrejection', reason: {} }).fp);
  assert.equal(describeError({ type: 'unhandledrejection', reason: undefined }).kind, 'unhandledrejection');
});

test('events that are not script errors are ignored', () => {
  assert.equal(describeError({ type: 'error' }), null); // a resource error has no message
  assert.equal(describeError({ type: 'click' }), null);
});
