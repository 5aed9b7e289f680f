// The client benchmark (./scripts/bench-client): Weft's web client in headless Chromium,
// against a fresh weft and a fresh Synapse seeded alike, one table with a column each.
// Progress goes to stderr, the table (markdown) to stdout. A measurement, not a test.
//
//   node tests/bench/client-bench.mjs [--weft-only] [--reloads N] [--messages N]
//
// WEFT_BIN is the release weft (it also serves the client for the Synapse column, pointed
// at Synapse through the sign-in form's "Homeserver" field, as tests/e2e do). With
// WEFT_BENCH_WORK set (scripts/bench-client does), weft's PID is written there so the
// wrapper can stop it even if this process dies.

import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { CHROMIUM_ARGS, ROOT, saveArtifacts, startSynapse } from '../e2e/harness.mjs';
import { firstLoadBytes } from './assets.mjs';
import { measureMemory } from './memory.mjs';
import { probe } from './probe.mjs';
import { BIG_MESSAGES, BIG_ROOM, PASSWORD, SMALL_MESSAGES, SMALL_ROOMS, probeSpec, seed, smallRoom } from './seed.mjs';

const WAIT = 30_000;
const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
const OPENS = 5;
const COLD_LOADS = 5;

// ---- arguments ------------------------------------------------------------------------

function parseArgs(argv) {
  const opts = { weftOnly: false, reloads: 10, messages: 100 };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const number = () => {
      const n = Number(argv[++i]);
      if (!Number.isInteger(n) || n < 1) usage(`${arg} needs a positive whole number`);
      return n;
    };
    if (arg === '--weft-only') opts.weftOnly = true;
    else if (arg === '--reloads') opts.reloads = number();
    else if (arg === '--messages') opts.messages = number();
    else usage(`unknown argument ${arg}`);
  }
  return opts;
}

function usage(problem) {
  console.error(`bench-client: ${problem}\nusage: scripts/bench-client [--weft-only] [--reloads N] [--messages N]`);
  process.exit(2);
}

const progress = (line) => console.error(`    ${line}`);
const heading = (line) => console.error(`\n==> ${line}`);

// ---- servers, and stopping everything we start -----------------------------------------

const cleanups = [];
/** A signal came: the handler stops everything; nothing else reports or cleans up. */
let stopping = false;
async function cleanup() {
  while (cleanups.length) {
    try { await cleanups.pop()(); } catch (e) { console.error(`cleanup: ${e.message}`); }
  }
}

