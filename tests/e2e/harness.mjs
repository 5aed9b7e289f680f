// Test harness for browser end-to-end tests: starts a fresh `weft` on a free
// loopback port with a temporary data folder, launches Debian's Chromium
// through playwright-core, and on failure saves screenshots and the server
// log under test-output/.

import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, mkdirSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { chromium } from 'playwright-core';

export const ROOT = resolve(import.meta.dirname, '../..');
const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';

export const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];

function logEnv(defaultLog) {
  const env = { ...process.env, RUST_LOG: process.env.RUST_LOG ?? 'info,weft_server=debug' };
  if (defaultLog) {
    delete env.RUST_LOG;
    delete env.WEFT_LOG;
  }
  return env;
}

function freePort() {
  return new Promise((ok, fail) => {
    const srv = createServer();
    srv.once('error', fail);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => ok(port));
    });
  });
}

/** Starts weft; resolves once /versions answers. With `defaultLog`, weft logs with its own
 * default filter (no RUST_LOG or WEFT_LOG), as a self-hoster's does. */
export async function startServer({ serverName = 'localhost', config, defaultLog = false } = {}) {
  const bin = process.env.WEFT_BIN ?? join(ROOT, 'target/release/weft');
  const dataDir = mkdtempSync(join(tmpdir(), 'weft-e2e-'));
  // Settings only the config file holds (e.g. `max_upload_size`).
  const configArgs = [];
  if (config) {
    writeFileSync(join(dataDir, 'weft.toml'), config);
    configArgs.push('--config', join(dataDir, 'weft.toml'));
  }
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  let log = '';
  const child = spawn(bin, [
    ...configArgs,
    'serve', '--listen', `127.0.0.1:${port}`, '--data-dir', join(dataDir, 'data'),
    '--server-name', serverName, '--registration', 'open',
    // The tests register and post in bursts (200 messages through the API); the limits
    // themselves are covered by the server's integration tests.
    '--no-rate-limits',
    // Many servers run side by side; calls tests start their relays explicitly.
    '--no-turn-relay',
  ], { env: logEnv(defaultLog) });
  child.stdout.on('data', (d) => { log += d; });
  child.stderr.on('data', (d) => { log += d; });
  const exited = new Promise((ok) => child.once('exit', (code) => ok(code)));

  const deadline = Date.now() + 20_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`weft exited early (${child.exitCode}):\n${log}`);
    try {
      const res = await fetch(`${base}/_matrix/client/versions`);
      if (res.ok) break;
    } catch { /* not listening yet */ }
    if (Date.now() > deadline) throw new Error(`weft did not start within 20 s:\n${log}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    base,
    serverName,
    log: () => log,
    async stop() {
      if (child.exitCode === null) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
        await exited;
        clearTimeout(timer);
      }
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** Launches Chromium; Playwright gives each launch a fresh temporary profile. */
export async function launchBrowser(extraArgs = []) {
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [...CHROMIUM_ARGS, ...extraArgs],
  });
  return { browser, close: () => browser.close() };
}

/** Saves screenshots of every page and the server log for a failed test. */
export async function saveArtifacts(testName, pages, server) {
  const dir = join(ROOT, 'test-output', `${new Date().toISOString().replace(/[:.]/g, '-')}-${testName}`);
  mkdirSync(dir, { recursive: true });
  for (const [name, page] of Object.entries(pages)) {
    try {
      await page.screenshot({ path: join(dir, `${name}.png`), fullPage: true });
      writeFileSync(join(dir, `${name}.html`), await page.content());
    } catch (e) {
      writeFileSync(join(dir, `${name}.error.txt`), String(e));
    }
  }
  if (server) writeFileSync(join(dir, 'server.log'), server.log());
  console.error(`Artifacts saved to ${dir}`);
}

/** Finds the shared reference-software tools: WEFT_SHARED_DIR (scripts/setup.sh sets it), else ../shared. */
export function sharedTool(name) {
  const dirs = [process.env.WEFT_SHARED_DIR, join(ROOT, '../shared')].filter(Boolean);
  for (const dir of dirs) {
    const path = join(dir, 'tools', name);
    if (existsSync(path)) return path;
  }
  throw new Error(`${name} not found in ${dirs.join(', ')}; set WEFT_SHARED_DIR`);
}

/** Starts Synapse (PyPI) on loopback through the shared harness. */
export async function startSynapse() {
  const tool = sharedTool('synapse.sh');
  const dataDir = mkdtempSync(join(tmpdir(), 'weft-synapse-'));
  const port = await freePort();
  execFileSync(tool, ['install'], { stdio: ['ignore', 'ignore', 'inherit'] });
  execFileSync(tool, ['start', String(port), dataDir], { stdio: ['ignore', 'ignore', 'inherit'] });
  return {
    base: `http://127.0.0.1:${port}`,
    serverName: `localhost:${port}`,
    log: () => {
      try { return readFileSync(join(dataDir, 'homeserver.log'), 'utf8'); } catch { return ''; }
    },
    async stop() {
      try { execFileSync(tool, ['stop', dataDir], { stdio: 'ignore' }); } catch { /* already gone */ }
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
