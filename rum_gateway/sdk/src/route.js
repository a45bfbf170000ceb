/**
 * Route templating: turn `/products/42` into the app's own template `/products/{id}` so the
 * gateway gets a bounded label instead of one value per product.
 *
 *   const routeOf = compileRoutes(['/products/:id', '/docs/{page*}']);
 *   routeOf('/products/42')  // -> '/products/{id}'
 *   routeOf('/docs/a/b')     // -> '/docs/{page*}'
 *   routeOf('/elsewhere')    // -> undefined (the gateway collapses ids itself)
 *
 * Placeholders are `:name` or `{name}` and match within one path segment; `*` or `{name*}`
 * (the gateway's own syntax) match the rest of the path, slashes included. `:name` is
 * reported in the `{name}` form the gateway uses.
 * The first matching template wins, so list specific templates before general ones.
 */

const TOKEN = /\{[^/{}]+\}|\*/g;

function escapeRe(s) {
  return s.replace(/[.+?^${}()|[\]\\]/g, '\\$&');
}

/** Compile templates once; returns `path -> template | undefined`. */
export function compileRoutes(templates) {
  const compiled = templates.map((t) => {
    const name = t.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
    let src = '';
    let last = 0;
    name.replace(TOKEN, (tok, at) => {
      src += escapeRe(name.slice(last, at)) + (/\*}?$/.test(tok) ? '.*' : '[^/]+');
      last = at + tok.length;
      return tok;
    });
    src += escapeRe(name.slice(last));
    // One trailing slash is the same page: `/cart/` matches `/cart`.
    return [new RegExp('^' + src.replace(/\/$/, '') + '/?$'), name];
  });
  return (path) => {
    for (let i = 0; i < compiled.length; i++) {
      if (compiled[i][0].test(path)) return compiled[i][1];
    }
    return undefined;
  };
}
