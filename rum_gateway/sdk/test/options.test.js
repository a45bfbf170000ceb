import assert from 'node:assert/strict';
import { test } from 'node:test';
import { OPTIONS, configure } from '../src/options.js';

const PAGE = 'https://shop.example.com/products/42?q=1';

test('the smallest options get every default', () => {
  const [c, problems] = configure({ app: 'shop', endpoint: 'https://rum.example.com/v1/beacon' }, PAGE);
  assert.deepEqual(problems, []);
  assert.equal(c.app, 'shop');
  assert.equal(c.endpoint, 'https://rum.example.com/v1/beacon');
  assert.equal(c.endpointAbs, 'https://rum.example.com/v1/beacon');
  assert.equal(c.sampleRate, 1);
  assert.deepEqual(c.ignoreUrls, []);
  assert.deepEqual(c.apiInclude, ['/']);
  assert.deepEqual(c.apiExclude, []);
  assert.equal(c.beforeSend, undefined);
  assert.equal(c.debug, false);
  assert.equal(c.routeOf('/products/42'), undefined);
});

test('a relative endpoint resolves against the page; its query is kept for sending only', () => {
  const [c] = configure({ app: 'shop', endpoint: '/rum/v1/beacon?k=1' }, PAGE);
  assert.equal(c.endpoint, 'https://shop.example.com/rum/v1/beacon?k=1');
  assert.equal(c.endpointAbs, 'https://shop.example.com/rum/v1/beacon');
});

test('every problem is reported at once, with the option name', () => {
  const [c, problems] = configure(
    { sampleRate: 2, sampleRatee: 0.5, routes: ['products/:id'], route: 'x', ignoreUrls: [1], apiUrls: { inclde: [] }, beforeSend: {}, debug: 'yes' },
    PAGE,
  );
  assert.equal(c, null);
  assert.deepEqual(problems, [
    'sampleRatee: unknown option',
    'app: required: a gateway app name',
    'endpoint: required: an http(s) URL',
    'sampleRate: must be a number in (0, 1], got 2',
    'routes: must be a list of paths like /items/:id, got object',
    'route: must be a function, got string',
    'ignoreUrls: must be a list of strings or RegExps, got object',
    'apiUrls: must be {include, exclude} lists, got object',
    'beforeSend: must be a function, got object',
    'debug: must be a boolean, got string',
  ]);
});

test('sample rates outside (0, 1] and non-http endpoints are refused', () => {
  for (const sampleRate of [0, -0.1, 1.01, NaN, '0.5']) {
    const [c, problems] = configure({ app: 'a', endpoint: '/b', sampleRate }, PAGE);
    assert.equal(c, null, String(sampleRate));
    assert.equal(problems.length, 1);
    assert.match(problems[0], /^sampleRate: must be a number in \(0, 1\]/);
  }
  assert.equal(configure({ app: 'a', endpoint: '/b', sampleRate: 0.01 }, PAGE)[0].sampleRate, 0.01);
  assert.deepEqual(configure({ app: 'a', endpoint: 'ftp://x/y' }, PAGE)[1], ['endpoint: must be an http(s) URL, got string']);
  assert.deepEqual(configure(null, PAGE)[1], ['options: expected an object']);
});

test('the route function wins; templates answer when it has no answer or fails', () => {
  const [c] = configure(
    {
      app: 'a',
      endpoint: '/b',
      routes: ['/products/:id', '/cart'],
      route: (path) => {
        if (path === '/boom') throw new Error('app bug');
        return path.startsWith('/blog/') ? '/blog/{slug}' : null;
      },
    },
    PAGE,
  );
  assert.equal(c.routeOf('/blog/hello'), '/blog/{slug}');
  assert.equal(c.routeOf('/products/7'), '/products/{id}');
  assert.equal(c.routeOf('/boom'), undefined);
  assert.equal(c.routeOf('/nowhere'), undefined);
  const [long] = configure({ app: 'a', endpoint: '/b', route: () => '/' + 'r'.repeat(1000) }, PAGE);
  assert.equal(long.routeOf('/x').length, 200);
});

test('the documented option list', () => {
  assert.deepEqual(OPTIONS, ['app', 'endpoint', 'sampleRate', 'routes', 'route', 'ignoreUrls', 'apiUrls', 'beforeSend', 'debug']);
});
