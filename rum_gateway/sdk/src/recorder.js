/**
 * The in-memory model of what the page has seen, and the only place that decides what goes
 * into a beacon. Pure: no DOM and no clock (times are passed in), so Node tests drive it.
 *
 * A *view* is a page load or an SPA route change. Each keeps, until sent: whether its page
 * view was counted (`pv` goes out exactly once), its vitals (each at most once: its final
 * value), and the API calls and errors that happened while it was shown.
 *
 * INP and CLS belong to the route where they happened: every layout shift and interaction is
 * given to the view that was showing at its `startTime`, and each view computes its own
 * values with web-vitals' definitions (CLS: the largest session window, shifts < 1 s apart,
 * windows < 5 s long; INP: the longest interaction, skipping one per 50 interactions). They
 * are final when the view ends (sent with the next beacon) or when the page is hidden.
 *
 *   const rec = createRecorder({routeOf, maxItems: 40, onFull: flushSoon, cls: true});
 *   const home = rec._view('/', 'navigate', 0);
 *   rec._vital(home, 'TTFB', 120.3);
 *   rec._view('/products/42', 'soft', 1530.2);
 *   rec._api({method: 'GET', path: '/api/items/42', status: 200, ms: 81.5});
 *   rec._take(true);  // -> [{path: '/', nav: 'navigate', pv: true, vitals: {...}}, {...}]
 *
 * Properties starting with `_` are internal; the build shortens them (esbuild mangleProps).
 */

/** Errors kept per view: an error thrown in a render loop must not flood the beacon. */
export const MAX_ERRORS_PER_VIEW = 25;
const CANDIDATES = 10; // the longest interactions kept per view, as web-vitals does

/**
 * @param {{routeOf: (path: string) => (string|undefined), maxItems: number,
 *          onFull: () => void, cls: boolean}} o
 *   `maxItems`: page views + API calls + errors that make the batch full (`onFull` is
 *   called once); `cls`: whether the browser reports layout shifts (none is invented).
 */
export function createRecorder(o) {
  let cur = null; // the view on screen
  let open = []; // views still measuring CLS / INP, by start time; the last is `cur`
  let dirty = []; // views holding something not sent yet
  let items = 0;

  const touch = (v) => dirty.indexOf(v) < 0 && dirty.push(v);
  const queued = () => ++items === o.maxItems && o.onFull();

  function set(v, name, value) {
    if (v._ign || name in v._vitals || !(value >= 0)) return;
    v._vitals[name] = Math.round(value * (name === 'CLS' ? 1e4 : 10)) / (name === 'CLS' ? 1e4 : 10);
    touch(v);
  }

  /** The view an entry that started at `t` belongs to, while it still measures. */
  function owner(t) {
    for (let i = open.length; i--; ) if (open[i]._t <= t) return open[i]._done ? null : open[i];
    return null;
  }

  function finalize(v) {
    if (v._done) return;
    v._done = true;
    if (o.cls) set(v, 'CLS', v._cls);
    const c = v._ints;
    if (c.length) set(v, 'INP', c[Math.min(c.length - 1, Math.floor(v._n / 50))].d);
  }

  return {
    /**
     * Start a view at `t` (ms since navigation start); the previous one ends. An ignored
     * view (ignoreUrls) records nothing and takes nothing from the one before.
     */
    _view(path, nav, t, ignored) {
      const v = {
        path,
        route: ignored ? undefined : o.routeOf(path),
        nav,
        _t: t,
        _pv: !ignored,
        _ign: ignored,
        _done: ignored,
        _vitals: {},
        _sent: {},
        _api: [],
        _errors: [],
        _nErr: 0,
        _cls: 0, // largest session window so far
        _win: 0, // current session window
        _first: 0,
        _last: -1e9,
        _ints: [], // the longest interactions: {id, d}
        _n: 0, // interactions seen
        _maxId: 0,
      };
      cur = v;
      open.push(v);
      if (!ignored) touch(v);
      queued(); // ignored views count too: a flush is what trims `open`
      return v;
    },

    /** A vital measured for a given view (LCP, FCP, TTFB from web-vitals). */
    _vital(v, name, value) {
      set(v, name, value);
    },

    /** A layout shift without recent input, of `value`, at `t`. */
    _shift(value, t) {
      const v = owner(t);
      if (!v) return;
      if (t - v._last < 1000 && t - v._first < 5000) {
        v._win += value;
      } else {
        v._win = value;
        v._first = t;
      }
      v._last = t;
      if (v._win > v._cls) v._cls = v._win;
    },

    /** An Event Timing entry: interaction `id` (0: not an interaction) lasting `d` ms at `t`. */
    _interaction(id, d, t) {
      const v = owner(t);
      if (!v || !id) return;
      // interactionIds only grow, so a larger one is a new interaction.
      if (id > v._maxId) {
        v._n++;
        v._maxId = id;
      }
      // Entries of one interaction (pointerdown, pointerup, click) merge into its longest.
      const c = v._ints.filter((x) => x.id !== id || ((d = Math.max(d, x.d)), 0));
      c.push({ id, d });
      c.sort((a, b) => b.d - a.d);
      v._ints = c.slice(0, CANDIDATES);
    },

    /** An API call `{method, path, status, ms}` made while the current view was shown. */
    _api(call) {
      if (!cur || cur._ign) return;
      cur._api.push(call);
      touch(cur);
      queued();
    },

    /** An error on the current view; beyond MAX_ERRORS_PER_VIEW they are dropped. */
    _error(kind, fp) {
      if (!cur || cur._ign || cur._nErr++ >= MAX_ERRORS_PER_VIEW) return;
      cur._errors.push({ kind, fp });
      touch(cur);
      queued();
    },

    /** The view on screen. */
    _current: () => cur,

    /**
     * Everything not sent yet, as Beacon v1 views; marks it sent. Views that ended are
     * finalized; with `final` (the page is being hidden) the current one too.
     */
    _take(final) {
      open.forEach((v) => (final || v !== cur) && finalize(v));
      open = open.filter((v) => !v._done);
      const out = [];
      dirty.forEach((v) => {
        const r = { path: v.path, route: v.route, nav: v.nav, pv: v._pv };
        let vitals;
        for (const k in v._vitals) {
          if (!v._sent[k]) (vitals = vitals || {})[k] = v._vitals[k];
          v._sent[k] = 1;
        }
        if (vitals) r.vitals = vitals;
        if (v._api.length) r.api = v._api;
        if (v._errors.length) r.errors = v._errors;
        if (r.pv || vitals || r.api || r.errors) out.push(r);
        v._pv = false;
        v._api = [];
        v._errors = [];
      });
      dirty = cur && !cur._ign ? [cur] : [];
      items = 0;
      return out;
    },
  };
}
