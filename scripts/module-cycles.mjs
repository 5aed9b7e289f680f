#!/usr/bin/env node
// Fails when two modules of a crate import each other, directly or in a loop.
//
//   node scripts/module-cycles.mjs client/src web/src
//
// A module is a file (`a/b.rs` is `crate::a::b`, `a/b/mod.rs` too; `#[path]` files are
// found by their declaring `mod`). An edge is any path naming another module: in `use`
// trees (braces expanded) and inline in code (`crate::x::y`, `super::z`); comments,
// strings and `#[cfg(test)] mod … { … }` blocks are left out (tests may reach anywhere).
// A path ending in an item resolves to the longest module prefix; an item the crate root
// re-exports (`pub use room::Room;` in lib.rs) resolves to the module it comes from.
// A child naming its own ancestor is not an edge: a submodule is part of its parent and
// sees it as `super`; the parent naming the child is one.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

function rustFiles(dir) {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return rustFiles(path);
    return name.endsWith('.rs') ? [path] : [];
  });
}

// Blanks out comments, string and char literals, keeping line structure.
function stripNoise(src) {
  let out = '';
  for (let i = 0; i < src.length; ) {
    const two = src.slice(i, i + 2);
    if (two === '//') {
      while (i < src.length && src[i] !== '\n') i++;
    } else if (two === '/*') {
      let depth = 0;
      do {
        if (src.slice(i, i + 2) === '/*') (depth++, (i += 2));
        else if (src.slice(i, i + 2) === '*/') (depth--, (i += 2));
        else i++;
      } while (depth > 0 && i < src.length);
    } else if (/^r#*"/.test(src.slice(i, i + 4)) && !/[A-Za-z0-9_]/.test(src[i - 1] ?? '')) {
      const hashes = src.slice(i + 1).match(/^#*/)[0];
      const end = src.indexOf('"' + hashes, i + 2 + hashes.length);
      i = end < 0 ? src.length : end + 1 + hashes.length;
      out += '""';
    } else if (src[i] === '"') {
      i++;
      while (i < src.length && src[i] !== '"') i += src[i] === '\\' ? 2 : 1;
      i++;
      out += '""';
    } else if (/^'(\\.|[^\\'])'/.test(src.slice(i, i + 4)) || /^'\\u\{/.test(src.slice(i, i + 4))) {
      i = src.indexOf("'", i + 2) + 1;
      out += "' '";
    } else {
      out += src[i++];
    }
  }
  return out;
}

// Drops `#[cfg(test)] mod name { … }` blocks.
function stripTests(src) {
  const re = /#\[cfg\(test\)\]\s*(pub(\([^)]*\))?\s+)?mod\s+\w+\s*\{/g;
  let m;
  while ((m = re.exec(src))) {
    let depth = 1;
    let i = m.index + m[0].length;
    while (depth > 0 && i < src.length) {
      if (src[i] === '{') depth++;
      else if (src[i] === '}') depth--;
      i++;
    }
    src = src.slice(0, m.index) + src.slice(i);
    re.lastIndex = m.index;
  }
  return src;
}

// Expands a `use` tree (`a::{b, c::{d, e}}`) into its paths.
function expandUse(tree) {
  tree = tree.replace(/\s+/g, '');
  const brace = tree.indexOf('{');
  if (brace < 0) return [tree.replace(/\bas\w+$/, '')];
  const prefix = tree.slice(0, brace);
  const inner = tree.slice(brace + 1, tree.lastIndexOf('}'));
  const parts = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i <= inner.length; i++) {
    if (i === inner.length || (inner[i] === ',' && depth === 0)) {
      if (inner.slice(start, i)) parts.push(inner.slice(start, i));
      start = i + 1;
    } else if (inner[i] === '{') depth++;
    else if (inner[i] === '}') depth--;
  }
  return parts.flatMap((part) =>
    expandUse(part).map((p) => (p === 'self' ? prefix.replace(/::$/, '') : prefix + p)),
  );
}

