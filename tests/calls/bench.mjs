// Call setup benchmark (run it through scripts/bench-calls, which puts it in a fresh
// network namespace): on a fresh weft, alice video-calls bob N times; each call is
// timed from the moment alice's client starts the call to both sides decoding inbound
// video (and receiving audio). bob answers as soon as it rings. One row per client.
//
//   node tests/calls/bench.mjs [--calls 10] [--warmup 1] [--relay none|embedded|coturn]
//
// Media is detected the same way for every row: a probe wraps the page's
// RTCPeerConnection (harness.mjs: installPeerConnectionProbe) and polls getStats every
// 10 ms, so rows differ only in the clients' own signalling and media set-up.

import { parseArgs } from 'node:util';
import { startServer } from '../e2e/harness.mjs';
import {
  callRegion, checkNetns, coturnConfig, createDm, embeddedTurnConfig, installPeerConnectionProbe, launchCallBrowser, openJsSdkPeer, register,
  servePage, startCoturn, waitForInboundMedia,
} from './harness.mjs';

const { values: opts } = parseArgs({
  options: {
    calls: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '1' },
    relay: { type: 'string', default: 'none' },
  },
});
const CALLS = Number(opts.calls);
const WARMUP = Number(opts.warmup);
if (!['none', 'embedded', 'coturn'].includes(opts.relay)) throw new Error('--relay is none, embedded or coturn');
const forceTURN = opts.relay !== 'none';
const SECRET = 'bench-s3cret';

/** Times one call: resolves with { total, ringing, connected } in ms from call start. */
async function timeCall({ start, answerWhenRinging, callerPage, calleePage, hangup }) {
  const t0 = await start(); // page wall clock when the client was asked to call
  await answerWhenRinging?.();
  const [a, b] = await Promise.all([
    waitForInboundMedia(callerPage, { since: t0, frames: 1, audioBytes: 1, timeoutMs: 30_000 }),
    waitForInboundMedia(calleePage, { since: t0, frames: 1, audioBytes: 1, timeoutMs: 30_000 }),
  ]);
  const total = Math.max(a.at, b.at) - t0;
  await hangup();
  return { total, t0 };
}

// ---------------------------------------------------------------------------------
// Row: matrix-js-sdk MatrixCall (Element Web's call code) on both sides

async function jsSdkRow({ browser, server, pageUrl, tag }) {
  const a = await register(server.base, `alice-${tag}`);
  const b = await register(server.base, `bob-${tag}`);
  const roomId = await createDm(server.base, a, b);
  const alice = await openJsSdkPeer(browser, pageUrl, { name: 'alice', base: server.base, account: a, forceTURN });
  const bob = await openJsSdkPeer(browser, pageUrl, { name: 'bob', base: server.base, account: b, forceTURN });
  await bob.setAutoAnswer({ video: true }); // answers inside the page the moment it rings
  let callId;
  return {
    name: 'matrix-js-sdk MatrixCall',
    async oneCall() {
      const result = await timeCall({
        callerPage: alice.page,
        calleePage: bob.page,
        start: async () => {
          const placed = await alice.place(roomId, { video: true }); // placedAt: just before placeVideoCall()
          callId = placed.callId;
          return placed.placedAt;
        },
        hangup: async () => {
          await alice.hangup({ callId });
          await alice.waitState('ended', { callId, timeoutMs: 10_000 });
          await bob.waitState('ended', { callId, timeoutMs: 10_000 });
        },
      });
      // Milestones from the pages' own logs, for the breakdown columns.
      const aliceLog = (await alice.state({ callId })).log;
      const bobLog = (await bob.state({ callId })).log;
      const at = (log, what) => log.find((e) => e.what.includes(what))?.at;
      result.ringing = at(bobLog, 'incoming') - result.t0;
      result.connected = at(aliceLog, '-> connected') - result.t0;
      return result;
    },
    async close() {
      await alice.close();
      await bob.close();
    },
  };
}

// ---------------------------------------------------------------------------------
// Row: Weft's own client on both sides, driven through its UI

