/**
 * `init()` options: checked once, all problems reported together, defaults in one place.
 * A bad option stops the SDK with one console warning instead of half-working; nothing is
 * thrown into the page, and an unknown option (a typo) is a problem too.
 *
 *   configure({app: 'shop', sampleRate: 2, sampleRatee: 1}, location.href)
 *   // -> [null, ['endpoint: required: an http(s) URL',
 *   //            'sampleRate: must be a number in (0, 1], got 2',
 *   //            'sampleRatee: unknown option']]
 */

import { compileRoutes } from './route.js';
import { parseUrl } from './url.js';

const MAX_ROUTE = 200;

const isFn = (x) => typeof x === 'function';
const isPatterns = (x) => Array.isArray(x) && x.every((p) => p instanceof RegExp || (typeof p === 'string' && !!p));
const PATTERNS = 'a list of strings or RegExps';

/** option -> [check, what it must be, required] */
const SPEC = {
  app: [(x) => typeof x === 'string' && !!x, 'a gateway app name', 1],
  endpoint: [(x, base) => typeof x === 'string' && !!parseUrl(x, base), 'an http(s) URL', 1],
  sampleRate: [(x) => typeof x === 'number' && x > 0 && x <= 1, 'a number in (0, 1]'],
  routes: [(x) => Array.isArray(x) && x.every((r) => typeof r === 'string' && r.charAt(0) === '/'), 'a list of paths like /items/:id'],
  route: [isFn, 'a function'],
  ignoreUrls: [isPatterns, PATTERNS],
  apiUrls: [(x) => !!x && typeof x === 'object' && Object.keys(x).every((k) => (k === 'include' || k === 'exclude') && isPatterns(x[k])), '{include, exclude} lists'],
  beforeSend: [isFn, 'a function'],
  debug: [(x) => typeof x === 'boolean', 'a boolean'],
};

/** The options `init()` accepts. */
export const OPTIONS = Object.keys(SPEC);

/**
 * Validate `o` and fill defaults: `[config, []]`, or `[null, problems]`.
 * `base` (the page URL) resolves a relative endpoint and is the page's own origin.
 */
export function configure(o, base) {
  if (!o || typeof o !== 'object') return [null, ['options: expected an object']];
  const problems = [];
  for (const k in o) if (!SPEC[k]) problems.push(k + ': unknown option');
  OPTIONS.forEach((k) => {
    const [check, what, required] = SPEC[k];
    if (o[k] === undefined) {
      if (required) problems.push(k + ': required: ' + what);
    } else if (!check(o[k], base)) {
      problems.push(k + ': must be ' + what + ', got ' + (typeof o[k] === 'number' ? o[k] : typeof o[k]));
    }
  });
  if (problems.length) return [null, problems];

  const templates = compileRoutes(o.routes || []);
  const fn = o.route;
  const api = o.apiUrls || {};
  return [
    {
      app: o.app,
      endpoint: new URL(o.endpoint, base).href,
      endpointAbs: parseUrl(o.endpoint, base).abs,
      sampleRate: o.sampleRate || 1,
      // The app's own function first; when it fails or has no answer, the templates.
      routeOf(path) {
        let r;
        try {
          r = fn && fn(path);
        } catch (e) {
          r = undefined;
        }
        if (typeof r !== 'string' || !r) r = templates(path);
        return r ? r.slice(0, MAX_ROUTE) : undefined;
      },
      ignoreUrls: o.ignoreUrls || [],
      apiInclude: api.include || ['/'],
      apiExclude: api.exclude || [],
      beforeSend: o.beforeSend,
      debug: !!o.debug,
    },
    [],
  ];
}