function checkCrate(srcDir) {
  const modules = new Map(); // "a::b" -> { file, src }
  const root = ['lib.rs', 'main.rs'].map((f) => join(srcDir, f)).find((f) => {
    try {
      return statSync(f).isFile();
    } catch {
      return false;
    }
  });
  for (const file of rustFiles(srcDir)) {
    let rel = relative(srcDir, file).replace(/\.rs$/, '').replace(/\/mod$/, '');
    // With a lib.rs, main.rs is a binary crate of its own that uses the library by name.
    if (['main', 'lib'].includes(rel)) {
      if (file !== root) continue;
      rel = '';
    }
    modules.set(rel.split('/').join('::'), { file, src: stripTests(stripNoise(readFileSync(file, 'utf8'))) });
  }
  // `#[path = "x.rs"] mod y;` inside `a/b.rs` makes `a::b::y` the file `a/x.rs`.
  for (const [name, mod] of [...modules]) {
    for (const m of mod.src.matchAll(/#\[path\s*=\s*""\]\s*(?:pub(?:\([^)]*\))?\s+)?mod\s+(\w+)/g)) {
      // The path string was blanked; find it again in the raw file.
      const raw = readFileSync(mod.file, 'utf8');
      const found = raw.match(new RegExp(`#\\[path\\s*=\\s*"([^"]+)"\\]\\s*(?:pub(?:\\([^)]*\\))?\\s+)?mod\\s+${m[1]}\\b`));
      if (!found) continue;
      const target = relative(srcDir, join(mod.file, '..', found[1])).replace(/\.rs$/, '').split('/').join('::');
      const child = name ? `${name}::${m[1]}` : m[1];
      if (modules.has(target)) {
        modules.set(child, modules.get(target));
        modules.delete(target);
      }
    }
  }
  // Items the crate root re-exports: `pub use a::b::{C, D};` -> C => a::b.
  const reexports = new Map();
  const rootSrc = modules.get('')?.src ?? '';
  for (const m of rootSrc.matchAll(/pub\s+use\s+([^;]+);/g)) {
    for (const path of expandUse(m[1])) {
      const parts = path.replace(/^crate::/, '').split('::');
      reexports.set(parts.at(-1), parts.slice(0, -1).join('::'));
    }
  }
  const resolve = (from, path) => {
    let parts = path.split('::').filter(Boolean);
    let base = from.split('::').filter(Boolean);
    if (parts[0] === 'crate') (base = []), parts.shift();
    else if (parts[0] === 'self') parts.shift();
    else if (parts[0] === 'super') {
      while (parts[0] === 'super') (base = base.slice(0, -1)), parts.shift();
    } else if (!modules.has([...base, parts[0]].join('::'))) return null; // another crate
    if (base.length === 0 && parts.length > 0 && reexports.has(parts[0]) && !modules.has(parts[0]))
      parts = [...reexports.get(parts[0]).split('::'), ...parts];
    const full = [...base, ...parts];
    for (let n = full.length; n >= 0; n--) {
      const name = full.slice(0, n).join('::');
      if (modules.has(name)) return name;
    }
    return null;
  };
  const isAncestor = (a, b) => a === '' || b.startsWith(a + '::');
  const edges = new Map([...modules.keys()].map((k) => [k, new Set()]));
  for (const [name, { src }] of modules) {
    const paths = [];
    for (const m of src.matchAll(/\buse\s+([^;]+);/g)) paths.push(...expandUse(m[1]));
    const code = src.replace(/\buse\s+[^;]+;/g, '');
    for (const m of code.matchAll(/\b(?:crate|super|self)(?:::\w+)+/g)) paths.push(m[0]);
    for (const path of paths) {
      const to = resolve(name, path);
      if (to === null || to === name || name === "") continue;
      edges.get(name).add(to);
    }
  }
  // Strongly connected components (Tarjan) of the graph restricted to `nodes`.
  const components = (nodes) => {
    let index = 0;
    const stack = [];
    const info = new Map();
    const found = [];
    const visit = (v) => {
      info.set(v, { index, low: index, onStack: true });
      index++;
      stack.push(v);
      for (const w of edges.get(v)) {
        if (!nodes.has(w)) continue;
        if (!info.has(w)) {
          visit(w);
          info.get(v).low = Math.min(info.get(v).low, info.get(w).low);
        } else if (info.get(w).onStack) {
          info.get(v).low = Math.min(info.get(v).low, info.get(w).index);
        }
      }
      if (info.get(v).low === info.get(v).index) {
        const component = [];
        let w;
        do {
          w = stack.pop();
          info.get(w).onStack = false;
          component.push(w);
        } while (w !== v);
        if (component.length > 1) found.push(component);
      }
    };
    for (const v of nodes) if (!info.has(v)) visit(v);
    return found;
  };
  // A component made of one module and its own submodules is that module's inside (its
  // files share its items through `super`); loops among the submodules that do not pass
  // through it still count, so look again without it. Any other component is a loop.
  const loops = [];
  const check = (nodes) => {
    for (const component of components(nodes)) {
      const top = component.find((m) => component.every((o) => o === m || isAncestor(m, o)));
      if (top === undefined) loops.push(component);
      else check(new Set(component.filter((m) => m !== top)));
    }
  };
  check(new Set(modules.keys()));
  return loops.map((component) => {
    const inLoop = new Set(component);
    const lines = component
      .sort()
      .map((m) => `    ${m || 'crate'} -> ${[...edges.get(m)].filter((t) => inLoop.has(t)).sort().join(', ')}`);
    return `  ${srcDir}:\n${lines.join('\n')}`;
  });
}

const dirs = process.argv.slice(2);
if (dirs.length === 0) {
  console.error('usage: module-cycles.mjs <crate src dir>...');
  process.exit(2);
}
const loops = dirs.flatMap(checkCrate);
if (loops.length) {
  console.error(`Modules that import each other (directly or in a loop):\n${loops.join('\n')}`);
  process.exit(1);
}
console.log(`No import loops between modules in ${dirs.join(', ')}`);
