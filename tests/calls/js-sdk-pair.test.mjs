// Two matrix-js-sdk MatrixCall peers (Element Web's call code) in Chromium call each
// other through a fresh weft: directly over loopback host candidates, then relay-only
// through weft's embedded TURN relay and through coturn. Proves the call harness and is
// the reference the interop test with Weft's own call UI will follow.
//   tests/calls/netns node --test --test-concurrency=1 tests/calls/js-sdk-pair.test.mjs

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { saveArtifacts, startServer } from '../e2e/harness.mjs';
import {
  checkNetns, coturnConfig, createDm, embeddedTurnConfig, expectMediaFlowing, launchCallBrowser,
  openJsSdkPeer, register, relayPortRange, servePage, startCoturn, turnServerFor,
} from './harness.mjs';

checkNetns();
let page;
let browser;
before(async () => {
  page = await servePage();
  browser = await launchCallBrowser();
});
after(async () => {
  await browser?.close();
  await page?.stop();
});

/** Fresh accounts, a DM room, and both pages logged in and syncing. */
async function pair(server, { forceTURN = false } = {}) {
  const a = await register(server.base, 'alice');
  const b = await register(server.base, 'bob');
  const roomId = await createDm(server.base, a, b);
  const alice = await openJsSdkPeer(browser.browser, page.url, { name: 'alice', base: server.base, account: a, forceTURN });
  const bob = await openJsSdkPeer(browser.browser, page.url, { name: 'bob', base: server.base, account: b, forceTURN });
  return { alice, bob, roomId };
}

async function withArtifacts(name, run, { server, peers = [], extraLogs = [] }) {
  try {
    await run();
  } catch (e) {
    const pages = Object.fromEntries(peers.filter(Boolean).map((p) => [p.name, p.page]));
    await saveArtifacts(name, pages, server);
    for (const p of peers.filter(Boolean)) {
      console.error(`--- ${p.name} console (last 40 lines)\n${p.console().split('\n').slice(-40).join('\n')}`);
      try { console.error(`--- ${p.name} call log\n${JSON.stringify(await p.events(), null, 1)}`); } catch { /* closed */ }
    }
    for (const [label, log] of extraLogs) console.error(`--- ${label} (last 40 lines)\n${log().split('\n').slice(-40).join('\n')}`);
    throw e;
  }
}

/** alice video-calls bob, bob answers with video; media must flow both ways; alice hangs
 *  up and both calls end. Returns both sides' stats while connected. */
async function videoCall({ alice, bob, roomId }) {
  const incoming = bob.waitIncoming({ timeoutMs: 20_000 });
  const { callId } = await alice.place(roomId, { video: true });
  const ringing = await incoming;
  assert.equal(ringing.callId, callId, 'bob rings for alice\'s call');
  assert.equal(ringing.state, 'ringing');
  assert.equal(ringing.type, 'video');
  await bob.answer({ video: true });

  await alice.waitState('connected', { timeoutMs: 20_000 });
  await bob.waitState('connected', { timeoutMs: 20_000 });
  // Media both ways, and still flowing: counters keep increasing.
  const [, aliceIn] = await expectMediaFlowing(alice, { frames: 10, audioBytes: 1000 });
  const [, bobIn] = await expectMediaFlowing(bob, { frames: 10, audioBytes: 1000 });
  assert.ok(aliceIn.videoFramesDecoded > 0 && aliceIn.audioBytesReceived > 0);
  assert.ok(bobIn.videoFramesDecoded > 0 && bobIn.audioBytesReceived > 0);

  await alice.hangup();
  const aliceEnd = await alice.waitState('ended', { timeoutMs: 10_000 });
  const bobEnd = await bob.waitState('ended', { timeoutMs: 10_000 });
  assert.equal(aliceEnd.hangupParty, 'local');
  assert.equal(bobEnd.hangupParty, 'remote');
  assert.equal(bobEnd.hangupReason, 'user_hangup');
  return { aliceIn, bobIn, callId };
}

