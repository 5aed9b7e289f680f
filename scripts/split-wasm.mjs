// Trunk post_build hook: rebuilds the web client's wasm part so that functions marked
// `#[wasm_split(...)]` load lazily, as separate wasm chunks, on first call.
//
// Trunk cannot split: it runs wasm-bindgen straight after cargo. So index.html tells
// Trunk not to run wasm-opt (data-wasm-opt="0"), and this hook redoes the wasm part from
// cargo's raw output (which keeps the linker's relocations, see web/build.rs):
//   raw wasm -> wasm-split-cli (main wasm + split_*/chunk_* chunks + __wasm_split.js loader;
//               skipped when the build has no split point)
//            -> wasm-bindgen --target web (main wasm only)
//            -> wasm-opt with index.html's data-wasm-opt-params (main + chunks; release only)
//            -> terser (JS glue + loader; release only: Trunk's minifier cannot parse them)
//            -> content-hashed names (cached as immutable by the server), the chunk fetches
//               checked by Subresource Integrity, a modulepreload (with SRI) for the loader,
//               and Trunk's unsplit JS and wasm swapped for ours in index.html
//            -> X.br (brotli 11) and X.gz (gzip 9) beside every file in dist/, index.html
//               too (release only), which weft serves to browsers that accept them.
// Works for `trunk build`, `trunk build --release` and `trunk serve`.
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, dirname, join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { brotliCompress, constants as zlib, gzip } from 'node:zlib';

const ROOT = resolve(import.meta.dirname, '..');
const SETUP = 'run scripts/setup.sh (or ./scripts/run, which runs it) to install the build tools';
// Lazy chunks as wasm-split-cli names them (split_<module>, chunk_<n> for code shared by
// several split modules); scripts/size.mjs counts them apart from the first load.
const CHUNK = /^(split|chunk)_\w+\.wasm$/;

class HookError extends Error {}
const fail = (message) => { throw new HookError(message); };

// ---- what Trunk built, and how ------------------------------------------------------

function env(name) {
  return process.env[name] || fail(`${name} is not set: this script is a Trunk post_build hook (see Trunk.toml), not a command to run by hand.`);
}

function attributes(tag) {
  const attrs = {};
  for (const [, key, dq, sq, bare] of tag.matchAll(/([\w-]+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+)))?/g)) {
    attrs[key.toLowerCase()] = dq ?? sq ?? bare ?? '';
  }
  return attrs;
}

// The `<link data-trunk rel="rust">` in the source index.html: Trunk builds from it.
function rustLink(htmlFile) {
  const links = [...readFileSync(htmlFile, 'utf8').matchAll(/<link\b[^>]*>/gi)]
    .map(([tag]) => attributes(tag.slice(5)))
    .filter((a) => 'data-trunk' in a && a.rel === 'rust');
  if (links.length !== 1) fail(`${htmlFile} must have exactly one <link data-trunk rel="rust">; it has ${links.length}.`);
  const link = links[0];
  if (link['data-wasm-opt'] !== '0') {
    fail(`${htmlFile}: the rust link needs data-wasm-opt="0". wasm-opt must run after splitting, so this hook runs it (with data-wasm-opt-params).`);
  }
  // Options of Trunk's rust pipeline that change wasm-bindgen's output or the file layout;
  // this hook would silently drop them, so refuse instead.
  const unsupported = ['data-bindgen-target', 'data-type', 'data-target-path', 'data-loader-shim', 'data-keep-debug',
    'data-no-demangle', 'data-reference-types', 'data-weak-refs', 'data-typescript', 'data-wasm-no-import',
    'data-wasm-import-name', 'data-initializer']
    .filter((a) => a in link && !(a === 'data-bindgen-target' && link[a] === 'web') && !(a === 'data-type' && link[a] === 'main'));
  if (unsupported.length) fail(`${htmlFile}: scripts/split-wasm.mjs does not handle ${unsupported.join(', ')} on the rust link; teach it or drop the attribute.`);
  return link;
}

function cargoMetadata(manifest) {
  const out = run('cargo', ['metadata', '--format-version', '1', '--no-deps', '--offline', '--manifest-path', manifest], { capture: true });
  return JSON.parse(out);
}

