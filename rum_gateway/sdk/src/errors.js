/**
 * Error fingerprints: a short, fixed-length hash that groups the same error across pages and
 * users without sending its text. Messages can hold personal data and stack traces can hold
 * URLs with tokens, so only `kind` and an 8-hex-digit FNV-1a hash leave the page.
 *
 *   describeError({type: 'error', message: 'x is undefined', filename: 'https://a/app.js?v=3',
 *                  lineno: 10, colno: 5})
 *   // -> {kind: 'error', fp: '<8 hex digits>'}
 *
 * Digits in messages are folded (`index 7` and `index 9` are one error) and script URLs lose
 * their query string, so cache-busting versions do not split a fingerprint.
 */

import { parseUrl } from './url.js';

/** 32-bit FNV-1a of a string, as 8 lowercase hex digits. */
export function fnv1a(s) {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return ((h >>> 0) + 0x100000000).toString(16).slice(1);
}

/** `{kind, fp}` for an ErrorEvent or a PromiseRejectionEvent, or null for anything else. */
export function describeError(ev) {
  const kind = ev.type;
  const r = ev.reason;
  let msg;
  let where = '';
  if (kind === 'unhandledrejection') {
    // Never call an arbitrary object's toString(): it is page code and may throw or be slow.
    msg = r instanceof Error ? r.name + ': ' + r.message : typeof r === 'string' || typeof r === 'number' ? r : typeof r;
  } else if (kind === 'error' && typeof ev.message === 'string') {
    msg = ev.message;
    const src = parseUrl(ev.filename || '');
    where = (src ? src.abs : '') + ':' + (ev.lineno | 0) + ':' + (ev.colno | 0);
  } else {
    return null;
  }
  return { kind, fp: fnv1a(kind + '|' + String(msg).slice(0, 300).replace(/\d+/g, '0') + '|' + where) };
}
