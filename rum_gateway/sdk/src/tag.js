/**
 * The `<script>` tag build (twinlens-rum.js): starts itself from its own tag's attributes and
 * exposes `window.twinlens.init` for pages that want the options only code can give.
 *
 *   <script src="https://rum.example.com/sdk.js" data-app="shop" async></script>
 *   <script src="https://rum.example.com/sdk.js" data-app="shop"
 *           data-endpoint="https://rum.example.com/v1/beacon" data-sample-rate="0.25" async></script>
 *
 * The endpoint defaults to `<origin of the script src>/v1/beacon`, for the tag and for
 * `window.twinlens.init({...})` alike. Without `data-app` nothing starts until init is called.
 */

import { init } from './index.js';

(function () {
  try {
    const script = document.currentScript;
    let endpoint;
    try {
      endpoint = new URL('/v1/beacon', script.src).href;
    } catch (e) {
      endpoint = undefined; // inline or unknown source: init() will ask for an endpoint
    }
    const api = {
      init: (o) => init(Object.assign(endpoint ? { endpoint } : {}, o)),
    };
    window.twinlens = api;
    const d = script && script.dataset;
    if (d && d.app) {
      const o = { app: d.app };
      if (d.endpoint) o.endpoint = d.endpoint;
      if (d.sampleRate !== undefined) o.sampleRate = Number(d.sampleRate);
      if (d.debug !== undefined) o.debug = true;
      api.init(o);
    }
  } catch (e) {
    // never into the page
  }
})();