// cargo's own wasm, before wasm-bindgen: where Trunk's `cargo build` left it.
function rawWasm(link, htmlDir, release) {
  let manifest = resolve(htmlDir, link.href || 'Cargo.toml');
  if (!manifest.endsWith('Cargo.toml')) manifest = join(manifest, 'Cargo.toml');
  const meta = cargoMetadata(manifest);
  const pkg = meta.packages.find((p) => resolve(p.manifest_path) === manifest);
  if (!pkg) fail(`cargo metadata does not list the package of ${manifest}.`);
  // Trunk's artifact name: data-bin, else the package name.
  const name = link['data-bin'] || pkg.name;
  if (!pkg.targets.some((t) => t.kind.includes('bin') && t.name === name)) fail(`${pkg.name} has no binary named ${name} (data-bin in index.html).`);
  // Trunk's choice of profile: the link's data-cargo-profile-{release,dev}, then
  // data-cargo-profile, then --cargo-profile; else release or dev.
  const profile = link[release ? 'data-cargo-profile-release' : 'data-cargo-profile-dev'] || link['data-cargo-profile']
    || process.env.TRUNK_BUILD_CARGO_PROFILE || (release ? 'release' : 'dev');
  const dir = profile === 'dev' ? 'debug' : profile;
  const path = join(meta.target_directory, 'wasm32-unknown-unknown', dir, `${name}.wasm`);
  if (!existsSync(path)) fail(`cargo's wasm is not at ${path} (bin ${name}, profile ${profile}); did Trunk build with another profile?`);
  return { name, path, targetDir: meta.target_directory, workspaceRoot: meta.workspace_root };
}

// The imports and the sections of a wasm module: enough to tell whether it has split
// points and whether the linker kept its relocations, and to drop those.
function wasmInfo(bytes) {
  if (bytes.readUInt32BE(0) !== 0x0061736d) fail('cargo output is not a wasm module');
  let pos = 8;
  const u32 = () => { let result = 0, shift = 0, byte; do { byte = bytes[pos++]; result += (byte & 0x7f) * 2 ** shift; shift += 7; } while (byte & 0x80); return result; };
  const name = () => { const len = u32(); const s = bytes.toString('utf8', pos, pos + len); pos += len; return s; };
  const limits = () => { const flags = bytes[pos++]; u32(); if (flags & 1) u32(); };
  const imports = [];
  const sections = []; // { start, end, custom: name of a custom section }
  while (pos < bytes.length) {
    const start = pos;
    const id = bytes[pos++];
    const size = u32();
    const end = pos + size;
    sections.push({ start, end, custom: id === 0 ? name() : undefined });
    if (id === 2) {
      for (let n = u32(); n > 0; n--) {
        const module = name();
        const field = name();
        const kind = bytes[pos++];
        if (kind === 0) u32(); // function: type index
        else if (kind === 1) { pos++; limits(); } // table: reftype, limits
        else if (kind === 2) limits(); // memory
        else if (kind === 3) pos += 2; // global: valtype, mutability
        else if (kind === 4) { pos++; u32(); } // tag
        else fail(`unknown wasm import kind ${kind}`);
        imports.push({ module, field });
      }
    }
    pos = end;
  }
  return { imports, sections };
}

// The module without the linker's relocations (`linking` and `reloc.*`): wasm-opt cannot
// optimise a module that has them, and only wasm-split-cli needs them.
function withoutRelocs(bytes, sections) {
  const isReloc = (c) => c === 'linking' || c?.startsWith('reloc.');
  return Buffer.concat([bytes.subarray(0, 8), ...sections.filter((s) => !isReloc(s.custom)).map((s) => bytes.subarray(s.start, s.end))]);
}

// ---- tools --------------------------------------------------------------------------

// The first `name` on PATH, in ~/.cargo/bin or in node_modules/.bin (or $envVar) whose
// `--version` output contains `version`, when one is asked for.
function findTool(name, envVar, version) {
  const dirs = [
    ...(process.env.PATH || '').split(delimiter).filter(Boolean),
    join(process.env.CARGO_HOME || join(homedir(), '.cargo'), 'bin'),
    join(ROOT, 'node_modules', '.bin'),
  ];
  const candidates = (process.env[envVar] ? [process.env[envVar]] : dirs.map((dir) => join(dir, name))).filter((path) => {
    try {
      return statSync(path).isFile();
    } catch {
      return false;
    }
  });
  const seen = [];
  for (const path of new Set(candidates)) {
    if (!version) return path;
    const result = spawnSync(path, ['--version'], { encoding: 'utf8' });
    const said = `${result.stdout ?? ''}`.trim();
    if (said.split(/[\s()]+/).includes(version)) return path;
    seen.push(`${path} (${said || 'no version'})`);
  }
  const where = process.env[envVar] ? `${envVar}=${process.env[envVar]}` : 'PATH, ~/.cargo/bin or node_modules/.bin';
  if (!seen.length) fail(`${name} was not found (${where}): ${SETUP}, or set ${envVar}.`);
  return fail(`${name} ${version} is needed, but found only ${seen.join(', ')}: ${SETUP}.`);
}

