// watchApi against a real HTTP server on loopback, with Node's own fetch (undici). The
// XMLHttpRequest half runs in real Chromium: tests/e2e/test_sdk_browser.py.
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { after, before, test } from 'node:test';
import { watchApi } from '../src/api.js';
import { parseUrl } from '../src/url.js';

let server;
let base;

before(async () => {
  server = createServer((req, res) => {
    const status = Number(new URL(req.url, 'http://x').searchParams.get('status') || 200);
    setTimeout(() => {
      res.writeHead(status, { 'content-type': 'text/plain' });
      res.end('ok ' + req.method);
    }, 30);
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${server.address().port}`;
});

after(() => new Promise((r) => server.close(r)));

function wrapped(skip = () => false) {
  const calls = [];
  const win = { fetch: globalThis.fetch };
  watchApi(
    win,
    (url) => {
      const u = parseUrl(url, base + '/page');
      return u && !skip(u) ? u.path : '';
    },
    (method, path, status, ms) => calls.push({ method, path, status, ms }),
    () => performance.now(),
  );
  return [win, calls];
}

test('fetch calls are reported with method, path without query, status and time', async () => {
  const [win, calls] = wrapped();
  const res = await win.fetch(base + '/api/items/7?token=s3cret#x');
  assert.equal(await res.text(), 'ok GET');
  await win.fetch(new URL('/api/cart?status=503', base), { method: 'post', body: 'x' });
  await win.fetch(new Request(base + '/api/req?status=404', { method: 'DELETE' }));
  assert.deepEqual(
    calls.map((c) => [c.method, c.path, c.status]),
    [
      ['GET', '/api/items/7', 200],
      ['POST', '/api/cart', 503],
      ['DELETE', '/api/req', 404],
    ],
  );
  for (const c of calls) assert.ok(c.ms >= 25 && c.ms < 5000, `ms ${c.ms}`);
});

test('a network failure reports status 0 and the page still sees its rejection', async () => {
  const [win, calls] = wrapped();
  const closed = createServer();
  await new Promise((r) => closed.listen(0, '127.0.0.1', r));
  const port = closed.address().port;
  await new Promise((r) => closed.close(r));
  await assert.rejects(win.fetch(`http://127.0.0.1:${port}/api/down`), TypeError);
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(calls.map((c) => [c.method, c.path, c.status]), [['GET', '/api/down', 0]]);
});

test('skipped URLs are not reported and the original promise is returned', async () => {
  const [win, calls] = wrapped((u) => u.path.startsWith('/v1/beacon'));
  const p = win.fetch(base + '/v1/beacon');
  assert.ok(p instanceof Promise);
  await p;
  assert.deepEqual(calls, []);
});

test('a throwing report callback never reaches the page', async () => {
  const win = { fetch: globalThis.fetch };
  watchApi(
    win,
    () => '/x',
    () => {
      throw new Error('sdk bug');
    },
    () => 0,
  );
  let unhandled = 0;
  const onUnhandled = () => unhandled++;
  process.on('unhandledRejection', onUnhandled);
  const res = await win.fetch(base + '/x');
  assert.equal(res.status, 200);
  await new Promise((r) => setTimeout(r, 20));
  process.off('unhandledRejection', onUnhandled);
  assert.equal(unhandled, 0);
});
