// Prints the web client's download size (raw / gzip -9 / brotli -q 11) per file in
// dist/: first the first load (HTML, JS glue, the wasm-split loader, main wasm, CSS,
// icon) and its total, then the lazily loaded wasm chunks (split_*/chunk_*, written by
// scripts/split-wasm.mjs and fetched only when a split function is first called) and
// theirs. With --max BYTES, fails when the brotli total of the first load is larger;
// lazy chunks do not count. Uses Node's zlib (the same brotli and gzip libraries as the
// command-line tools), so it needs nothing else. The precompressed X.br and X.gz that
// release builds write beside each file (scripts/split-wasm.mjs) are other encodings of X,
// already counted in its gzip and brotli columns, so they are not listed as files.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { brotliCompressSync, constants, gzipSync } from 'node:zlib';

const dist = join(import.meta.dirname, '..', 'dist');
const args = process.argv.slice(2);
const max = args[0] === '--max' ? Number(args[1]) : null;
if (args.length && (max === null || !Number.isFinite(max))) {
  console.error('usage: scripts/size [--max BYTES]');
  process.exit(2);
}
let files;
try {
  files = readdirSync(dist).filter((f) => !/\.(br|gz)$/.test(f) && statSync(join(dist, f)).isFile()).sort();
} catch {
  console.error('dist/ is missing: build the client first (./scripts/run, or trunk build --release).');
  process.exit(1);
}
const isLazy = (f) => /^(split|chunk)_.*\.wasm$/.test(f);
const row = (name, a, b, c) => console.log(`${name.padEnd(44)} ${String(a).padStart(10)} ${String(b).padStart(10)} ${String(c).padStart(10)}`);
const sizes = (f) => {
  const data = readFileSync(join(dist, f));
  return [
    data.length,
    gzipSync(data, { level: 9 }).length,
    brotliCompressSync(data, { params: { [constants.BROTLI_PARAM_QUALITY]: 11, [constants.BROTLI_PARAM_SIZE_HINT]: data.length } }).length,
  ];
};
const table = (names, totalLabel) => {
  const total = [0, 0, 0];
  for (const f of names) {
    const s = sizes(f);
    s.forEach((n, i) => { total[i] += n; });
    row(f, ...s);
  }
  row(totalLabel, ...total);
  return total;
};

row('file', 'raw', 'gzip', 'brotli');
const first = table(files.filter((f) => !isLazy(f)), 'TOTAL (first load)');
const lazy = files.filter(isLazy);
if (lazy.length) {
  console.log('\nLazily loaded chunks (fetched on first use, not part of the first load):');
  table(lazy, 'TOTAL (lazy chunks)');
}
if (max !== null) {
  if (first[2] > max) {
    console.error(`The client's first load is ${first[2]} bytes brotli, over the budget of ${max}. Trim it, or move code behind a #[wasm_split] split point, before landing.`);
    process.exit(1);
  }
  console.log(`First load: ${first[2]} bytes brotli, within the budget of ${max}.`);
}
