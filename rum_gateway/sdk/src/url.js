/**
 * URL helpers: everything that leaves the page goes through here first, so query strings
 * and fragments (where tokens, e-mail addresses and search terms live) are dropped early.
 *
 *   parseUrl('/api/items/7?token=s3cret#x', 'https://shop.example.com/cart')
 *   // -> {abs: 'https://shop.example.com/api/items/7', path: '/api/items/7'}
 */

/** Longest path kept; longer ones are cut so one odd URL cannot bloat a beacon. */
export const MAX_PATH = 512;

/**
 * Resolve `url` against `base` and strip its query and fragment.
 * Returns null for what is not http(s) (data:, blob:, about:) or cannot be parsed.
 */
export function parseUrl(url, base) {
  try {
    const u = new URL(String(url), base);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') return null;
    const path = u.pathname.slice(0, MAX_PATH);
    return { abs: u.origin + path, path };
  } catch (e) {
    return null;
  }
}

/**
 * A predicate over absolute URLs (no query string) built from user patterns.
 * A RegExp is tested against the absolute URL; a string is a prefix of it, and a string
 * starting with `/` is a path prefix on the page's own origin.
 *
 *   matcher(['/admin', /\/health$/], 'https://shop.example.com')('https://shop.example.com/admin/users')
 *   // -> true
 */
export function matcher(patterns, origin) {
  return (abs) =>
    patterns.some((p) => {
      if (p instanceof RegExp) {
        p.lastIndex = 0; // a /g pattern keeps state between calls
        return p.test(abs);
      }
      return abs.indexOf(p.charAt(0) === '/' ? origin + p : p) === 0;
    });
}