function run(cmd, args, { capture = false } = {}) {
  const result = spawnSync(cmd, args, { stdio: ['ignore', capture ? 'pipe' : 'inherit', 'inherit'], encoding: 'utf8', maxBuffer: 1 << 28 });
  if (result.error) fail(`could not run ${cmd}: ${result.error.message}`);
  if (result.status !== 0) fail(`${cmd} ${args.join(' ')} failed (exit ${result.status ?? result.signal}); see its message above.`);
  return result.stdout;
}

function lockVersion(workspaceRoot, crate) {
  const lock = readFileSync(join(workspaceRoot, 'Cargo.lock'), 'utf8');
  return lock.match(new RegExp(`\\nname = "${crate}"\\nversion = "([^"]+)"`))?.[1];
}

// A version pinned in Trunk.toml's [tools], e.g. wasm_opt = "version_132".
function trunkToolVersion(dir, tool) {
  const file = process.env.TRUNK_CONFIG || join(dir, 'Trunk.toml');
  if (!existsSync(file) || statSync(file).isDirectory()) return undefined;
  return readFileSync(file, 'utf8').match(new RegExp(`^\\s*${tool}\\s*=\\s*"([^"]+)"`, 'm'))?.[1];
}

// ---- precompression ----------------------------------------------------------------

// Files whose bytes are text: brotli's text mode tunes its context modelling for UTF-8.
const TEXT = /\.(html|js|mjs|css|svg|json|txt|map)$/;
// Written by compress() itself: never compressed again (a rebuild starts from Trunk's fresh
// staging folder, but a hand-run second pass must not make X.br.gz).
const COMPRESSED = /\.(br|gz)$/;

// Writes X.br and X.gz beside every file in `dir` (the web server picks one by
// Accept-Encoding, so a self-hoster without a reverse proxy still ships brotli). Brotli at
// quality 11 with the size hint, as scripts/size measures it; gzip at level 9 for clients
// without brotli. Node's zlib runs these on its thread pool, so the files go in parallel.
async function compress(dir) {
  const brotli = promisify(brotliCompress);
  const gz = promisify(gzip);
  const files = readdirSync(dir).filter((f) => !COMPRESSED.test(f) && statSync(join(dir, f)).isFile());
  let raw = 0, br = 0;
  await Promise.all(files.map(async (f) => {
    const data = readFileSync(join(dir, f));
    const [b, g] = await Promise.all([
      brotli(data, {
        params: {
          [zlib.BROTLI_PARAM_QUALITY]: zlib.BROTLI_MAX_QUALITY,
          [zlib.BROTLI_PARAM_SIZE_HINT]: data.length,
          [zlib.BROTLI_PARAM_MODE]: TEXT.test(f) ? zlib.BROTLI_MODE_TEXT : zlib.BROTLI_MODE_GENERIC,
        },
      }),
      gz(data, { level: zlib.Z_BEST_COMPRESSION }),
    ]);
    writeFileSync(join(dir, `${f}.br`), b);
    writeFileSync(join(dir, `${f}.gz`), g);
    raw += data.length;
    br += b.length;
  }));
  console.log(`split-wasm: precompressed ${files.length} files (.br, .gz): ${kib(raw)} -> ${kib(br)} brotli`);
}

// ---- the pipeline -------------------------------------------------------------------

const sri = (data, algorithm = 'sha384') => `${algorithm}-${createHash(algorithm).update(data).digest('base64')}`;
const hash16 = (...parts) => {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest('hex').slice(0, 16);
};
const kib = (n) => `${(n / 1024).toFixed(1)} KiB`;
const escapeRe = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

