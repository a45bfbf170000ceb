// The budget of the issue: the whole SDK (our code and web-vitals) at most 6 KB gzipped.
// Runs after `npm run build` (npm test builds first).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { gzipSync } from 'node:zlib';

const BUDGET = 6000; // bytes, gzip level 9 (what a server precompressing the file serves)

for (const file of ['twinlens-rum.js', 'twinlens-rum.mjs']) {
  test(`${file} is within ${BUDGET} bytes gzipped`, (t) => {
    const raw = readFileSync(new URL('../dist/' + file, import.meta.url));
    const gz = gzipSync(raw, { level: 9 }).length;
    t.diagnostic(`${file}: ${raw.length} bytes, ${gz} bytes gzipped`);
    assert.ok(gz <= BUDGET, `${file} is ${gz} bytes gzipped, over the ${BUDGET}-byte budget`);
  });
}