function assertRelayed(stats, who, relayPorts) {
  assert.ok(stats.pair, `${who}: a selected candidate pair`);
  assert.equal(stats.pair.localType, 'relay', `${who}: local candidate is a relay one: ${JSON.stringify(stats.pair)}`);
  assert.equal(stats.pair.remoteType, 'relay', `${who}: remote candidate is a relay one (the peer is relay-only too): ${JSON.stringify(stats.pair)}`);
  const port = Number(stats.pair.localAddress.split(':').pop());
  assert.ok(port >= relayPorts.min && port <= relayPorts.max, `${who}: relay port ${port} is in the relay's range ${relayPorts.min}-${relayPorts.max}`);
}

test('js-sdk pair: video call over loopback host candidates, hang-up, then a rejected call', async () => {
  const server = await startServer();
  let peers = {};
  await withArtifacts('calls-js-sdk-direct', async () => {
    peers = await pair(server);
    const { alice, bob, roomId } = peers;
    assert.deepEqual(alice.turnServers, [], 'no TURN configured: /voip/turnServer gives none');
    const { aliceIn, bobIn } = await videoCall(peers);
    // No TURN configured (--no-turn-relay, no [turn]): host candidates on 127.0.0.1.
    assert.equal(aliceIn.pair.localType, 'host');
    assert.equal(bobIn.pair.localType, 'host');

    // A second call in the same room that bob declines.
    const incoming = bob.waitIncoming();
    const { callId } = await alice.place(roomId, { video: false });
    const ringing = await incoming;
    assert.equal(ringing.callId, callId);
    assert.equal(ringing.type, 'voice');
    await bob.reject();
    const aliceEnd = await alice.waitState('ended', { callId, timeoutMs: 10_000 });
    assert.equal(aliceEnd.hangupParty, 'remote');
    assert.equal((await bob.state()).state, 'ended');
  }, { server, peers: [peers.alice, peers.bob] }).finally(async () => {
    await peers.alice?.close();
    await peers.bob?.close();
    await server.stop();
  });
});

test('js-sdk pair: relay-only video call through weft\'s embedded TURN relay', async () => {
  const secret = 's3cret';
  const relayPorts = relayPortRange(100);
  const turn = await embeddedTurnConfig({ secret, relayPorts });
  const server = await startServer({ config: turn.config });
  let peers = {};
  await withArtifacts('calls-js-sdk-embedded-turn', async () => {
    peers = await pair(server, { forceTURN: true });
    const { alice, bob } = peers;
    const creds = await turnServerFor(server.base, alice.account);
    assert.equal(creds.status, 200);
    assert.deepEqual(creds.json.uris, [`turn:127.0.0.1:${turn.port}?transport=udp`]);
    assert.match(creds.json.username, /^\d+:@alice:/);
    assert.deepEqual(alice.turnServers.map((s) => s.urls), [creds.json.uris], 'js-sdk took the homeserver\'s TURN servers');
    const { aliceIn, bobIn } = await videoCall(peers);
    assertRelayed(aliceIn, 'alice', relayPorts);
    assertRelayed(bobIn, 'bob', relayPorts);
  }, { server, peers: [peers.alice, peers.bob] }).finally(async () => {
    await peers.alice?.close();
    await peers.bob?.close();
    await server.stop();
  });
});

test('js-sdk pair: relay-only video call through coturn with weft\'s shared-secret credentials', async () => {
  const secret = 'coturn-s3cret';
  const coturn = await startCoturn({ secret });
  let server;
  let peers = {};
  try {
    server = await startServer({ config: coturnConfig(coturn, secret) });
    await withArtifacts('calls-js-sdk-coturn', async () => {
      peers = await pair(server, { forceTURN: true });
      const creds = await turnServerFor(server.base, peers.alice.account);
      assert.deepEqual(creds.json.uris, [coturn.uri]);
      const { aliceIn, bobIn } = await videoCall(peers);
      assertRelayed(aliceIn, 'alice', coturn.relayPorts);
      assertRelayed(bobIn, 'bob', coturn.relayPorts);
      // coturn allocated relays for both users with weft's HMAC credentials (it writes
      // its log file with a delay).
      for (const user of ['alice', 'bob']) {
        const allocated = new RegExp(`user <\\d+:@${user}:[^>]*>: incoming packet ALLOCATE processed, success`);
        await coturn.waitForLog(allocated, 10_000);
      }
    }, { server, peers: [peers.alice, peers.bob], extraLogs: [['coturn log', coturn.log]] });
  } finally {
    await peers.alice?.close();
    await peers.bob?.close();
    await server?.stop();
    await coturn.stop();
  }
});
