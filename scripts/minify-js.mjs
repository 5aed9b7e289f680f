// Trunk post_build hook: minifies the wasm-bindgen JS glue with terser in
// release builds (Trunk's own JS minifier fails on the glue and leaves it as
// is), renames it after its new content (hashed files are cached as immutable)
// and updates its name and Subresource Integrity hash in index.html.
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { minify } from 'terser';

const staging = process.env.TRUNK_STAGING_DIR;
if (!staging) throw new Error('TRUNK_STAGING_DIR is not set: run this as a Trunk hook');
if (process.env.TRUNK_PROFILE !== 'release') process.exit(0);

const digest = (data, encoding) => createHash('sha384').update(data).digest(encoding);
const htmlPath = join(staging, 'index.html');
let html = readFileSync(htmlPath, 'utf8');
for (const name of readdirSync(staging).filter((f) => f.endsWith('.js'))) {
  const source = readFileSync(join(staging, name), 'utf8');
  const { code } = await minify(source, { module: true, compress: { passes: 2 }, mangle: true });
  const oldSri = `sha384-${digest(source, 'base64')}`;
  if (!html.includes(oldSri)) throw new Error(`index.html has no integrity ${oldSri} for ${name}`);
  // Trunk's `name-<hash>.js` (up to 16 hex digits: it drops leading zeros): a new hash
  // for the new content.
  const newName = name.replace(/-[0-9a-f]{12,16}\.js$/, `-${digest(code, 'hex').slice(0, 16)}.js`);
  html = html.replaceAll(oldSri, `sha384-${digest(code, 'base64')}`).replaceAll(`/${name}`, `/${newName}`);
  writeFileSync(join(staging, name), code);
  renameSync(join(staging, name), join(staging, newName));
}
writeFileSync(htmlPath, html);
