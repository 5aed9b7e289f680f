// Helpers shared by the call tests and the call benchmark: Chromium with the flags
// calls need, a page running matrix-js-sdk's MatrixCall (bundled with esbuild into a
// temporary folder and served from 127.0.0.1), accounts and a DM room through the
// Client-Server API, Debian's coturn, and inbound media statistics.
//
// Run everything through tests/calls/netns, so ICE can only use loopback and the
// relays' ports cannot clash with anything else on the machine.

import { spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { createServer as createTcpServer } from 'node:net';
import { tmpdir } from 'node:os';
import { extname, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { ROOT, launchBrowser } from '../e2e/harness.mjs';

export { ROOT };

/** Chromium flags for calls on top of the e2e ones: fake camera and microphone without a
 *  permission prompt, loopback ICE candidates (without this flag Chromium gathers nothing
 *  in a namespace that only has `lo`), and media that plays without a user gesture. */
export const CALL_ARGS = [
  '--use-fake-ui-for-media-stream',
  '--use-fake-device-for-media-stream',
  '--allow-loopback-in-peer-connection',
  '--autoplay-policy=no-user-gesture-required',
];

/** Warns loudly when not inside tests/calls/netns: outside it ICE would also try the
 *  machine's real interfaces, and relays could clash with other programs' ports. */
export function checkNetns() {
  if (process.env.WEFT_NETNS !== '1') {
    console.warn('warning: not running inside tests/calls/netns; results may use non-loopback interfaces');
  }
}

export async function launchCallBrowser(extraArgs = []) {
  return launchBrowser([...CALL_ARGS, ...extraArgs]);
}

export function freeUdpPort() {
  return new Promise((ok, fail) => {
    const sock = createSocket('udp4');
    sock.once('error', fail);
    sock.bind(0, '127.0.0.1', () => {
      const { port } = sock.address();
      sock.close(() => ok(port));
    });
  });
}

/** A range of `size` UDP ports for relay allocations, away from the ephemeral range
 *  (32768-60999 on Linux) where free ports for listeners come from. */
export function relayPortRange(size = 100) {
  const min = 61000 + Math.floor(Math.random() * ((65535 - 61000 - size) / size)) * size;
  return { min, max: min + size - 1 };
}

// ---------------------------------------------------------------------------------
// The js-sdk page

const PAGE_DIR = join(import.meta.dirname, 'page');
const TYPES = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.map': 'application/json' };

/** Bundles page/call-page.mjs with matrix-js-sdk from node_modules (esbuild) into a
 *  temporary folder, serves it with index.html on a free loopback port. getUserMedia
 *  needs a secure context; http://127.0.0.1 is one. */
export async function servePage() {
  const { build } = await import('esbuild');
  const dir = mkdtempSync(join(tmpdir(), 'weft-jscall-page-'));
  await build({
    entryPoints: [join(PAGE_DIR, 'call-page.mjs')],
    outfile: join(dir, 'call-page.js'),
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'chrome120',
    sourcemap: true,
    logLevel: 'warning',
  });
  copyFileSync(join(PAGE_DIR, 'index.html'), join(dir, 'index.html'));
  const server = createServer((req, res) => {
    const name = new URL(req.url, 'http://x').pathname.replace(/^\/+/, '') || 'index.html';
    const path = join(dir, name);
    if (name.includes('..') || !existsSync(path)) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': TYPES[extname(name)] ?? 'application/octet-stream', 'cache-control': 'no-store' });
    res.end(readFileSync(path));
  });
  await new Promise((ok) => server.listen(0, '127.0.0.1', ok));
  return {
    url: `http://127.0.0.1:${server.address().port}/index.html`,
    async stop() {
      await new Promise((ok) => server.close(ok));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

// ---------------------------------------------------------------------------------
// A client-independent view of a page's peer connections

/** Makes every RTCPeerConnection a page creates visible to the harness (as
 *  `window.__weftPcs`, with its creation time), before any of the page's scripts run.
 *  Works for any client that constructs the global RTCPeerConnection at call time:
 *  matrix-js-sdk (`new window.RTCPeerConnection`) and wasm-bindgen glue alike. */
export async function installPeerConnectionProbe(context) {
  await context.addInitScript(() => {
    const Original = window.RTCPeerConnection;
    if (!Original || window.__weftPcs) return;
    const pcs = [];
    window.__weftPcs = pcs;
    window.RTCPeerConnection = class extends Original {
      constructor(...args) {
        super(...args);
        pcs.push({ pc: this, createdAt: performance.timeOrigin + performance.now() });
      }
    };
  });
}

/** Polls, inside the page, the inbound stats of the peer connections created at or after
 *  `since` (page wall-clock ms) until some video frames were decoded and audio bytes
 *  received; resolves with `{ at, videoFramesDecoded, audioBytesReceived }`, `at` being
 *  the first poll that saw them (resolution: intervalMs plus a getStats call). */
export function waitForInboundMedia(page, { since = 0, frames = 1, audioBytes = 1, timeoutMs = 20_000, intervalMs = 10 } = {}) {
  return page.evaluate(async ({ since, frames, audioBytes, timeoutMs, intervalMs }) => {
    const now = () => performance.timeOrigin + performance.now();
    if (!window.__weftPcs) throw new Error('installPeerConnectionProbe was not called for this page');
    const deadline = now() + timeoutMs;
    for (;;) {
      let videoFramesDecoded = 0;
      let audioBytesReceived = 0;
      for (const { pc, createdAt } of window.__weftPcs) {
        if (createdAt < since || pc.signalingState === 'closed') continue;
        for (const s of (await pc.getStats()).values()) {
          if (s.type !== 'inbound-rtp') continue;
          if (s.kind === 'video') videoFramesDecoded += s.framesDecoded ?? 0;
          if (s.kind === 'audio') audioBytesReceived += s.bytesReceived ?? 0;
        }
      }
      const at = now();
      if (videoFramesDecoded >= frames && audioBytesReceived >= audioBytes) return { at, videoFramesDecoded, audioBytesReceived };
      if (at > deadline) throw new Error(`no inbound media after ${timeoutMs} ms (frames ${videoFramesDecoded}, audio bytes ${audioBytesReceived})`);
      await new Promise((r) => setTimeout(r, intervalMs));
    }
  }, { since, frames, audioBytes, timeoutMs, intervalMs });
}

/** The page's wall clock (ms), comparable with the times the probe and js-sdk page report. */
export function pageNow(page) {
  return page.evaluate(() => performance.timeOrigin + performance.now());
}

/** Opens the js-sdk page for `account` in its own browser context, logs in and starts
 *  syncing (which also fetches TURN credentials from the homeserver). */
export async function openJsSdkPeer(browser, pageUrl, { name, base, account, forceTURN = false }) {
  const context = await browser.newContext();
  await installPeerConnectionProbe(context);
  const page = await context.newPage();
  const consoleLines = [];
  page.on('console', (m) => consoleLines.push(`[${m.type()}] ${m.text()}`));
  page.on('pageerror', (e) => consoleLines.push(`[pageerror] ${e.message}`));
  await page.goto(pageUrl);
  await page.waitForFunction(() => window.jsCallReady === true, null, { timeout: 10_000 });
  const call = (method, ...args) => page.evaluate(([m, a]) => window.jsCall[m](...a), [method, args]);
  await call('login', { baseUrl: base, userId: account.userId, accessToken: account.accessToken, deviceId: account.deviceId, forceTURN, name });
  const started = await call('start');
  return {
    name,
    page,
    context,
    account,
    turnServers: started.turnServers,
    console: () => consoleLines.join('\n'),
    call,
    /** Places a voice or video call; resolves with { callId, placedAt }. */
    place: (roomId, opts = {}) => call('placeCall', roomId, opts),
    setAutoAnswer: (mode) => call('setAutoAnswer', mode),
    setForceTURN: (force) => call('setForceTURN', force),
    waitIncoming: (opts) => call('waitIncoming', opts),
    answer: (opts) => call('answer', opts),
    reject: (opts) => call('reject', opts),
    hangup: (opts) => call('hangup', opts),
    state: (opts) => call('call', opts),
    waitState: (states, opts) => call('waitState', states, opts),
    stats: (opts) => call('stats', opts),
    /** Waits until inbound video frames decoded and audio bytes received reach (or, with
     *  fromNow, grow by) the given amounts; resolves with the stats that met them. */
    waitForMedia: (opts) => call('waitForMedia', opts),
    events: () => call('events'),
    async close() {
      try { await call('stop'); } catch { /* page gone */ }
      await context.close();
    },
  };
}

/** Checks media flows into `peer` right now: inbound video frames decoded and audio bytes
 *  received both increase within `timeoutMs`. Returns [before, after] stats. */
export async function expectMediaFlowing(peer, { frames = 10, audioBytes = 1000, timeoutMs = 15_000, callId } = {}) {
  const before = await peer.stats({ callId });
  if (!before) throw new Error(`${peer.name}: the call has no peer connection`);
  const after = await peer.waitForMedia({ callId, frames, audioBytes, fromNow: true, timeoutMs });
  return [before, after];
}

// ---------------------------------------------------------------------------------
// Accounts and rooms through the Client-Server API

async function api(base, method, path, { token, body } = {}) {
  const res = await fetch(`${base}/_matrix/client/v3${path}`, {
    method,
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const json = await res.json().catch(() => ({}));
  return { status: res.status, json };
}

/** Registers `username` (User-Interactive Auth, m.login.dummy); resolves with
 *  { userId, accessToken, deviceId }. */
export async function register(base, username, password = 'calls-password') {
  const first = await api(base, 'POST', '/register', { body: { username, password } });
  let res = first;
  if (first.status === 401) {
    res = await api(base, 'POST', '/register', {
      body: { username, password, auth: { type: 'm.login.dummy', session: first.json.session } },
    });
  }
  if (res.status !== 200) throw new Error(`register ${username}: ${res.status} ${JSON.stringify(res.json)}`);
  return { userId: res.json.user_id, accessToken: res.json.access_token, deviceId: res.json.device_id };
}

/** A direct-message room created by `a` with `b` invited and joined. */
export async function createDm(base, a, b) {
  const created = await api(base, 'POST', '/createRoom', {
    token: a.accessToken,
    body: { preset: 'trusted_private_chat', is_direct: true, invite: [b.userId] },
  });
  if (created.status !== 200) throw new Error(`createRoom: ${created.status} ${JSON.stringify(created.json)}`);
  const roomId = created.json.room_id;
  const joined = await api(base, 'POST', `/join/${encodeURIComponent(roomId)}`, { token: b.accessToken, body: {} });
  if (joined.status !== 200) throw new Error(`join: ${joined.status} ${JSON.stringify(joined.json)}`);
  for (const [me, other] of [[a, b], [b, a]]) {
    await api(base, 'PUT', `/user/${encodeURIComponent(me.userId)}/account_data/m.direct`, {
      token: me.accessToken, body: { [other.userId]: [roomId] },
    });
  }
  return roomId;
}

/** GET /voip/turnServer for `account`. */
export async function turnServerFor(base, account) {
  return api(base, 'GET', '/voip/turnServer', { token: account.accessToken });
}

// ---------------------------------------------------------------------------------
// coturn (Debian's `turnserver`)

/** Sends a STUN Binding request to 127.0.0.1:port; resolves true on any STUN answer. */
function stunPing(port, timeoutMs = 300) {
  return new Promise((ok) => {
    const sock = createSocket('udp4');
    const msg = Buffer.alloc(20);
    msg.writeUInt16BE(0x0001, 0); // Binding request
    msg.writeUInt16BE(0, 2);
    msg.writeUInt32BE(0x2112a442, 4); // magic cookie
    randomBytes(12).copy(msg, 8);
    const done = (v) => { clearTimeout(timer); sock.close(); ok(v); };
    const timer = setTimeout(() => done(false), timeoutMs);
    sock.on('message', (m) => done(m.length >= 20 && m.readUInt32BE(4) === 0x2112a442));
    sock.on('error', () => done(false));
    sock.send(msg, port, '127.0.0.1');
  });
}

/** Starts coturn on a free loopback UDP port with time-limited credentials from a shared
 *  secret (the TURN REST API that weft's /voip/turnServer implements). Only UDP, no
 *  TLS/DTLS/CLI; relays on 127.0.0.1 in a small port range; loopback peers allowed (the
 *  calls run on loopback). Stop it with `stop()` (by PID). */
export async function startCoturn({ secret, realm = 'weft.test', relayPorts = relayPortRange(100) } = {}) {
  if (!secret) throw new Error('startCoturn: secret is required');
  const bin = process.env.TURNSERVER ?? '/usr/bin/turnserver';
  if (!existsSync(bin)) throw new Error(`${bin} not found: apt-get install -y coturn (scripts/setup.sh does it for tests)`);
  const dir = mkdtempSync(join(tmpdir(), 'weft-coturn-'));
  const port = await freeUdpPort();
  const logFile = join(dir, 'turnserver.log');
  const args = [
    '-n', // no configuration file: everything is here
    '--listening-ip=127.0.0.1', `--listening-port=${port}`,
    '--relay-ip=127.0.0.1', `--min-port=${relayPorts.min}`, `--max-port=${relayPorts.max}`,
    '--use-auth-secret', `--static-auth-secret=${secret}`, `--realm=${realm}`,
    '--allow-loopback-peers', // refused otherwise: every peer here is 127.0.0.1
    '--no-tcp', '--no-tls', '--no-dtls', '--no-tcp-relay', '--no-cli', '--no-rfc5780',
    '--fingerprint', '--verbose', // logs each ALLOCATE with its username
    `--log-file=${logFile}`, '--simple-log', '--no-stdout-log',
    `--pidfile=${join(dir, 'turnserver.pid')}`,
    `--userdb=${join(dir, 'turndb')}`,
  ];
  let output = '';
  const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout.on('data', (d) => { output += d; });
  child.stderr.on('data', (d) => { output += d; });
  const exited = new Promise((ok) => child.once('exit', (code, signal) => ok(code ?? signal)));
  const log = () => {
    let text = output;
    try { text += readFileSync(logFile, 'utf8'); } catch { /* not yet written */ }
    return text;
  };
  const deadline = Date.now() + 10_000;
  while (!(await stunPing(port))) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`turnserver exited early:\n${log()}`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`turnserver did not answer STUN on 127.0.0.1:${port} within 10 s:\n${log()}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    port,
    pid: child.pid,
    realm,
    relayPorts,
    uri: `turn:127.0.0.1:${port}?transport=udp`,
    log,
    /** Resolves once the log matches `pattern` (coturn writes its log file lazily). */
    async waitForLog(pattern, timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs;
      while (!pattern.test(log())) {
        if (Date.now() > deadline) throw new Error(`coturn log never matched ${pattern}`);
        await new Promise((r) => setTimeout(r, 200));
      }
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        process.kill(child.pid, 'SIGTERM');
        const timer = setTimeout(() => { try { process.kill(child.pid, 'SIGKILL'); } catch { /* gone */ } }, 5_000);
        await exited;
        clearTimeout(timer);
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

// ---------------------------------------------------------------------------------
// weft configurations for calls

/** `[turn]` for weft's embedded relay on a free loopback UDP port. */
export async function embeddedTurnConfig({ secret = 's3cret', relayPorts = relayPortRange(100) } = {}) {
  const port = await freeUdpPort();
  return {
    port,
    config: [
      '[turn]',
      `shared_secret = "${secret}"`,
      'relay = true',
      `relay_listen = "127.0.0.1:${port}"`,
      `relay_min_port = ${relayPorts.min}`,
      `relay_max_port = ${relayPorts.max}`,
      'allow_private_peers = true',
      '',
    ].join('\n'),
  };
}

/** `[turn]` pointing clients at an external coturn (no embedded relay). */
export function coturnConfig(coturn, secret) {
  return ['[turn]', `uris = ["${coturn.uri}"]`, `shared_secret = "${secret}"`, ''].join('\n');
}

// ---------------------------------------------------------------------------------
// Weft's call screen, by its accessible names

export const callRegion = (page) => page.getByRole('region', { name: 'Call' });
export const callStatus = (page) => callRegion(page).getByRole('status');
export const callButton = (page, name) => callRegion(page).getByRole('button', { name, exact: true });

// ---------------------------------------------------------------------------------
// Reading a page's current call (any client), for step-by-step call tests

/** Inbound media of the page's newest open peer connection: video frames decoded, audio bytes. */
export async function inbound(page) {
  return page.evaluate(async () => {
    const open = window.__weftPcs.filter(({ pc }) => pc.signalingState !== 'closed');
    const pc = open[open.length - 1]?.pc;
    let frames = 0;
    let bytes = 0;
    for (const stat of pc ? (await pc.getStats()).values() : []) {
      if (stat.type !== 'inbound-rtp') continue;
      if (stat.kind === 'video') frames += stat.framesDecoded ?? 0;
      if (stat.kind === 'audio') bytes += stat.bytesReceived ?? 0;
    }
    return { frames, bytes };
  });
}

/** Waits until inbound video frames and/or audio bytes keep increasing on the page. */
export async function mediaFlows(page, { video = false, audio = false }, timeoutMs = 15_000) {
  const deadline = Date.now() + timeoutMs;
  let first = await inbound(page);
  for (;;) {
    await new Promise((ok) => setTimeout(ok, 500));
    const now = await inbound(page);
    const videoOk = !video || (first.frames > 0 && now.frames > first.frames);
    const audioOk = !audio || (first.bytes > 0 && now.bytes > first.bytes);
    if (videoOk && audioOk) return now;
    if (Date.now() > deadline) {
      throw new Error(`media is not flowing (video ${video}, audio ${audio}): ${JSON.stringify(first)} → ${JSON.stringify(now)}`);
    }
    if (first.frames === 0 || first.bytes === 0) first = now;
  }
}

/** Open (not closed) peer connections on the page. */
export function openPeerConnections(page) {
  return page.evaluate(() => window.__weftPcs.filter(({ pc }) => pc.signalingState !== 'closed').length);
}

/** The candidate type ("host", "srflx", "relay") of our side of the pair in use. */
export async function selectedCandidateType(page) {
  return page.evaluate(async () => {
    const open = window.__weftPcs.filter(({ pc }) => pc.signalingState !== 'closed');
    const stats = [...(await open[open.length - 1].pc.getStats()).values()];
    const transport = stats.find((s) => s.type === 'transport' && s.selectedCandidatePairId);
    const pair = stats.find((s) => s.id === transport?.selectedCandidatePairId);
    return stats.find((s) => s.id === pair?.localCandidateId)?.candidateType;
  });
}

// ---------------------------------------------------------------------------------
// Diagnostics for a failed call test

/** Keeps the page's console (the app logs call problems it recovers from there). */
export function recordConsole(page) {
  const lines = [];
  const started = Date.now();
  page.on('console', (m) => lines.push(`${Date.now() - started} ms [${m.type()}] ${m.text()}`));
  return lines;
}

/** Writes each page's open peer connections (signalling and ICE state, transceivers with
 *  their directions and tracks, RTP statistics, both descriptions) and its console to
 *  test-output/, so a call that failed can be read afterwards. */
export async function savePeerConnections(testName, pages, consoles = {}) {
  const { mkdirSync, writeFileSync } = await import('node:fs');
  const dir = join(ROOT, 'test-output');
  mkdirSync(dir, { recursive: true });
  const report = {};
  for (const [name, page] of Object.entries(pages)) {
    try {
      report[name] = await page.evaluate(async () => Promise.all((window.__weftPcs ?? [])
        .filter(({ pc }) => pc.signalingState !== 'closed')
        .map(async ({ pc, createdAt }) => ({
          createdAt,
          signalingState: pc.signalingState,
          iceConnectionState: pc.iceConnectionState,
          transceivers: pc.getTransceivers().map((t) => ({
            mid: t.mid, direction: t.direction, currentDirection: t.currentDirection,
            sender: t.sender.track && { kind: t.sender.track.kind, readyState: t.sender.track.readyState, enabled: t.sender.track.enabled, muted: t.sender.track.muted },
            receiver: { kind: t.receiver.track.kind, readyState: t.receiver.track.readyState, muted: t.receiver.track.muted },
          })),
          rtp: [...(await pc.getStats()).values()].filter((s) => /^(inbound|outbound)-rtp$|^transport$/.test(s.type)),
          local: pc.localDescription?.sdp,
          remote: pc.remoteDescription?.sdp,
        }))));
    } catch (e) {
      report[name] = String(e);
    }
    report[`${name}-console`] = consoles[name] ?? [];
  }
  const file = join(dir, `${new Date().toISOString().replace(/[:.]/g, '-')}-${testName}-peer-connections.json`);
  writeFileSync(file, JSON.stringify(report, null, 1));
  console.error(`Peer connections saved to ${file}`);
}
