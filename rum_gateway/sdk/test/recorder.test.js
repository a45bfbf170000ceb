import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MAX_ERRORS_PER_VIEW, createRecorder } from '../src/recorder.js';
import { compileRoutes } from '../src/route.js';

function recorder(over = {}) {
  const state = { full: 0 };
  const rec = createRecorder({
    routeOf: compileRoutes(['/products/:id', '/cart']),
    maxItems: 1000,
    onFull: () => state.full++,
    cls: true,
    ...over,
  });
  return [rec, state];
}

// What JSON.stringify sends (drops undefined route).
const wire = (x) => JSON.parse(JSON.stringify(x));

test('a page view is sent once; later beacons carry pv false', () => {
  const [rec] = recorder();
  const home = rec._view('/', 'navigate', 0);
  rec._vital(home, 'TTFB', 120.34);
  rec._vital(home, 'FCP', 900);
  assert.deepEqual(wire(rec._take(false)), [
    { path: '/', nav: 'navigate', pv: true, vitals: { TTFB: 120.3, FCP: 900 } },
  ]);
  assert.deepEqual(rec._take(false), [], 'nothing new: nothing to send');
  rec._vital(home, 'LCP', 2480.55);
  rec._vital(home, 'LCP', 9999); // a vital is final once recorded
  rec._vital(home, 'TTFB', 1); // and never sent twice
  assert.deepEqual(wire(rec._take(true)), [
    { path: '/', nav: 'navigate', pv: false, vitals: { LCP: 2480.6, CLS: 0 } },
  ]);
  assert.deepEqual(rec._take(true), []);
});

test('SPA route changes are soft views with their route template', () => {
  const [rec] = recorder();
  rec._view('/', 'navigate', 0);
  rec._view('/products/42', 'soft', 1000);
  rec._api({ method: 'GET', path: '/api/items/42', status: 200, ms: 81.5 });
  rec._view('/cart', 'soft', 2000);
  rec._error('error', 'deadbeef');
  assert.deepEqual(wire(rec._take(true)), [
    { path: '/', nav: 'navigate', pv: true, vitals: { CLS: 0 } },
    {
      path: '/products/42',
      route: '/products/{id}',
      nav: 'soft',
      pv: true,
      vitals: { CLS: 0 },
      api: [{ method: 'GET', path: '/api/items/42', status: 200, ms: 81.5 }],
    },
    { path: '/cart', route: '/cart', nav: 'soft', pv: true, vitals: { CLS: 0 }, errors: [{ kind: 'error', fp: 'deadbeef' }] },
  ]);
});

test('CLS is per view: shifts go to the view showing at their start time, session windows apply', () => {
  const [rec] = recorder();
  const home = rec._view('/', 'navigate', 0);
  rec._vital(home, 'LCP', 1200);
  rec._shift(0.05, 100);
  rec._shift(0.05, 600); // same window (gap < 1 s): 0.10
  rec._shift(0.02, 2000); // new window: 0.02
  rec._view('/products/1', 'soft', 3000);
  rec._shift(0.2, 3100);
  rec._shift(0.01, 2999); // late entry from the home view, still measuring
  // a window is capped at 5 s: 0.03 * 6 over 5.5 s, 0.9 s apart, splits
  rec._view('/products/2', 'soft', 10000);
  for (let i = 0; i < 7; i++) rec._shift(0.03, 10000 + i * 900);
  const views = wire(rec._take(true));
  // home: windows 0.10 (100..600) and 0.03 (2000, plus the late 0.01 at 2999): max 0.10
  // /products/2: 6 shifts fit in 5 s (0.18); the 7th, 5.4 s after the first, opens a window
  assert.deepEqual(
    views.map((v) => [v.path, v.vitals.CLS]),
    [
      ['/', 0.1],
      ['/products/1', 0.2],
      ['/products/2', 0.18],
    ],
  );
});

test('INP is per view: the longest interaction, skipping one per 50', () => {
  const [rec] = recorder();
  rec._view('/', 'navigate', 0);
  // one interaction = several entries with the same id; the longest counts
  rec._interaction(7, 40, 100);
  rec._interaction(7, 64, 100);
  rec._interaction(7, 56, 101);
  rec._interaction(0, 500, 150); // not an interaction (hover)
  rec._interaction(14, 24, 200);
  rec._view('/cart', 'soft', 1000);
  rec._interaction(21, 88, 999); // started before the route change: the home view's
  for (let i = 0; i < 120; i++) rec._interaction(100 + i * 7, i === 5 ? 900 : i === 6 ? 700 : 16 + (i % 3) * 8, 1000 + i);
  rec._view('/products/9', 'soft', 5000); // no interaction: no INP
  const views = wire(rec._take(true));
  // home: 2+1 interactions, max 88; cart: 120 interactions -> skip the 2 longest -> 32
  assert.deepEqual(
    views.map((v) => [v.path, v.vitals.INP]),
    [
      ['/', 88],
      ['/cart', 32],
      ['/products/9', undefined],
    ],
  );
});

