/**
 * Delivery of one encoded beacon. `navigator.sendBeacon` with a string body is a `text/plain`
 * POST: a CORS "simple" request, so no preflight, and the browser keeps it alive through
 * unload. When it is missing or refuses (over the keepalive budget, or disabled), the same
 * body goes with `fetch(..., {keepalive: true})`, credentials omitted and mode `no-cors`,
 * since the response is never read.
 *
 *   send('https://rum.example.com/v1/beacon', body, navigator, window.fetch)  // -> 'beacon'
 *
 * Returns how it went out ('beacon', 'fetch') or '' when neither could be used.
 */
export function send(url, body, nav, fetchFn) {
  try {
    if (nav && typeof nav.sendBeacon === 'function' && nav.sendBeacon(url, body)) return 'beacon';
  } catch (e) {
    // some browsers throw on a blocked URL: try fetch
  }
  try {
    if (typeof fetchFn === 'function') {
      const p = fetchFn(url, { method: 'POST', body, keepalive: true, mode: 'no-cors', credentials: 'omit' });
      if (p && typeof p.catch === 'function') p.catch(() => {});
      return 'fetch';
    }
  } catch (e) {
    // nothing more to try: the data is lost, the page is not
  }
  return '';
}
