/**
 * API timing as the browser sees it: `fetch` and `XMLHttpRequest` are wrapped so each call
 * the page makes is reported as (method, path, status, ms). Both are timed to the arrival of
 * the response headers, so one histogram holds both kinds; a network error or an abort
 * before any response reports status 0.
 *
 *   watchApi(window, (url) => pathToReportOrEmpty(url), report, () => performance.now());
 *
 * The wrappers never change what the page sees: the original promise is returned as it is,
 * arguments pass through untouched, and the bookkeeping runs guarded on a side branch.
 */

import { guard } from './guard.js';

/**
 * @param {Window} win  the global whose fetch / XMLHttpRequest get wrapped
 * @param {(url: string) => string} want  the path to report for a URL, or '' to skip it
 * @param {(method: string, path: string, status: number, ms: number) => void} report
 * @param {() => number} now
 */
export function watchApi(win, want, report, now) {
  const done = guard(report);
  // What to report for a call, or undefined: [method, path, start].
  const track = guard((method, url) => {
    const path = want(String(url));
    return path ? [String(method || 'GET').toUpperCase(), path, now()] : undefined;
  });
  const end = (c, status) => done(c[0], c[1], status, now() - c[2]);

  const f = win.fetch;
  if (typeof f === 'function') {
    win.fetch = function (input, init) {
      const c = track((init && init.method) || (input && input.method), (input && input.url) || input);
      const p = f.apply(this, arguments);
      if (c) {
        guard(() =>
          p.then(
            (r) => end(c, r.status),
            () => end(c, 0),
          ),
        )();
      }
      return p;
    };
  }

  const X = win.XMLHttpRequest;
  if (typeof X === 'function') {
    const proto = X.prototype;
    const open = proto.open;
    const send = proto.send;
    const calls = new WeakMap();
    proto.open = function (method, url) {
      try {
        calls.set(this, track(method, url));
      } catch (e) {
        // not a real XHR: open() below reports that to the page as it always would
      }
      return open.apply(this, arguments);
    };
    proto.send = function () {
      const xhr = this;
      const c = calls.get(xhr);
      if (c) {
        calls.delete(xhr); // one report per send
        // readyState 2: headers arrived; 4 without 2: a network error or an abort.
        const onChange = guard(() => {
          if (xhr.readyState >= 2) {
            xhr.removeEventListener('readystatechange', onChange);
            end(c, xhr.status);
          }
        });
        xhr.addEventListener('readystatechange', onChange);
      }
      return send.apply(this, arguments);
    };
  }
}
