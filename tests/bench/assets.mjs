// First-load bytes as weft serves them: each file the browser fetched for the sign-in
// page, fetched again with plain Node http (no decoding on the way) asking for
// `Accept-Encoding: br, gzip`, as a browser does. "Wire" is the body bytes that crossed
// the socket; "raw" the decoded size; "brotli" the decoded file at quality 11, computed
// here the way scripts/size does, which is what an ideal server would send.

import { request } from 'node:http';
import { brotliCompressSync, brotliDecompressSync, constants, gunzipSync, inflateSync } from 'node:zlib';

function get(url) {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers: { 'accept-encoding': 'br, gzip' } }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

function decode(body, encoding) {
  switch ((encoding ?? 'identity').trim().toLowerCase()) {
    case 'identity': return body;
    case 'br': return brotliDecompressSync(body);
    case 'gzip': case 'x-gzip': return gunzipSync(body);
    case 'deflate': return inflateSync(body);
    default: throw new Error(`unknown Content-Encoding ${encoding}`);
  }
}

const brotli = (data) => brotliCompressSync(data, {
  params: { [constants.BROTLI_PARAM_QUALITY]: 11, [constants.BROTLI_PARAM_SIZE_HINT]: data.length },
}).length;

/** Measures `urls` (same-origin files of the first load); rows in the order given. */
export async function firstLoadBytes(urls) {
  const rows = [];
  for (const url of urls) {
    const res = await get(url);
    if (res.status !== 200) throw new Error(`GET ${url}: ${res.status}`);
    const encoding = res.headers['content-encoding'] ?? 'identity';
    const raw = decode(res.body, encoding);
    const length = res.headers['content-length'];
    if (length !== undefined && Number(length) !== res.body.length) {
      throw new Error(`GET ${url}: Content-Length ${length} but ${res.body.length} body bytes`);
    }
    rows.push({
      path: new URL(url).pathname,
      encoding,
      raw: raw.length,
      wire: res.body.length,
      brotli: brotli(raw),
    });
  }
  const total = (key) => rows.reduce((sum, r) => sum + r[key], 0);
  return { rows, raw: total('raw'), wire: total('wire'), brotli: total('brotli') };
}
