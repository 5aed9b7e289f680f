// Prints the web client's download size (raw / gzip -9 / brotli -q 11) per file
// in dist/ and in total. With --max BYTES, fails when the brotli total of the
// first load (every file in dist/) is larger. Uses Node's zlib (the same brotli
// and gzip libraries as the command-line tools), so it needs nothing else.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { brotliCompressSync, constants, gzipSync } from 'node:zlib';

const dist = join(import.meta.dirname, '..', 'dist');
const args = process.argv.slice(2);
const max = args[0] === '--max' ? Number(args[1]) : null;
let files;
try {
  files = readdirSync(dist).filter((f) => statSync(join(dist, f)).isFile()).sort();
} catch {
  console.error('dist/ is missing: build the client first (./scripts/run, or trunk build --release).');
  process.exit(1);
}
const row = (name, a, b, c) => console.log(`${name.padEnd(44)} ${String(a).padStart(10)} ${String(b).padStart(10)} ${String(c).padStart(10)}`);
row('file', 'raw', 'gzip', 'brotli');
const total = [0, 0, 0];
for (const f of files) {
  const data = readFileSync(join(dist, f));
  const sizes = [
    data.length,
    gzipSync(data, { level: 9 }).length,
    brotliCompressSync(data, { params: { [constants.BROTLI_PARAM_QUALITY]: 11, [constants.BROTLI_PARAM_SIZE_HINT]: data.length } }).length,
  ];
  sizes.forEach((s, i) => { total[i] += s; });
  row(f, ...sizes);
}
row('TOTAL', ...total);
if (max !== null) {
  if (total[2] > max) {
    console.error(`The client's first load is ${total[2]} bytes brotli, over the budget of ${max}. Trim it before landing.`);
    process.exit(1);
  }
  console.log(`First load: ${total[2]} bytes brotli, within the budget of ${max}.`);
}
