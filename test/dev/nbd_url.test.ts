/*
 * NBD URLs: what parses to which host, port, socket and export, and what is
 * refused with which reason.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isNbdUrl, parseNbdUrl } from '../../src/dev/nbd_url.js';

test('nbd:// and nbd+unix:// URLs parse to their host, port or socket, and export', () => {
  const ok: Array<[string, unknown]> = [
    ['nbd://example.org', { kind: 'tcp', host: 'example.org', port: 10809, exportName: '' }],
    ['nbd://127.0.0.1:1234/', { kind: 'tcp', host: '127.0.0.1', port: 1234, exportName: '' }],
    ['nbd://127.0.0.1:1234/disk', { kind: 'tcp', host: '127.0.0.1', port: 1234, exportName: 'disk' }],
    ['nbd://h//abs/name', { kind: 'tcp', host: 'h', port: 10809, exportName: '/abs/name' }],
    ['nbd://h/my%20disk%2Fx', { kind: 'tcp', host: 'h', port: 10809, exportName: 'my disk/x' }],
    ['nbd://[::1]:99/e', { kind: 'tcp', host: '::1', port: 99, exportName: 'e' }],
    ['NBD://h:/e', { kind: 'tcp', host: 'h', port: 10809, exportName: 'e' }],
    ['nbd+unix:///e?socket=/run/nbd.sock', { kind: 'unix', path: '/run/nbd.sock', exportName: 'e' }],
    ['nbd+unix://?socket=%2Ftmp%2Fa%20b', { kind: 'unix', path: '/tmp/a b', exportName: '' }],
  ];
  for (const [url, target] of ok) {
    assert.ok(isNbdUrl(url), url);
    assert.deepEqual(parseNbdUrl(url), { target, reason: '' }, url);
  }
});

test('malformed NBD URLs are refused with the reason', () => {
  const bad: Array<[string, RegExp]> = [
    ['nbd://', /no host/],
    ['nbd://h:0/', /bad port 0/],
    ['nbd://h:65536/', /bad port 65536/],
    ['nbd://h:12ab/', /bad host/],
    ['nbd://user@h/', /user names/],
    ['nbd://h/e?tls=on', /query parameters/],
    ['nbd://h/e#frag', /fragment/],
    ['nbd://h/%zz', /percent-encoding/],
    ['nbd://h/a%00b', /NUL/],
    [`nbd://h/${'x'.repeat(4097)}`, /longer than 4096 bytes/],
    ['nbd+unix:///e', /needs \?socket=PATH/],
    ['nbd+unix://h/e?socket=/s', /takes no host/],
    ['nbd+unix:///e?socket=/s&x=1', /unsupported NBD URL parameter 'x'/],
    ['nbd+unix:///e?socket=/s&socket=/t', /bad query/],
    ['nbd+tcp://h/', /not an NBD URL/],
  ];
  for (const [url, reason] of bad) {
    const r = parseNbdUrl(url);
    assert.equal(r.target, null, url);
    assert.match(r.reason, reason, url);
  }
  assert.ok(!isNbdUrl('disk.img') && !isNbdUrl('./nbd://x') && !isNbdUrl('nbd:/x'));
});