test('vitals of the view on screen wait for the page to be hidden; ended views are final', () => {
  const [rec] = recorder();
  rec._view('/', 'navigate', 0);
  rec._interaction(7, 48, 10);
  rec._view('/cart', 'soft', 100);
  rec._interaction(14, 72, 150);
  // a flush while the page is visible: the home view ended, the cart view is still measuring
  assert.deepEqual(
    wire(rec._take(false)).map((v) => [v.path, v.pv, v.vitals]),
    [
      ['/', true, { CLS: 0, INP: 48 }],
      ['/cart', true, undefined],
    ],
  );
  rec._interaction(21, 200, 300);
  rec._interaction(28, 300, 50); // late entry for the finalized home view: dropped
  assert.deepEqual(wire(rec._take(true)), [{ path: '/cart', route: '/cart', nav: 'soft', pv: false, vitals: { CLS: 0, INP: 200 } }]);
  // visible again and interacting: the view's INP was already sent as final
  rec._interaction(35, 400, 400);
  assert.deepEqual(rec._take(true), []);
});

test('no CLS is invented where the browser cannot measure layout shifts', () => {
  const [rec] = recorder({ cls: false });
  rec._view('/', 'navigate', 0);
  rec._shift(0.5, 10);
  assert.deepEqual(wire(rec._take(true)), [{ path: '/', nav: 'navigate', pv: true }]);
});

test('ignored views record nothing and take nothing from the view before', () => {
  const [rec] = recorder();
  rec._view('/', 'navigate', 0);
  const admin = rec._view('/admin', 'soft', 100, true);
  rec._vital(admin, 'LCP', 500);
  rec._api({ method: 'GET', path: '/api/admin', status: 200, ms: 5 });
  rec._error('error', '00000000');
  rec._shift(0.3, 150);
  rec._interaction(7, 300, 150);
  assert.deepEqual(wire(rec._take(true)), [{ path: '/', nav: 'navigate', pv: true, vitals: { CLS: 0 } }]);
});

test('a batch is full after maxItems page views + API calls + errors, and says so once', () => {
  const [rec, state] = recorder({ maxItems: 3 });
  rec._view('/', 'navigate', 0);
  rec._api({ method: 'GET', path: '/a', status: 200, ms: 1 });
  assert.equal(state.full, 0);
  rec._error('error', '12345678');
  assert.equal(state.full, 1);
  rec._api({ method: 'GET', path: '/b', status: 500, ms: 2 });
  assert.equal(state.full, 1);
  assert.equal(rec._take(false).length, 1);
  rec._api({ method: 'GET', path: '/c', status: 200, ms: 1 });
  rec._api({ method: 'GET', path: '/d', status: 200, ms: 1 });
  rec._api({ method: 'GET', path: '/e', status: 200, ms: 1 });
  assert.equal(state.full, 2, 'counting starts again after a take');
});

test('errors per view are capped', () => {
  const [rec] = recorder();
  rec._view('/', 'navigate', 0);
  for (let i = 0; i < 100; i++) rec._error('error', 'aaaaaaaa');
  assert.equal(rec._take(false)[0].errors.length, MAX_ERRORS_PER_VIEW);
  rec._error('error', 'bbbbbbbb');
  assert.equal(rec._take(false).length, 0, 'the cap holds for the whole view');
  rec._view('/cart', 'soft', 10);
  rec._error('unhandledrejection', 'cccccccc');
  const cart = rec._take(false).find((v) => v.path === '/cart');
  assert.deepEqual(cart.errors, [{ kind: 'unhandledrejection', fp: 'cccccccc' }]);
});

test('values that are not finite non-negative numbers are not recorded', () => {
  const [rec] = recorder({ cls: false });
  const v = rec._view('/', 'navigate', 0);
  rec._vital(v, 'LCP', NaN);
  rec._vital(v, 'FCP', -5);
  rec._vital(v, 'TTFB', undefined);
  assert.deepEqual(wire(rec._take(true)), [{ path: '/', nav: 'navigate', pv: true }]);
});
