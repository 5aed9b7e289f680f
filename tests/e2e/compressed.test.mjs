// Compressed assets over HTTP: weft sends the .br/.gz files the release build writes
// beside each asset (scripts/split-wasm.mjs) by Accept-Encoding, with Vary, the plain
// file's Content-Type, its caching, an ETag per representation and 304s. Uses Node's
// `http` (fetch would decompress and hide what is on the wire). Also checks that weft's
// default log filter keeps ruma's per-event auth-check lines out of the log.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import { brotliDecompressSync, gunzipSync } from 'node:zlib';
import { ROOT, saveArtifacts, startServer } from './harness.mjs';

const DIST = join(ROOT, 'dist');

/** One request; the body exactly as sent (no decoding). */
function request(base, path, headers = {}, method = 'GET') {
  return new Promise((ok, fail) => {
    const req = http.request(new URL(path, base), { method, headers, agent: false }, (res) => {
      const parts = [];
      res.on('data', (d) => parts.push(d));
      res.on('end', () => ok({ status: res.statusCode, headers: res.headers, body: Buffer.concat(parts) }));
      res.on('error', fail);
    });
    req.on('error', fail);
    req.end();
  });
}

// The files of the first load as scripts/size counts them, and its brotli total.
function sizeReport() {
  const out = execFileSync(process.execPath, [join(ROOT, 'scripts/size.mjs')], { encoding: 'utf8' });
  const lines = out.split('\n');
  const end = lines.findIndex((l) => l.startsWith('TOTAL (first load)'));
  assert.ok(end > 0, `scripts/size printed no first-load total:\n${out}`);
  const files = lines.slice(1, end).map((l) => l.split(/\s+/)[0]);
  const brotli = Number(lines[end].trim().split(/\s+/).at(-1));
  return { files, brotli };
}