async function startWeft() {
  const bin = process.env.WEFT_BIN;
  if (!bin) throw new Error('WEFT_BIN is not set (scripts/bench-client sets it)');
  const dir = mkdtempSync(join(tmpdir(), 'weft-bench-client-'));
  const port = await new Promise((ok, fail) => {
    import('node:net').then(({ createServer }) => {
      const srv = createServer().once('error', fail).listen(0, '127.0.0.1', () => {
        const { port } = srv.address();
        srv.close(() => ok(port));
      });
    });
  });
  const base = `http://127.0.0.1:${port}`;
  let log = '';
  const child = spawn(bin, [
    'serve', '--listen', `127.0.0.1:${port}`, '--data-dir', join(dir, 'data'), '--server-name', 'localhost',
    // Seeding posts 2,000 messages as fast as the server takes them (scripts/bench does the same).
    '--registration', 'open', '--no-rate-limits', '--no-turn-relay',
  ], { env: { ...process.env, RUST_LOG: 'warn' }, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout.on('data', (d) => { log += d; });
  child.stderr.on('data', (d) => { log += d; });
  const exited = new Promise((ok) => child.once('exit', ok));
  const pidFile = process.env.WEFT_BENCH_WORK && join(process.env.WEFT_BENCH_WORK, 'weft.pid');
  if (pidFile) writeFileSync(pidFile, String(child.pid));
  cleanups.push(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    }
    if (pidFile) rmSync(pidFile, { force: true });
    rmSync(dir, { recursive: true, force: true });
  });
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`weft exited at start (${child.exitCode}):\n${log}`);
    try { if ((await fetch(`${base}/_matrix/client/versions`)).ok) break; } catch { /* not yet */ }
    if (Date.now() > deadline) throw new Error(`weft did not answer within 20 s:\n${log}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return { name: 'weft', base, serverName: 'localhost', log: () => log };
}

/** The first-load brotli total `scripts/size` prints for dist/, or null. */
function sizeScriptTotal() {
  try {
    const out = execFileSync(process.execPath, [join(ROOT, 'scripts/size.mjs')], { encoding: 'utf8' });
    const line = out.split('\n').find((l) => l.startsWith('TOTAL (first load)'));
    return line ? Number(line.trim().split(/\s+/).at(-1)) : null;
  } catch {
    return null;
  }
}

/** Where and on what the numbers were taken. */
function conditions(loadStart) {
  let commit = 'unknown';
  try { commit = execFileSync('git', ['-C', ROOT, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim(); } catch { /* not a clone */ }
  let chromium = 'unknown';
  try { chromium = execFileSync(CHROMIUM, ['--version'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim(); } catch { /* reported as unknown */ }
  const load = (l) => l.map((x) => x.toFixed(2)).join(' ');
  return `weft ${commit}${dirty()}; ${chromium}; ${cpus().length} cores; load average ${load(loadStart)} at the start, ${load(loadavg())} at the end`;
}

function dirty() {
  try { return execFileSync('git', ['-C', ROOT, 'status', '--porcelain', '--untracked-files=no'], { encoding: 'utf8' }).trim() ? ' (with uncommitted changes)' : ''; } catch { return ''; }
}

// ---- page helpers ---------------------------------------------------------------------

/** Waits for the probe's condition `name` and returns when it first held (ms, epoch). */
async function hit(page, name, timeout = WAIT) {
  try {
    await page.waitForFunction((n) => window.__bench && window.__bench.hits[n] != null, name, { timeout });
  } catch {
    throw new Error(`waited ${timeout / 1000} s for "${name}" on ${page.url()}`);
  }
  return page.evaluate((n) => window.__bench.hits[n], name);
}

const origin = (page) => page.evaluate(() => performance.timeOrigin);
const quiet = (page, ms = 500, max = 10_000) => page.evaluate(([a, b]) => window.__bench.quiet(a, b), [ms, max]);
const lastClick = (page, prefix) => page.evaluate((p) => window.__bench.clicks.filter((c) => c.name.startsWith(p)).at(-1)?.at, prefix);
const roomButton = (page, name) => page.getByRole('navigation', { name: 'Rooms' }).getByRole('button', { name: new RegExp(`^${name}`) });

async function signIn(page, client, hs, user) {
  if (hs.base !== client) await page.getByRole('textbox', { name: 'Homeserver' }).fill(hs.base);
  await page.getByRole('textbox', { name: 'Username' }).fill(user);
  await page.getByRole('textbox', { name: 'Password', exact: true }).fill(PASSWORD);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
}

/** Opens room `name` by its button; resolves to [click time, shown time]. */
async function openRoom(page, name, condition) {
  await page.evaluate((c) => window.__bench.rearm(c), condition);
  await roomButton(page, name).click();
  const shown = await hit(page, condition);
  const clicked = await lastClick(page, name);
  if (clicked == null) throw new Error(`the click on "${name}" was not seen`);
  return shown - clicked;
}

/** How far `page`'s clock (timeOrigin + now) is ahead of this process's, from the
 *  round trip with the smallest delay. */
async function clockOffset(page) {
  let best = { rtt: Infinity, offset: 0 };
  for (let i = 0; i < 20; i++) {
    const before = performance.timeOrigin + performance.now();
    const inPage = await page.evaluate(() => performance.timeOrigin + performance.now());
    const after = performance.timeOrigin + performance.now();
    if (after - before < best.rtt) best = { rtt: after - before, offset: inPage - (before + after) / 2 };
  }
  return best;
}

// ---- statistics -----------------------------------------------------------------------

const sorted = (xs) => [...xs].sort((a, b) => a - b);
const median = (xs) => { const s = sorted(xs); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };
// Nearest-rank percentile.
const pct = (xs, p) => { const s = sorted(xs); return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]; };

// ---- one column -----------------------------------------------------------------------

async function scenario(hs, client, opts, measureAssets) {
  const r = {};
  const spec = probeSpec();
  // Signals are ours to handle: Playwright would close the browser under a running step.
  const browser = await chromium.launch({
    executablePath: CHROMIUM, args: CHROMIUM_ARGS, handleSIGINT: false, handleSIGTERM: false, handleSIGHUP: false,
  });
  const close = () => browser.close();
  cleanups.push(close);
  const pages = {};
  try {
    heading(`${hs.name}: cold loads (${COLD_LOADS}, each in a fresh browser context) and sign-in`);
    r.signInForm = [];
    let alice;
    for (let i = 0; i < COLD_LOADS; i++) {
      const context = await browser.newContext();
      await context.addInitScript(probe, spec);
      const page = pages.alice = await context.newPage();
      const fetched = [];
      const onRequest = (req) => {
        const url = new URL(req.url());
        if (url.origin === client && !url.pathname.startsWith('/_matrix/')) fetched.push(req.url());
      };
      page.on('request', onRequest);
      await page.goto(client);
      r.signInForm.push((await hit(page, 'signInForm')) - (await origin(page)));
      await quiet(page, 500);
      page.off('request', onRequest);
      progress(`cold load ${i + 1}: sign-in form after ${r.signInForm.at(-1).toFixed(0)} ms`);
      if (measureAssets && i === 0) {
        r.assets = await firstLoadBytes([...new Set(fetched)]);
        r.assets.sizeScript = sizeScriptTotal();
        progress(`first load: ${r.assets.rows.length} files, ${r.assets.raw} bytes raw, ${r.assets.wire} on the wire`);
      }
      // The last one signs in and is measured from there on.
      if (i < COLD_LOADS - 1) await context.close();
      else alice = page;
    }

    await signIn(alice, client, hs, 'alice');
    const rooms = await hit(alice, 'roomList', 120_000);
    r.signIn = rooms - (await lastClick(alice, 'Sign in'));
    progress(`cold sign-in → ${SMALL_ROOMS + 1} rooms listed after ${r.signIn.toFixed(0)} ms`);
    await quiet(alice, 1000, 20_000);
    r.memSignIn = await measureMemory(browser, alice);

    heading(`${hs.name}: warm reloads (${opts.reloads})`);
    await openRoom(alice, smallRoom(1), 'smallLatest');
    await quiet(alice);
    r.reloadRooms = [];
    r.reloadLatest = [];
    for (let i = 0; i < opts.reloads; i++) {
      await alice.reload();
      const t0 = await origin(alice);
      r.reloadRooms.push((await hit(alice, 'roomList')) - t0);
      r.reloadLatest.push((await hit(alice, 'smallLatest')) - t0);
      await quiet(alice);
      progress(`reload ${i + 1}: room list ${r.reloadRooms.at(-1).toFixed(0)} ms, latest ${SMALL_MESSAGES} messages ${r.reloadLatest.at(-1).toFixed(0)} ms`);
    }

    heading(`${hs.name}: opening the ${BIG_MESSAGES}-message room after a reload (${OPENS})`);
    r.opens = [];
    for (let i = 0; i < OPENS; i++) {
      if (i > 0) { await openRoom(alice, smallRoom(1), 'smallLatest'); await quiet(alice); }
      await alice.reload();
      await hit(alice, 'roomList');
      await hit(alice, 'smallLatest');
      await quiet(alice);
      r.opens.push(await openRoom(alice, BIG_ROOM, 'bigLatest'));
      progress(`open ${i + 1}: latest 20 shown ${r.opens.at(-1).toFixed(0)} ms after the click`);
    }
    await quiet(alice, 1000, 20_000);
    r.memOpen = await measureMemory(browser, alice);

    heading(`${hs.name}: scrolling back through ${BIG_MESSAGES} messages`);
    const box = await alice.getByRole('region', { name: 'Timeline' }).boundingBox();
    if (box) await alice.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
    const scroll = await alice.evaluate((t) => window.__bench.scrollBack(t), 180_000);
    if (scroll.ended == null) throw new Error(`the oldest message did not show within 180 s of scrolling (${scroll.pages.length} pages loaded)`);
    const longtasks = (await alice.evaluate(() => window.__bench.longtasks))
      .filter((t) => t.start >= scroll.started && t.start <= scroll.ended);
    r.scroll = {
      total: scroll.ended - scroll.started,
      pages: scroll.pages.length,
      longtasks: longtasks.length,
      longest: Math.max(0, ...longtasks.map((t) => t.duration)),
    };
    progress(`reached the first message after ${r.scroll.total.toFixed(0)} ms, ${r.scroll.pages} pages, ${r.scroll.longtasks} long tasks`);
    await quiet(alice, 1000, 20_000);
    r.memScroll = await measureMemory(browser, alice);

    heading(`${hs.name}: send → rendered in the other browser (${opts.messages} messages)`);
    const contextB = await browser.newContext();
    await contextB.addInitScript(probe, spec);
    const bob = pages.bob = await contextB.newPage();
    await bob.goto(client);
    await hit(bob, 'signInForm');
    await signIn(bob, client, hs, 'bob');
    await hit(bob, 'roomList', 120_000);
    await openRoom(bob, smallRoom(1), 'smallLatest');
    await openRoom(alice, smallRoom(1), 'smallLatest');
    await quiet(bob, 1000, 20_000);
    await quiet(alice, 1000, 20_000);
    const [a, b] = [await clockOffset(alice), await clockOffset(bob)];
    // Both pages read the same system clock; say so if they disagree.
    r.clockSkew = b.offset - a.offset;
    progress(`page clocks agree within ${Math.abs(r.clockSkew).toFixed(2)} ms (round trips ${a.rtt.toFixed(1)} / ${b.rtt.toFixed(1)} ms)`);
    const message = alice.getByRole('textbox', { name: 'Message' });
    r.rendered = [];
    r.acked = [];
    r.afterAck = [];
    const tag = Math.random().toString(36).slice(2, 8);
    for (let i = 1; i <= opts.messages; i++) {
      const text = `bench send ${String(i).padStart(3, '0')} ${tag}.`;
      await bob.evaluate((t) => window.__bench.expect(t), text);
      const before = await alice.evaluate(() => window.__bench.sends.length);
      await message.fill(text);
      await message.press('Enter');
      const shown = await hit(bob, text);
      await alice.waitForFunction((n) => window.__bench.sends[n]?.end != null, before, { timeout: WAIT });
      const put = await alice.evaluate((n) => window.__bench.sends[n], before);
      if (put.status !== 200) throw new Error(`the PUT of message ${i} answered ${put.status}`);
      r.rendered.push(shown - put.start);
      r.acked.push(put.end - put.start);
      r.afterAck.push(shown - put.end);
      if (i % 20 === 0 || i === opts.messages) {
        progress(`${i}/${opts.messages}: rendered p50 ${median(r.rendered).toFixed(1)} ms, PUT acknowledged p50 ${median(r.acked).toFixed(1)} ms`);
      }
      // A person does not send 100 messages a second: let receipts and typing settle.
      await quiet(bob, 100, 5_000);
    }
  } catch (error) {
    if (!stopping) await saveArtifacts(`bench-client-${hs.name}`, pages, hs);
    throw error;
  } finally {
    await close();
  }
  return r;
}

// ---- the table ------------------------------------------------------------------------

const int = (n) => Math.round(n).toLocaleString('en-US');
const ms = (n) => (n == null ? 'n/a' : n < 10 ? `${n.toFixed(1)} ms` : `${int(n)} ms`);
const mb = (n) => (n == null ? 'n/a' : `${(n / 1048576).toFixed(1)} MB`);
const pair = (a, b, f) => `${f(a)} / ${f(b)}`;

function table(results, opts) {
  const names = Object.keys(results);
  const rows = [];
  const row = (label, f) => rows.push([label, ...names.map((n) => { try { return f(results[n]) ?? '—'; } catch { return '—'; } })]);
  const assets = Object.values(results).find((r) => r.assets)?.assets;
  if (assets) {
    const only = (text) => (r) => (r.assets ? text : '—');
    row(`first load from weft (${assets.rows.length} files): raw`, only(`${int(assets.raw)} B`));
    row('first load: on the wire (Accept-Encoding: br, gzip)', only(`${int(assets.wire)} B`));
    row('first load: brotli q11 of the same files', only(`${int(assets.brotli)} B`));
    row('first load: brotli total that scripts/size reports (dist/)', only(assets.sizeScript == null ? 'n/a' : `${int(assets.sizeScript)} B`));
    for (const a of assets.rows) {
      row(`… ${a.path === '/' ? '/ (index.html)' : a.path}: brotli (raw, wire${a.encoding !== 'identity' ? ` ${a.encoding}` : ''})`,
        only(`${int(a.brotli)} B (${int(a.raw)}, ${int(a.wire)})`));
    }
  }
  row(`cold load → sign-in form, median / max of ${COLD_LOADS}`, (r) => pair(median(r.signInForm), Math.max(...r.signInForm), ms));
  row(`cold sign-in → room list (${SMALL_ROOMS + 1} rooms)`, (r) => ms(r.signIn));
  row(`warm reload → room list, median / max of ${opts.reloads}`, (r) => pair(median(r.reloadRooms), Math.max(...r.reloadRooms), ms));
  row(`warm reload → open room's latest ${SMALL_MESSAGES}, median / max of ${opts.reloads}`, (r) => pair(median(r.reloadLatest), Math.max(...r.reloadLatest), ms));
  row(`open the ${BIG_MESSAGES.toLocaleString('en-US')}-message room after a reload, median / max of ${OPENS}`, (r) => pair(median(r.opens), Math.max(...r.opens), ms));
  row(`send → rendered in the other browser, p50 / p95 of ${opts.messages}`, (r) => pair(pct(r.rendered, 50), pct(r.rendered, 95), ms));
  row('sender\'s PUT → acknowledged, p50 / p95', (r) => pair(pct(r.acked, 50), pct(r.acked, 95), ms));
  row('acknowledged → rendered in the other browser, p50 / p95', (r) => pair(pct(r.afterAck, 50), pct(r.afterAck, 95), ms));
  row(`scroll back through ${BIG_MESSAGES.toLocaleString('en-US')} messages: total (pages)`, (r) => `${ms(r.scroll.total)} (${r.scroll.pages})`);
  row('scroll back: time per page of history', (r) => ms(r.scroll.total / r.scroll.pages));
  row('scroll back: long tasks over 50 ms (longest)', (r) => `${r.scroll.longtasks} (${ms(r.scroll.longest)})`);
  for (const [key, when] of [['memSignIn', 'after sign-in'], ['memOpen', `with the ${BIG_MESSAGES.toLocaleString('en-US')}-message room open`], ['memScroll', 'after the scroll-back']]) {
    row(`JS heap ${when}`, (r) => mb(r[key].heap));
    row(`wasm memory ${when}`, (r) => mb(r[key].wasm));
    row(`JS heap + wasm ${when}`, (r) => (r[key].wasm == null ? 'n/a' : mb(r[key].heap + r[key].wasm)));
    row(`DOM nodes ${when}`, (r) => int(r[key].dom));
    row(`renderer memory ${when}: PSS (USS)`, (r) => `${mb(r[key].pss)} (${mb(r[key].uss)})`);
  }
  const header = ['', ...names.map((n) => (n === 'synapse' ? 'Synapse' : n))];
  const lines = [header, header.map(() => '---'), ...rows].map((cells) => `| ${cells.join(' | ')} |`);
  return lines.join('\n');
}

