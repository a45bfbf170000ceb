import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MAX_PATH, matcher, parseUrl } from '../src/url.js';

const PAGE = 'https://shop.example.com/cart?coupon=SECRET#top';

test('query strings and fragments never survive', () => {
  assert.deepEqual(parseUrl('/api/items/7?token=s3cret&email=a%40b.c#frag', PAGE), {
    abs: 'https://shop.example.com/api/items/7',
    path: '/api/items/7',
  });
  assert.deepEqual(parseUrl(PAGE), { abs: 'https://shop.example.com/cart', path: '/cart' });
  assert.deepEqual(parseUrl('https://user:pw@api.example.com:8443/v2/x?y=1'), {
    abs: 'https://api.example.com:8443/v2/x',
    path: '/v2/x',
  });
  assert.deepEqual(parseUrl('items?page=2', 'https://shop.example.com/api/'), {
    abs: 'https://shop.example.com/api/items',
    path: '/api/items',
  });
});

test('non-http URLs and garbage are refused', () => {
  assert.equal(parseUrl('data:text/plain,hi', PAGE), null);
  assert.equal(parseUrl('blob:https://shop.example.com/1234', PAGE), null);
  assert.equal(parseUrl('javascript:alert(1)', PAGE), null);
  assert.equal(parseUrl('http://[bad', PAGE), null);
  assert.equal(parseUrl('/relative-without-base'), null);
});

test('paths are bounded', () => {
  const long = '/' + 'a'.repeat(5000);
  const u = parseUrl(long, PAGE);
  assert.equal(u.path.length, MAX_PATH);
  assert.equal(u.abs, 'https://shop.example.com' + u.path);
});

test('matcher: path prefixes on the own origin, URL prefixes, RegExps', () => {
  const m = matcher(['/admin', 'https://api.example.com/v2/', /\/health$/g], 'https://shop.example.com');
  assert.equal(m('https://shop.example.com/admin/users'), true);
  assert.equal(m('https://other.example.com/admin/users'), false);
  assert.equal(m('https://api.example.com/v2/items'), true);
  assert.equal(m('https://api.example.com/v1/items'), false);
  // a /g RegExp keeps lastIndex between calls; the matcher must not depend on it
  assert.equal(m('https://x.example.com/health'), true);
  assert.equal(m('https://x.example.com/health'), true);
  assert.equal(m('https://shop.example.com/'), false);
  assert.equal(matcher([], 'https://a')('https://a/x'), false);
});