async function weftUiRow({ browser, server, tag }) {
  const accounts = [await register(server.base, `alice-${tag}`), await register(server.base, `bob-${tag}`)];
  await createDm(server.base, accounts[0], accounts[1]);
  const pages = [];
  for (const [i, account] of accounts.entries()) {
    const context = await browser.newContext();
    await installPeerConnectionProbe(context);
    if (forceTURN) await context.addInitScript(() => localStorage.setItem('weft.calls.relay_only', 'on'));
    const page = await context.newPage();
    await page.goto(server.base);
    await page.getByRole('textbox', { name: 'Username' }).fill(account.userId.slice(1).split(':')[0]);
    await page.getByRole('textbox', { name: 'Password', exact: true }).fill('calls-password');
    await page.getByRole('button', { name: 'Sign in' }).click();
    const other = accounts[1 - i].userId.slice(1).split(':')[0];
    await page.getByRole('navigation', { name: 'Rooms' }).getByText(other).first().click({ timeout: 20_000 });
    await page.getByRole('button', { name: 'Video call' }).waitFor({ timeout: 20_000 });
    pages.push({ context, page });
  }
  const [caller, callee] = pages.map((p) => p.page);
  // The callee answers inside the page the moment "Accept with video" appears, as the
  // js-sdk row's auto-answer does; the caller notes when its screen first shows the timer.
  const watch = (page, what) => page.evaluate((what) => {
    const now = () => performance.timeOrigin + performance.now();
    window.__bench = {};
    const observer = new MutationObserver(() => {
      const region = document.querySelector('section.call');
      if (!region) return;
      if (what === 'answer' && !window.__bench.ringing) {
        const accept = [...region.querySelectorAll('button')].find((b) => b.textContent.trim() === 'Accept with video');
        if (accept) {
          window.__bench.ringing = now();
          accept.click();
          observer.disconnect();
        }
      }
      if (what === 'connected' && /^\d+:\d\d$/.test(region.querySelector('[role=status]')?.textContent ?? '')) {
        window.__bench.connected = now();
        observer.disconnect();
      }
    });
    observer.observe(document.body, { subtree: true, childList: true, characterData: true, attributes: true });
  }, what);
  const noted = (page, what) => page.evaluate((what) => window.__bench?.[what] ?? NaN, what);
  return {
    name: 'Weft client',
    async oneCall() {
      await watch(callee, 'answer');
      await watch(caller, 'connected');
      const result = await timeCall({
        callerPage: caller,
        calleePage: callee,
        // The clock is read and the button clicked in one task: Playwright's click()
        // would add its own waits to the number.
        start: () => caller.evaluate(() => {
          const t = performance.timeOrigin + performance.now();
          [...document.querySelectorAll('button')].find((b) => b.getAttribute('aria-label') === 'Video call').click();
          return t;
        }),
        hangup: async () => {
          await callRegion(caller).getByRole('button', { name: 'Hang up' }).click();
          for (const [who, page] of [['caller', caller], ['callee', callee]]) {
            try {
              await callRegion(page).getByRole('status').filter({ hasText: /Call ended/ }).waitFor({ timeout: 10_000 });
            } catch (error) {
              const shown = await page.evaluate(() => document.querySelector('section.call')?.innerText);
              throw new Error(`${who} did not show the end of the call; it shows: ${JSON.stringify(shown)}`, { cause: error });
            }
          }
        },
      });
      result.ringing = (await noted(callee, 'ringing')) - result.t0;
      result.connected = (await noted(caller, 'connected')) - result.t0;
      return result;
    },
    async close() {
      for (const { context } of pages) await context.close();
    },
  };
}

const ROWS = [
  weftUiRow,
  jsSdkRow,
];

// ---------------------------------------------------------------------------------

function summary(values) {
  const v = [...values].sort((x, y) => x - y);
  const mid = v.length >> 1;
  const median = v.length % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
  return { median, min: v[0], max: v[v.length - 1] };
}

const fmt = (ms) => (Number.isFinite(ms) ? `${ms.toFixed(0)} ms` : '-');

async function main() {
  checkNetns();
  let coturn;
  let config;
  if (opts.relay === 'embedded') config = (await embeddedTurnConfig({ secret: SECRET })).config;
  if (opts.relay === 'coturn') {
    coturn = await startCoturn({ secret: SECRET });
    config = coturnConfig(coturn, SECRET);
  }
  const server = await startServer({ config });
  const page = await servePage();
  const browser = await launchCallBrowser();
  const results = [];
  try {
    for (const [i, makeRow] of ROWS.entries()) {
      const row = await makeRow({ browser: browser.browser, server, pageUrl: page.url, tag: `r${i}` });
      try {
        const warm = [];
        for (let n = 0; n < WARMUP; n++) warm.push(await row.oneCall());
        const runs = [];
        for (let n = 0; n < CALLS; n++) {
          const r = await row.oneCall();
          runs.push(r);
          process.stderr.write(`  ${row.name}: call ${n + 1}/${CALLS}: ${fmt(r.total)}\n`);
          await new Promise((ok) => setTimeout(ok, 300));
        }
        results.push({ name: row.name, runs, warm });
      } finally {
        await row.close();
      }
    }
  } finally {
    await browser.close();
    await page.stop();
    await server.stop();
    await coturn?.stop();
  }

  const path = { none: 'loopback host candidates', embedded: "relay-only via weft's embedded TURN", coturn: 'relay-only via coturn' }[opts.relay];
  console.log(`\nCall setup: video call placed -> inbound video decoded and audio received on both sides`);
  console.log(`${CALLS} calls per client after ${WARMUP} warm-up (not counted); callee answers on ringing; ${path}; headless Chromium, fake media, netns loopback\n`);
  const header = ['client', 'median', 'min', 'max', 'ringing (median)', 'ICE connected (median)'];
  const rows = results.map(({ name, runs }) => {
    const t = summary(runs.map((r) => r.total));
    const ring = runs.every((r) => Number.isFinite(r.ringing)) ? summary(runs.map((r) => r.ringing)).median : NaN;
    const conn = runs.every((r) => Number.isFinite(r.connected)) ? summary(runs.map((r) => r.connected)).median : NaN;
    return [name, fmt(t.median), fmt(t.min), fmt(t.max), fmt(ring), fmt(conn)];
  });
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells) => `| ${cells.map((c, i) => (i ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join(' | ')} |`;
  console.log(line(header));
  console.log(`|${widths.map((w, i) => (i ? `${'-'.repeat(w + 1)}:` : `:${'-'.repeat(w + 1)}`)).join('|')}|`);
  for (const r of rows) console.log(line(r));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