// ---- main -----------------------------------------------------------------------------

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const started = Date.now();
  const loadStart = loadavg();
  heading('Starting a fresh weft on loopback');
  const weft = await startWeft();
  const servers = [weft];
  if (!opts.weftOnly) {
    heading('Starting a fresh Synapse on loopback (../shared/tools/synapse.sh)');
    // Both servers log warnings only (weft: RUST_LOG=warn), as scripts/bench has weft do.
    process.env.SYNAPSE_LOG_LEVEL ??= 'WARNING';
    const synapse = await startSynapse();
    cleanups.push(() => synapse.stop());
    servers.push({ name: 'synapse', ...synapse });
  }
  for (const hs of servers) {
    heading(`Seeding ${hs.name}: alice in ${SMALL_ROOMS} rooms × ${SMALL_MESSAGES} messages and one of ${BIG_MESSAGES}, bob in all`);
    const t = Date.now();
    await seed(hs.base, { progress });
    progress(`seeded in ${((Date.now() - t) / 1000).toFixed(1)} s`);
  }
  const results = {};
  for (const hs of servers) results[hs.name] = await scenario(hs, weft.base, opts, hs === weft);
  heading(`Done in ${((Date.now() - started) / 1000).toFixed(0)} s`);
  const skews = Object.values(results).map((r) => Math.abs(r.clockSkew));
  if (Math.max(...skews) > 1) console.error(`    note: the two pages' clocks differed by up to ${Math.max(...skews).toFixed(1)} ms`);
  console.log(`\n${table(results, opts)}\n\n${conditions(loadStart)}`);
}

for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(signal, async () => {
    if (stopping) return;
    stopping = true;
    console.error(`\nbench-client: ${signal}, stopping what it started`);
    await cleanup();
    process.exit(130);
  });
}

try {
  await main();
  await cleanup();
} catch (error) {
  if (stopping) await new Promise(() => {}); // the signal handler exits
  console.error(`\nbench-client failed: ${error.message}`);
  await cleanup();
  process.exit(1);
}
