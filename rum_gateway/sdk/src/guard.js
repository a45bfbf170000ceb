/**
 * `guard(fn)`: the same function, except that it never throws. Every listener, wrapper and
 * callback the SDK puts into a page goes through it: a monitoring script must not break the
 * page it monitors, whatever the browser or the page does.
 *
 *   addEventListener('pagehide', guard(() => flush(true)));
 */
export function guard(fn) {
  return function () {
    try {
      return fn.apply(this, arguments);
    } catch (e) {
      return undefined;
    }
  };
}
