/**
 * Session sampling, decided once per tab session and deterministically: a random seed in
 * [0, 1) is drawn on the first page of the session and kept in sessionStorage (the only
 * storage the SDK touches); a session is sampled when `seed < sampleRate`. Every page of the
 * session therefore makes the same decision, and raising the rate only adds sessions.
 *
 *   isSampled(sessionSeed(window.sessionStorage), 0.25)
 *
 * Where sessionStorage is unavailable (sandboxed iframes, some privacy modes) the seed is
 * drawn per page: the rate still holds on average.
 */

export const SEED_KEY = 'twinlens:seed';

/** The session's seed, created and stored on first use. */
export function sessionSeed(storage, random = Math.random) {
  try {
    const kept = storage ? storage.getItem(SEED_KEY) : null;
    const n = kept === null ? NaN : Number(kept);
    if (n >= 0 && n < 1) return n;
  } catch (e) {
    // storage blocked: fall through to a per-page seed
  }
  const seed = random();
  try {
    if (storage) storage.setItem(SEED_KEY, String(seed));
  } catch (e) {
    // quota or blocked: the decision is per page then
  }
  return seed;
}

/** Whether a session with this seed is sampled at `rate` (0 < rate <= 1). */
export function isSampled(seed, rate) {
  return seed < rate;
}
