/**
 * Lab Web Vitals for twinlens browser journeys (exporter/probers/browser.py).
 *
 * Built to dist/twinlens-probe-vitals.js and injected by the browser prober into every page
 * of a run (Playwright `addInitScript`), so synthetic runs are measured by the same
 * `web-vitals` package, at the same version, as the RUM SDK measures real users.
 *
 * Each document reports every change of LCP, FCP, TTFB, CLS and INP to the prober's
 * binding `window.__twinlensProbeVital({doc, name, value})` (values in milliseconds as
 * browsers give them, CLS unitless), so a value survives the journey navigating away.
 * `window.__twinlensProbeVitals.snapshot()` resolves, after the next two frames and an idle
 * period, with the current document's values: the prober calls it when the journey ends so a paint that
 * happened just before is not missed. Nothing is sent anywhere; only the main frame runs it.
 */

import { onCLS } from 'web-vitals/onCLS.js';
import { onFCP } from 'web-vitals/onFCP.js';
import { onINP } from 'web-vitals/onINP.js';
import { onLCP } from 'web-vitals/onLCP.js';
import { onTTFB } from 'web-vitals/onTTFB.js';

const KEY = '__twinlensProbeVitals';
const BINDING = '__twinlensProbeVital';
/** Longest a snapshot waits for frames (a page that never paints still answers). */
const SNAPSHOT_WAIT_MS = 500;

(function start() {
  try {
    if (window !== window.top || window[KEY]) return;
  } catch (e) {
    return; // a cross-origin parent: not the main frame
  }
  const doc = performance.timeOrigin.toFixed(3) + '-' + Math.random().toString(36).slice(2, 8);
  const values = {};

  function report(metric) {
    values[metric.name] = metric.value;
    try {
      const binding = window[BINDING];
      if (typeof binding === 'function') {
        binding({ doc, name: metric.name, value: metric.value }).catch(() => {});
      }
    } catch (e) {
      // the prober reads values with snapshot() anyway
    }
  }

  function snapshot() {
    return new Promise((resolve) => {
      let done = false;
      const finish = () => {
        if (!done) {
          done = true;
          resolve({ doc, values: Object.assign({}, values) });
        }
      };
      setTimeout(finish, SNAPSHOT_WAIT_MS);
      // Two frames (paint entries are dispatched), then idle: web-vitals processes INP
      // entries in an idle callback, which runs before this later one.
      const idle = window.requestIdleCallback || ((fn) => setTimeout(fn, 0));
      requestAnimationFrame(() => requestAnimationFrame(() => idle(() => setTimeout(finish, 0))));
    });
  }

  Object.defineProperty(window, KEY, { value: { doc, snapshot }, enumerable: false });
  const all = { reportAllChanges: true };
  onTTFB(report, all);
  onFCP(report, all);
  onLCP(report, all);
  onCLS(report, all);
  // 16 ms, the smallest threshold allowed: a journey's few clicks are all measured.
  onINP(report, { reportAllChanges: true, durationThreshold: 16 });
})();