// What index.html loads: its links, the inline bootstrap's imports and the wasm path.
function referencedAssets(html) {
  return [...new Set([...html.matchAll(/["'=](\/[\w.-]+\.[a-z0-9]+)/g)].map((m) => m[1].slice(1)))];
}

const TYPES = {
  html: 'text/html; charset=utf-8',
  js: 'text/javascript',
  wasm: 'application/wasm',
  css: 'text/css',
  svg: 'image/svg+xml',
};
const hashed = (file) => /-[0-9a-f]{12,16}(_bg)?\.[a-z0-9]+$/.test(file);
const vary = (res) => (res.headers.vary ?? '').toLowerCase().split(/\s*,\s*/);

test('weft serves brotli and gzip by Accept-Encoding, with Vary, ETags and 304s', async (t) => {
  assert.ok(existsSync(join(DIST, 'index.html.br')), 'dist/ has no index.html.br: build the client with `trunk build --release`');
  const server = await startServer({ defaultLog: true });
  try {
    const { base } = server;
    const index = await request(base, '/', { 'accept-encoding': 'identity' });
    assert.equal(index.status, 200);
    const assets = referencedAssets(index.body.toString('utf8'));
    for (const ext of ['js', 'wasm', 'css']) assert.ok(assets.some((a) => a.endsWith(`.${ext}`)), `index.html references no .${ext}: ${assets}`);
    const size = sizeReport();
    for (const a of assets) assert.ok(size.files.includes(a), `${a} (in index.html) is not in scripts/size's first load`);

    let wire = 0;
    for (const file of [...new Set(['index.html', ...assets, ...size.files])]) {
      const path = file === 'index.html' ? '/' : `/${file}`;
      const ext = file.split('.').at(-1);
      await t.test(file, async () => {
        const plain = await request(base, path, { 'accept-encoding': 'identity' });
        assert.equal(plain.status, 200);
        // The server embeds dist/ at build time: it must be the build measured here.
        assert.ok(plain.body.equals(readFileSync(join(DIST, file))), `${file} differs from dist/: rebuild the server after the client`);
        assert.equal(plain.headers['content-encoding'], undefined);
        const type = plain.headers['content-type'];
        if (TYPES[ext]) assert.equal(type, TYPES[ext]);
        const cache = hashed(file) ? 'public, max-age=31536000, immutable' : 'no-cache';
        if (file === 'index.html') assert.match(plain.headers['content-security-policy'] ?? '', /script-src 'self'/);

        const tags = new Set();
        for (const [accept, coding, decode] of [
          ['identity', undefined, (b) => b],
          ['br', 'br', brotliDecompressSync],
          ['gzip', 'gzip', gunzipSync],
          ['gzip, deflate, br, zstd', 'br', brotliDecompressSync], // what Chromium sends
          ['BR;q=0, GZip', 'gzip', gunzipSync], // q=0 refuses, tokens are case-insensitive
          ['br;q=0, gzip;q=0', undefined, (b) => b],
          ['gzip;q=1, br;q=0.5', 'gzip', gunzipSync],
          ['*;q=0, identity', undefined, (b) => b],
          ['br;q=abc', undefined, (b) => b], // a malformed weight drops the element
        ]) {
          const res = await request(base, path, { 'accept-encoding': accept });
          const what = `${file} with Accept-Encoding: ${accept}`;
          assert.equal(res.status, 200, what);
          assert.equal(res.headers['content-encoding'], coding, what);
          assert.equal(res.headers['content-type'], type, `${what}: the plain file's type`);
          assert.equal(res.headers['cache-control'], cache, what);
          assert.ok(vary(res).includes('accept-encoding'), `${what}: Vary is ${res.headers.vary}`);
          assert.equal(Number(res.headers['content-length']), res.body.length, what);
          assert.ok(decode(res.body).equals(plain.body), `${what}: decodes to the plain bytes`);
          if (coding) assert.ok(res.body.length < plain.body.length || plain.body.length < 100, `${what}: smaller than the plain file`);
          const onDisk = coding ? `${file}.${coding === 'br' ? 'br' : 'gz'}` : file;
          assert.equal(res.body.length, readFileSync(join(DIST, onDisk)).length, `${what}: the bytes of dist/${onDisk}`);
          assert.match(res.headers.etag ?? '', /^"[0-9a-f]+"$/, what);
          tags.add(`${coding}:${res.headers.etag}`);
        }
        // One ETag per representation, different between them.
        const byCoding = new Map([...tags].map((t) => t.split(':')));
        assert.equal(tags.size, 3, `${file}: one ETag per coding: ${[...tags]}`);
        assert.equal(new Set(byCoding.values()).size, 3, `${file}: the plain, br and gzip ETags differ: ${[...tags]}`);

        // Revalidation: the representation's own ETag (weak or strong) is a 304, another's is not.
        const brTag = byCoding.get('br');
        for (const inm of [brTag, `W/${brTag}`, `"nope", ${brTag}`, '*']) {
          const res = await request(base, path, { 'accept-encoding': 'br', 'if-none-match': inm });
          assert.equal(res.status, 304, `${file}: If-None-Match ${inm}`);
          assert.equal(res.body.length, 0);
          assert.equal(res.headers.etag, brTag);
          assert.ok(vary(res).includes('accept-encoding'));
          assert.equal(res.headers['cache-control'], cache);
        }
        const other = await request(base, path, { 'accept-encoding': 'br', 'if-none-match': byCoding.get('undefined') });
        assert.equal(other.status, 200, `${file}: the plain file's ETag does not validate the brotli one`);
        const plain304 = await request(base, path, { 'accept-encoding': 'identity', 'if-none-match': byCoding.get('undefined') });
        assert.equal(plain304.status, 304);

        // HEAD: the headers of GET, no body.
        const head = await request(base, path, { 'accept-encoding': 'br' }, 'HEAD');
        assert.equal(head.status, 200);
        assert.equal(head.headers['content-encoding'], 'br');
        assert.equal(head.headers.etag, brTag);
        assert.equal(head.body.length, 0);

        // The precompressed files are not resources of their own.
        if (file !== 'index.html') {
          for (const suffix of ['.br', '.gz']) assert.equal((await request(base, `${path}${suffix}`)).status, 404, `${path}${suffix}`);
        }
      });
    }

    // The first load on the wire is the brotli size scripts/size reports (within 2 %).
    for (const file of size.files) {
      const res = await request(base, file === 'index.html' ? '/' : `/${file}`, { 'accept-encoding': 'gzip, deflate, br, zstd' });
      wire += res.body.length;
    }
    assert.ok(Math.abs(wire - size.brotli) <= size.brotli * 0.02, `first load on the wire ${wire} bytes, scripts/size says ${size.brotli} brotli`);
    const wasm = assets.find((a) => a.endsWith('_bg.wasm'));
    const wasmBr = await request(base, `/${wasm}`, { 'accept-encoding': 'gzip, deflate, br, zstd' });
    assert.equal(wasmBr.body.length, readFileSync(join(DIST, `${wasm}.br`)).length, 'the wasm on the wire is its brotli size');

    // A client route is index.html, compressed the same way.
    const route = await request(base, '/room/!abc:localhost', { 'accept-encoding': 'br' });
    assert.equal(route.headers['content-encoding'], 'br');
    assert.equal(route.headers['content-type'], TYPES.html);
    assert.ok(brotliDecompressSync(route.body).equals(index.body));

    // Hostile Accept-Encoding headers: huge (60 KB) or junk, answered at once and sanely.
    const huge = `${'x-junk;q=0.5;a=b;=, '.repeat(3000)}br`;
    const started = Date.now();
    const hugeRes = await request(base, `/${wasm}`, { 'accept-encoding': huge });
    assert.equal(hugeRes.status, 200);
    assert.equal(hugeRes.headers['content-encoding'], 'br');
    assert.ok(Date.now() - started < 2000, `a 60 KB Accept-Encoding took ${Date.now() - started} ms`);
    for (const junk of [',,,;;;', ';q=1', 'br;q=0.5.5', 'br;q=1.001, gzip;q=9', '\u00ff\u00fe', 'identity;q=0']) {
      const res = await request(base, `/${wasm}`, { 'accept-encoding': junk });
      assert.equal(res.status, 200, junk);
      assert.equal(res.headers['content-encoding'], undefined, junk);
      assert.equal(res.body.length, readFileSync(join(DIST, wasm)).length, junk);
    }
  } catch (e) {
    await saveArtifacts('compressed', {}, server);
    throw e;
  } finally {
    await server.stop();
  }
});

test("weft's default log filter keeps ruma's auth checks out of the log", async () => {
  const server = await startServer({ defaultLog: true });
  try {
    const api = async (method, path, body, token) => {
      const res = await fetch(`${server.base}/_matrix/client/v3${path}`, {
        method,
        headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
        body: JSON.stringify(body),
      });
      assert.equal(res.status, 200, `${method} ${path}: ${await res.clone().text()}`);
      return res.json();
    };
    const { access_token: token } = await api('POST', '/register', { username: 'alice', password: 'a-password-1', auth: { type: 'm.login.dummy' } });
    const { room_id: room } = await api('POST', '/createRoom', { name: 'Quiet' }, token);
    for (let i = 0; i < 3; i++) {
      await api('PUT', `/rooms/${encodeURIComponent(room)}/send/m.room.message/q${i}`, { msgtype: 'm.text', body: `hello ${i}` }, token);
    }
    const log = server.log();
    // INFO lines are written (so this check could see one) ...
    assert.match(log, /INFO.*registered/, `weft logged nothing at INFO:\n${log}`);
    // ... but not ruma's two or three per accepted event.
    assert.doesNotMatch(log, /allowing event passed all checks/);
  } catch (e) {
    await saveArtifacts('quiet-log', {}, server);
    throw e;
  } finally {
    await server.stop();
  }
});