async function main() {
  const staging = env('TRUNK_STAGING_DIR');
  const htmlFile = env('TRUNK_HTML_FILE');
  const release = env('TRUNK_PROFILE') === 'release';
  const publicUrl = process.env.TRUNK_PUBLIC_URL || '/';
  const link = rustLink(htmlFile);
  const raw = rawWasm(link, dirname(htmlFile), release);
  const { name } = raw;

  const rawBytes = readFileSync(raw.path);
  const info = wasmInfo(rawBytes);
  const splitPoints = info.imports.filter((i) => /^__wasm_split_00.*00_import_[0-9a-f]{32}/.test(i.field));
  if (splitPoints.length && !info.sections.some((s) => s.custom === 'reloc.CODE')) {
    fail(`${raw.path} has split points but no relocations: web/build.rs must pass --emit-relocs to the linker (cargo:rustc-link-arg-bins=--emit-relocs).`);
  }

  // Every tool first, so that a missing one stops the build before any work.
  // wasm-bindgen-cli must equal Cargo.lock's wasm-bindgen; wasm-opt is pinned in Trunk.toml.
  const wasmBindgen = findTool('wasm-bindgen', 'WASM_BINDGEN', lockVersion(raw.workspaceRoot, 'wasm-bindgen'));
  const splitter = splitPoints.length ? findTool('wasm-split-cli', 'WASM_SPLIT_CLI') : null;
  const wasmOpt = release ? findTool('wasm-opt', 'WASM_OPT', trunkToolVersion(dirname(htmlFile), 'wasm_opt')) : null;
  let minify = async (code) => code;
  if (release) {
    let terser;
    try {
      terser = await import('terser');
    } catch {
      fail(`the npm package terser is missing (it minifies the JS in release builds): ${SETUP}.`);
    }
    minify = async (code) => (await terser.minify(code, { module: true, compress: { passes: 2 }, mangle: true })).code;
  }

  // Scratch space beside Trunk's own (target/wasm-bindgen/<mode>).
  const work = join(raw.targetDir, 'wasm-split', release ? 'release' : 'debug');
  rmSync(work, { recursive: true, force: true });
  mkdirSync(join(work, 'bindgen'), { recursive: true });

  // 1. split (if there is anything to split) and bind.
  const bindgenInput = join(work, `${name}.wasm`);
  let loader = null;
  if (splitPoints.length) {
    run(splitter, [raw.path, work, '--target', 'web', '--out-name', name]);
    loader = readFileSync(join(work, '__wasm_split.js'), 'utf8');
  } else {
    // Nothing to split: the same wasm-bindgen input Trunk would use without --emit-relocs.
    writeFileSync(bindgenInput, withoutRelocs(rawBytes, info.sections));
  }
  const bindgenArgs = ['--target', 'web', '--no-typescript', '--out-dir', join(work, 'bindgen'), '--out-name', name];
  // The chunks import the main module's linker exports (memory, table, shared functions)
  // by their raw names, so wasm-bindgen must keep them and not demangle them.
  if (loader) bindgenArgs.push('--keep-lld-exports', '--no-demangle');
  run(wasmBindgen, [...bindgenArgs, bindgenInput]);
  const mainWasmPath = join(work, 'bindgen', `${name}_bg.wasm`);
  const chunks = loader ? readdirSync(work).filter((f) => CHUNK.test(f)).sort() : [];

  // 2. wasm-opt: Trunk's own run is off (data-wasm-opt="0"); the flags stay in index.html.
  if (release) {
    const params = (link['data-wasm-opt-params'] || '-Oz').split(/\s+/).filter(Boolean);
    for (const file of [mainWasmPath, ...chunks.map((f) => join(work, f))]) run(wasmOpt, [...params, file, '-o', file]);
  }
  // 3. chunks get content-hashed names; the loader fetches each with its SRI hash.
  const outputs = new Map(); // file name -> contents
  const lazy = [];
  for (const f of chunks) {
    const data = readFileSync(join(work, f));
    const hashed = f.replace(/\.wasm$/, `-${hash16(data)}.wasm`);
    const fetchCall = `fetch(new URL("./${f}", import.meta.url))`;
    if (!loader.includes(fetchCall)) fail(`__wasm_split.js does not fetch ${f} as expected (${fetchCall}); has wasm-split-cli changed?`);
    loader = loader.replaceAll(fetchCall, `fetch(new URL("./${hashed}", import.meta.url), { integrity: "${sri(data)}" })`);
    outputs.set(hashed, data);
    lazy.push(`${hashed} (${kib(data.length)})`);
  }
  // Any unhashed chunk name left is a chunk that the splitter did not write.
  const unfetched = [...loader?.matchAll(/new URL\("\.\/((?:split|chunk)_\w+\.wasm)"/g) ?? []].map((m) => m[1]);
  if (unfetched.length) fail(`__wasm_split.js fetches ${unfetched.join(', ')}, which wasm-split-cli did not write.`);

  // 4. The glue and the loader import each other, so neither can be named after its final
  // text alone: the glue (and the main wasm beside it, as Trunk pairs them) is named after
  // everything it pulls in, then the loader after its text with that name in it.
  let glue = readFileSync(join(work, 'bindgen', `${name}.js`), 'utf8');
  const mainWasm = readFileSync(mainWasmPath);
  const base = `${name}-${hash16(glue, loader ?? '', mainWasm)}`;
  let loaderName = null;
  if (loader) {
    const toGlue = `from "./${name}.js"`;
    if (!loader.includes(toGlue)) fail(`__wasm_split.js does not import ./${name}.js as expected.`);
    loader = await minify(loader.replace(toGlue, `from "./${base}.js"`));
    loaderName = `__wasm_split-${hash16(loader)}.js`;
    // Only the import specifiers change: the imports-object key "./__wasm_split.js" is the
    // module name in the wasm's import section and must stay. wasm-bindgen writes one import
    // per split module (the same file each time): every one is renamed.
    const importRe = /(import \* as [\w$]+ from )(["'])\.\/__wasm_split\.js\2/g;
    if (!importRe.test(glue)) fail(`the wasm-bindgen glue does not import ./__wasm_split.js as expected.`);
    glue = glue.replace(importRe, `$1"./${loaderName}"`);
    if (/from\s*(["'])\.\/__wasm_split\.js\1/.test(glue)) fail('the wasm-bindgen glue still imports ./__wasm_split.js after renaming it.');
    outputs.set(loaderName, loader);
  }
  glue = await minify(glue);
  outputs.set(`${base}.js`, glue);
  outputs.set(`${base}_bg.wasm`, mainWasm);

  // 5. Swap Trunk's unsplit glue and wasm for ours in index.html: names, and the SRI
  // hashes on the <link> tags that preload them (when Trunk wrote any: data-integrity).
  const htmlPath = join(staging, 'index.html');
  let html = readFileSync(htmlPath, 'utf8');
  const trunkFile = new RegExp(`^${escapeRe(name)}(-[0-9a-f]{1,16})?(\\.js|_bg\\.wasm)$`);
  const trunkFiles = readdirSync(staging).filter((f) => trunkFile.test(f));
  let glueSri = null; // the algorithm of the glue's integrity, if it has one
  for (const suffix of ['.js', '_bg.wasm']) {
    const found = trunkFiles.filter((f) => f.endsWith(suffix));
    if (found.length !== 1) fail(`expected one ${name}*${suffix} from Trunk in ${staging}, found ${found.length}.`);
    const old = found[0];
    const ours = `${base}${suffix}`;
    if (!html.includes(old)) fail(`index.html does not mention ${old}.`);
    html = html.replace(/<link\b[^>]*>/gi, (tag) => {
      if (!tag.includes(old)) return tag;
      const integrity = tag.match(/\bintegrity\s*=\s*["']?((sha\d+)-[A-Za-z0-9+/=]+)/);
      if (!integrity) return tag;
      const [, value, algorithm] = integrity;
      if (value !== sri(readFileSync(join(staging, old)), algorithm)) fail(`index.html's integrity for ${old} does not match the file.`);
      if (suffix === '.js') glueSri = algorithm;
      return tag.replace(value, sri(outputs.get(ours), algorithm));
    });
    html = html.replaceAll(old, ours);
    unlinkSync(join(staging, old));
  }
  // The glue imports the loader statically, so it is part of the first load: preload it
  // beside the glue (with an SRI hash if the glue has one).
  if (loaderName) {
    if (!html.includes('</head>')) fail('index.html has no </head>.');
    const integrity = glueSri ? ` integrity="${sri(loader, glueSri)}"` : '';
    html = html.replace('</head>', `<link rel="modulepreload" href="${publicUrl}${loaderName}" crossorigin="anonymous"${integrity}></head>`);
  }
  for (const [file, data] of outputs) writeFileSync(join(staging, file), data);
  writeFileSync(htmlPath, html);

  console.log(`split-wasm: ${base}.js (${kib(glue.length)}), ${base}_bg.wasm (${kib(mainWasm.length)})${loaderName ? `, ${loaderName}` : ''}; `
    + `lazy chunks: ${lazy.join(', ') || 'none'}${release ? '' : ' (debug build: not optimised)'}`);
  // Last, so that every file is in its final form. Debug builds skip it: brotli 11 on an
  // unoptimised wasm takes long, and weft serves the plain files when no .br/.gz is there.
  if (release) await compress(staging);
}

try {
  await main();
} catch (error) {
  if (!(error instanceof HookError)) throw error;
  console.error(`\nscripts/split-wasm.mjs: error: ${error.message}`);
  process.exit(1);
}
