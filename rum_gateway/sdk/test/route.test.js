import assert from 'node:assert/strict';
import { test } from 'node:test';
import { compileRoutes } from '../src/route.js';

test('templates with :name and {name} placeholders match one segment each', () => {
  const routeOf = compileRoutes(['/products/:id', '/users/{user}/orders/{order}']);
  assert.equal(routeOf('/products/42'), '/products/{id}');
  assert.equal(routeOf('/products/42/'), '/products/{id}');
  assert.equal(routeOf('/users/ann/orders/7'), '/users/{user}/orders/{order}');
  assert.equal(routeOf('/products/42/reviews'), undefined);
  assert.equal(routeOf('/products/'), undefined);
  assert.equal(routeOf('/products'), undefined);
});

test('the first matching template wins and a trailing * takes the rest', () => {
  const routeOf = compileRoutes(['/docs/intro', '/docs/*', '/:page']);
  assert.equal(routeOf('/docs/intro'), '/docs/intro');
  assert.equal(routeOf('/docs/a/b/c'), '/docs/*');
  assert.equal(routeOf('/about'), '/{page}');
  assert.equal(routeOf('/'), undefined);
});

test('regex characters in templates are literal', () => {
  const routeOf = compileRoutes(['/files/{name}.pdf', '/a+b/(x)']);
  assert.equal(routeOf('/files/report.pdf'), '/files/{name}.pdf');
  assert.equal(routeOf('/files/reportXpdf'), undefined);
  assert.equal(routeOf('/a+b/(x)'), '/a+b/(x)');
  assert.equal(routeOf('/aab/x'), undefined);
});

test('{name*} is the rest of the path, as in the gateway config', () => {
  const routeOf = compileRoutes(['/help/{page*}', '/p/{id}']);
  assert.equal(routeOf('/help/billing/refunds'), '/help/{page*}');
  assert.equal(routeOf('/help/'), '/help/{page*}');
  assert.equal(routeOf('/p/1/2'), undefined);
});

test('root and no templates', () => {
  assert.equal(compileRoutes(['/'])('/'), '/');
  assert.equal(compileRoutes(['/'])('/x'), undefined);
  assert.equal(compileRoutes([])('/anything'), undefined);
});
