/**
 * twinlens browser SDK: real-user monitoring for Prometheus, through the twinlens gateway.
 *
 *   import { init } from './twinlens-rum.mjs';
 *   init({ app: 'shop', endpoint: 'https://rum.example.com/v1/beacon',
 *          routes: ['/products/:id'], sampleRate: 0.5 });
 *
 * It measures Core Web Vitals (LCP, FCP, TTFB with Google's web-vitals; INP and CLS per
 * route), page views and SPA route changes with their navigation type, JS errors, and the
 * fetch / XHR calls the page makes; batches them in memory; and sends Beacon v1 on
 * `visibilitychange` -> hidden and `pagehide`, or as soon as a batch fills.
 */

import { onFCP } from 'web-vitals/onFCP.js';
import { onLCP } from 'web-vitals/onLCP.js';
import { onTTFB } from 'web-vitals/onTTFB.js';
import { watchApi } from './api.js';
import { encode } from './beacon.js';
import { describeError } from './errors.js';
import { guard } from './guard.js';
import { configure } from './options.js';
import { createRecorder } from './recorder.js';
import { isSampled, sessionSeed } from './sampling.js';
import { send } from './transport.js';
import { matcher, parseUrl } from './url.js';

/** Page views + API calls + errors that fill a batch, which is then sent at once. */
export const MAX_ITEMS = 40;
/** Marks a running SDK on window, so two copies (tag and module) never both wrap fetch. */
const RUNNING = '__twinlens';

const on = (type, fn, capture) => addEventListener(type, guard(fn), capture);
const log = (...a) => console.log('[twinlens]', ...a);

function supports(type) {
  const P = window.PerformanceObserver;
  return !!P && (P.supportedEntryTypes || []).indexOf(type) >= 0;
}

/** The hard navigation's type, in Beacon v1 terms. */
function navType() {
  const e = performance.getEntriesByType('navigation')[0] || {};
  if (e.activationStart > 0) return 'prerender';
  if (document.wasDiscarded) return 'restore';
  return /^(reload|back_forward|prerender)$/.test(e.type) ? e.type : 'navigate';
}

