/**
 * Beacon v1 encoding, split so that no request body exceeds MAX_BYTES. Browsers give all
 * in-flight keepalive requests (sendBeacon and fetch keepalive) 64 KiB together and refuse a
 * body over the limit outright, so one oversized beacon would lose everything.
 *
 *   encode({v: 1, app: 'shop', sr: 1, views: [...]})  // -> ['{"v":1,"app":"shop",...}', ...]
 *
 * Too big: the views are halved until each body fits. A single view too big on its own (an
 * API-heavy page) is split in two: the first part keeps `pv` and the vitals, the second
 * carries the rest of its API calls and errors with `pv: false`, so the gateway still counts
 * the view exactly once. A view that cannot be split and still does not fit is dropped.
 */

export const MAX_BYTES = 60000;

/** UTF-8 length of a string, without allocating. */
export function utf8Length(s) {
  let n = s.length;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    // 2 bytes up to U+07FF, 3 above; a surrogate pair (2 UTF-16 units) is 4.
    if (c > 0x7f) n += c > 0x7ff && (c < 0xd800 || c > 0xdfff) ? 2 : 1;
  }
  return n;
}

function half(list, first) {
  const h = Math.ceil(list.length / 2);
  return first ? list.slice(0, h) : list.slice(h);
}

function part(view, first) {
  const p = first ? Object.assign({}, view) : { path: view.path, route: view.route, nav: view.nav, pv: false };
  const api = half(view.api || [], first);
  const errors = half(view.errors || [], first);
  delete p.api;
  delete p.errors;
  if (api.length) p.api = api;
  if (errors.length) p.errors = errors;
  return p;
}

/** JSON bodies for `beacon`, each at most `max` bytes, together carrying all its views. */
export function encode(beacon, max = MAX_BYTES) {
  const body = JSON.stringify(beacon);
  const views = beacon.views;
  if (utf8Length(body) <= max) return [body];
  const at = views.length >> 1;
  const with_ = (vs) => encode(Object.assign({}, beacon, { views: vs }), max);
  if (at) return with_(views.slice(0, at)).concat(with_(views.slice(at)));
  const v = views[0];
  if (!v || (v.api || []).length + (v.errors || []).length < 2) return [];
  return with_([part(v, 1)]).concat(with_([part(v, 0)]));
}
