import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SEED_KEY, isSampled, sessionSeed } from '../src/sampling.js';

function memoryStorage() {
  const m = new Map();
  return { getItem: (k) => (m.has(k) ? m.get(k) : null), setItem: (k, v) => m.set(k, String(v)), m };
}

test('the decision is made once per session: later pages reuse the seed', () => {
  const storage = memoryStorage();
  const draws = [0.3, 0.9, 0.1];
  const random = () => draws.shift();
  const first = sessionSeed(storage, random);
  assert.equal(first, 0.3);
  assert.equal(storage.m.get(SEED_KEY), '0.3');
  for (let page = 0; page < 5; page++) assert.equal(sessionSeed(storage, random), 0.3);
  assert.equal(draws.length, 2, 'no new draw after the first page');
  assert.equal(isSampled(first, 0.5), true);
  assert.equal(isSampled(first, 0.3), false);
});

test('raising the rate only adds sessions (the decision is monotone in the rate)', () => {
  for (let i = 0; i < 1000; i++) {
    const seed = i / 1000;
    if (isSampled(seed, 0.1)) assert.equal(isSampled(seed, 0.5), true);
    assert.equal(isSampled(seed, 1), true);
  }
});

test('the sampled share follows the rate', () => {
  let state = 42;
  const lcg = () => ((state = (Math.imul(state, 1664525) + 1013904223) >>> 0) / 2 ** 32);
  let sampled = 0;
  const n = 20000;
  for (let i = 0; i < n; i++) if (isSampled(sessionSeed(memoryStorage(), lcg), 0.25)) sampled++;
  assert.ok(Math.abs(sampled / n - 0.25) < 0.02, `sampled share ${sampled / n}`);
});

test('corrupt or blocked storage falls back to a per-page seed without throwing', () => {
  const corrupt = memoryStorage();
  corrupt.setItem(SEED_KEY, 'banana');
  assert.equal(sessionSeed(corrupt, () => 0.7), 0.7);
  assert.equal(corrupt.m.get(SEED_KEY), '0.7');
  const outOfRange = memoryStorage();
  outOfRange.setItem(SEED_KEY, '1.5');
  assert.equal(sessionSeed(outOfRange, () => 0.2), 0.2);
  const blocked = {
    getItem() {
      throw new Error('SecurityError');
    },
    setItem() {
      throw new Error('QuotaExceededError');
    },
  };
  assert.equal(sessionSeed(blocked, () => 0.4), 0.4);
  assert.equal(sessionSeed(null, () => 0.6), 0.6);
});