function start(c, handle) {
  const debug = c.debug ? log : () => {};
  const now = () => performance.now();
  const origin = location.origin;
  const ignored = matcher(c.ignoreUrls, origin);
  const include = matcher(c.apiInclude, origin);
  const exclude = matcher(c.apiExclude, origin);
  const nativeFetch = window.fetch; // unwrapped: our own fallback request is never an API call
  const observers = [];
  let busy = false;

  const rec = createRecorder({
    routeOf: c.routeOf,
    maxItems: MAX_ITEMS,
    // At once: a beacon never holds more than MAX_ITEMS events (the gateway's max_events
    // defaults to 200), however many calls resolve in one task.
    onFull: () => flush(),
    cls: supports('layout-shift'),
  });
  const page = (nav, t) => {
    const u = parseUrl(location.href) || { path: '/' };
    return rec._view(u.path, nav, t, ignored(u.abs));
  };

  function flush(final) {
    if (busy) return; // beforeSend calling fetch must not re-enter
    busy = true;
    try {
      observers.forEach((o) => o[0].takeRecords().forEach(o[1]));
      let beacon = { v: 1, app: c.app, sr: c.sampleRate };
      const conn = navigator.connection;
      if (conn && /^(slow-2g|2g|3g|4g)$/.test(conn.effectiveType)) beacon.conn = conn.effectiveType;
      beacon.views = rec._take(final === true);
      if (!beacon.views.length) return;
      if (c.beforeSend) {
        try {
          beacon = c.beforeSend(beacon);
        } catch (e) {
          beacon = debug('beforeSend threw', e);
        }
        if (!beacon || !beacon.views || !beacon.views.length) return debug('beforeSend dropped the beacon');
      }
      encode(beacon).forEach((body) => debug('sent by', send(c.endpoint, body, navigator, nativeFetch), body));
    } catch (e) {
      debug('flush failed', e);
    } finally {
      busy = false;
    }
  }

  // Registered before web-vitals' own listener: a bfcache restore must start its view before
  // web-vitals reports that view's TTFB.
  on('pageshow', (e) => e.persisted && (hard = page('back_forward_cache', e.timeStamp)), true);
  let hard = page(navType(), 0); // the view LCP, FCP and TTFB belong to
  const onMetric = guard((m) => rec._vital(hard, m.name, m.value));
  onTTFB(onMetric);
  onFCP(onMetric);
  onLCP(onMetric);

  // A browser refusing one entry type loses that metric, not the rest of the SDK.
  const observe = guard((type, fn, extra) => {
    if (!supports(type)) return;
    fn = guard(fn);
    const po = new PerformanceObserver((list) => list.getEntries().forEach(fn));
    po.observe(Object.assign({ type, buffered: true }, extra));
    observers.push([po, fn]);
  });
  observe('layout-shift', (e) => e.hadRecentInput || rec._shift(e.value, e.startTime));
  const onEvent = (e) => rec._interaction(e.interactionId, e.duration, e.startTime);
  // 16 ms is the smallest threshold allowed: per-route INP needs the short interactions too.
  observe('event', onEvent, { durationThreshold: 16 });
  observe('first-input', onEvent);

  const routeChange = guard(() => {
    const u = parseUrl(location.href);
    if (u && u.path !== rec._current().path) page('soft', now());
  });
  ['pushState', 'replaceState'].forEach((m) => {
    const orig = history[m];
    history[m] = function () {
      const r = orig.apply(this, arguments);
      routeChange();
      return r;
    };
  });
  on('popstate', routeChange);

  const onError = (e) => {
    const d = describeError(e);
    if (d) rec._error(d.kind, d.fp);
  };
  on('error', onError);
  on('unhandledrejection', onError);

  watchApi(
    window,
    (url) => {
      const u = parseUrl(url, location.href);
      return u && u.abs !== c.endpointAbs && include(u.abs) && !exclude(u.abs) ? u.path : '';
    },
    (method, path, status, ms) => rec._api({ method, path, status, ms: Math.round(ms * 10) / 10 }),
    now,
  );

  // The bubble phase on window runs after web-vitals' capture-phase listeners, so the LCP
  // they finalize on hide is recorded before this beacon is built.
  on('visibilitychange', () => document.visibilityState === 'hidden' && flush(true));
  on('pagehide', () => flush(true));

  handle.flush = guard(flush);
  debug('started', c);
}

/**
 * Start measuring. Returns a handle whose `flush()` sends what is batched now, or null when
 * the options are invalid (the problems go to console.warn). Calling init again returns the
 * first handle; a session outside the sample rate gets a handle that does nothing.
 *
 * Options: app and endpoint (required), sampleRate (0 < r <= 1, default 1), routes (path
 * templates, '/products/:id'), route (path => template), ignoreUrls (pages not measured),
 * apiUrls ({include, exclude}; default: same-origin calls), beforeSend (beacon => beacon or
 * null to drop it), debug (log to the console).
 */
export function init(options) {
  try {
    if (window[RUNNING]) return window[RUNNING];
    const [c, problems] = configure(options, location.href);
    if (!c) {
      console.warn('[twinlens] not started:\n  ' + problems.join('\n  '));
      return null;
    }
    const handle = { flush() {} };
    window[RUNNING] = handle;
    let storage = null;
    try {
      storage = window.sessionStorage;
    } catch (e) {
      // blocked (sandboxed iframe): the seed is then per page
    }
    if (!isSampled(sessionSeed(storage), c.sampleRate)) {
      if (c.debug) log('session not sampled at', c.sampleRate);
    } else if (document.prerendering) {
      // A prerendered page counts only once the user actually sees it.
      addEventListener('prerenderingchange', guard(() => start(c, handle)), { once: true });
    } else {
      start(c, handle);
    }
    return handle;
  } catch (e) {
    return null;
  }
}
