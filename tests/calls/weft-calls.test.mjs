// 1:1 calls between two people in Weft, in headless Chromium with fake camera and
// microphone, inside a network namespace where only loopback exists (run through
// tests/calls/netns). A video call connects with media both ways, mute shows on the other
// side, hang-up ends it on both sides and the timeline keeps it; a voice call turns into
// a video call; decline; a short-lived invite becomes "Missed call"; both calling at
// once ends with one call; relay-only calls through weft's embedded TURN relay. The
// ringing and call screens pass an axe-core scan, with screenshots (see ../e2e/screens.mjs).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { saveArtifacts, startServer } from '../e2e/harness.mjs';
import { WAIT, api, item, meet, session, step } from '../e2e/steps.mjs';
import { lookAt } from '../e2e/screens.mjs';
import {
  checkNetns, coturnConfig, embeddedTurnConfig, inbound, installPeerConnectionProbe, launchCallBrowser,
  mediaFlows, openPeerConnections, recordConsole, savePeerConnections, selectedCandidateType, startCoturn,
  callRegion, callStatus as status, callButton as button,
} from './harness.mjs';

checkNetns();

const TIMER = /^\d+:\d\d$/;
const pressed = (page, name) => callRegion(page).locator('button[aria-pressed="true"]', { hasText: name }).waitFor(WAIT);

async function connected(page) {
  await status(page).filter({ hasText: TIMER }).waitFor(WAIT);
}

/** Both sides say how the call ended; a few seconds later the screens go away by themselves. */
async function ended(pages, text) {
  await Promise.all(pages.map((page) => status(page).filter({ hasText: text }).waitFor(WAIT)));
  await Promise.all(pages.map((page) => callRegion(page).waitFor({ state: 'hidden', ...WAIT })));
}

test('calls between two Weft clients, direct and relayed', { timeout: 300_000 }, async () => {
  const server = await startServer({ config: (await embeddedTurnConfig()).config });
  const { browser, close } = await launchCallBrowser();
  const pages = {};
  const consoles = {};
  try {
    const contexts = [await browser.newContext(), await browser.newContext()];
    for (const context of contexts) await installPeerConnectionProbe(context);
    const alice = pages.alice = await contexts[0].newPage();
    const bob = pages.bob = await contexts[1].newPage();
    consoles.alice = recordConsole(alice);
    consoles.bob = recordConsole(bob);

    await step('alice and bob share a room; bob looks at another room', async () => {
      // In the clear, so the test can read the call events on the server (glare below);
      // the encrypted DM further down does the same calls encrypted.
      await meet(alice, bob, server, server, 'Call room', { encrypted: false });
      // A second room for bob: ringing must show whichever room is open.
      await bob.getByRole('button', { name: 'New room' }).click();
      await bob.getByRole('textbox', { name: 'Room name' }).fill('Elsewhere');
      await bob.getByRole('button', { name: 'Create', exact: true }).click();
      await bob.getByRole('heading', { name: 'Elsewhere' }).waitFor(WAIT);
      // No call buttons in a room with one member.
      assert.equal(await bob.getByRole('button', { name: 'Video call' }).count(), 0);
      // The calls module is not part of the first load (the crypto chunk is: it is
      // fetched when the session starts).
      const scripts = await alice.evaluate(() => performance.getEntriesByType('resource').map((e) => e.name));
      assert.ok(!scripts.some((name) => /split_calls/.test(name)), `calls chunk loaded early: ${scripts}`);
      assert.ok(scripts.some((name) => /split_crypto/.test(name)), `crypto chunk loaded at sign-in: ${scripts}`);
    });

    await step('video call: rings anywhere, connects, media flows both ways', async () => {
      await alice.getByRole('button', { name: 'Video call' }).click();
      await status(alice).filter({ hasText: /Calling bob/ }).waitFor(WAIT);
      await status(bob).filter({ hasText: 'alice is video calling you' }).waitFor(WAIT);
      await lookAt(bob, 'call-ringing');
      await button(bob, 'Accept with video').click();
      await connected(alice);
      await connected(bob);
      await mediaFlows(alice, { video: true, audio: true });
      await mediaFlows(bob, { video: true, audio: true });
      await callRegion(alice).getByLabel("bob's video").waitFor(WAIT);
      await callRegion(bob).getByLabel('Your camera').waitFor(WAIT);
    });

    await step('the call screen: no serious accessibility violations; screenshots', async () => {
      await lookAt(alice, 'call');
    });

    await step('mute shows on the other side', async () => {
      await button(alice, 'Mute').click();
      await pressed(alice, 'Mute');
      await callRegion(bob).getByText('alice is muted').waitFor(WAIT);
      await button(alice, 'Mute').click();
      await callRegion(bob).getByText('alice is muted').waitFor({ state: 'hidden', ...WAIT });
    });

    await step('devices: switching the microphone in a call keeps the audio flowing', async () => {
      await button(alice, 'Devices').click();
      const mic = callRegion(alice).getByRole('combobox', { name: 'Microphone' });
      await mic.locator('option').first().waitFor({ state: 'attached', ...WAIT });
      const options = await mic.locator('option').evaluateAll((os) => os.map((o) => o.value));
      const chosen = options[options.length - 1];
      await mic.selectOption(chosen);
      await alice.waitForFunction((id) => localStorage.getItem('weft.calls.audio_device') === id, chosen, WAIT);
      await mediaFlows(bob, { audio: true });
      assert.ok(await callRegion(alice).getByRole('combobox', { name: 'Camera' }).isVisible());
      await lookAt(alice, 'call-devices');
      await button(alice, 'Devices').click();
    });

    await step('camera off stops the camera; on again, the video comes back', async () => {
      await button(alice, 'Camera').click();
      await callRegion(alice).locator('button[aria-pressed="false"]', { hasText: 'Camera' }).waitFor(WAIT);
      // Really off (the camera light goes out), not just a disabled track.
      await alice.waitForFunction(() => {
        const { pc } = window.__weftPcs.filter(({ pc }) => pc.signalingState !== 'closed').at(-1);
        const video = pc.getSenders().filter((s) => s.track?.kind === 'video');
        return video.length > 0 && video.every((s) => s.track.readyState === 'ended');
      }, null, WAIT);
      await callRegion(bob).getByLabel("alice's video").waitFor({ state: 'hidden', ...WAIT });
      await button(alice, 'Camera').click();
      await pressed(alice, 'Camera');
      await callRegion(bob).getByLabel("alice's video").waitFor(WAIT);
      await mediaFlows(bob, { video: true, audio: true });
    });

    await step('hold and resume', async () => {
      await button(alice, 'Hold').click();
      await pressed(alice, 'Hold');
      await status(alice).filter({ hasText: 'On hold' }).waitFor(WAIT);
      await status(bob).filter({ hasText: 'alice put the call on hold' }).waitFor(WAIT);
      await button(alice, 'Hold').click();
      await connected(alice);
      await connected(bob);
      await mediaFlows(bob, { video: true, audio: true });
      await mediaFlows(alice, { video: true, audio: true });
    });

    await step('hang up ends the call on both sides; the timeline keeps it', async () => {
      await button(bob, 'Hang up').click();
      await ended([alice, bob], /Call ended · \d+:\d\d/);
      await item(alice, 'Video call ended').waitFor(WAIT);
      await bob.getByRole('navigation', { name: 'Rooms' }).getByText('Call room').click();
      await item(bob, 'Video call ended').waitFor(WAIT);
    });

    await step('a voice call turns into a video call', async () => {
      await bob.getByRole('button', { name: 'Voice call' }).click();
      await status(alice).filter({ hasText: 'bob is calling you' }).waitFor(WAIT);
      await button(alice, 'Accept').click();
      await connected(alice);
      await connected(bob);
      await mediaFlows(alice, { audio: true });
      assert.equal((await inbound(alice)).frames, 0, 'no video in a voice call');
      await button(bob, 'Camera').click();
      await pressed(bob, 'Camera');
      await mediaFlows(alice, { video: true, audio: true });
      await button(alice, 'Hang up').click();
      await ended([alice, bob], /Call ended/);
    });

    await step('a voice call accepted with video: the caller gets the video', async () => {
      await bob.getByRole('button', { name: 'Voice call' }).click();
      await button(alice, 'Accept with video').click();
      await connected(alice);
      await connected(bob);
      await mediaFlows(bob, { video: true, audio: true });
      await button(bob, 'Hang up').click();
      await ended([alice, bob], /Call ended/);
    });

    await step('decline', async () => {
      await alice.getByRole('button', { name: 'Voice call' }).click();
      await button(bob, 'Decline').waitFor(WAIT);
      await button(bob, 'Decline').click();
      await Promise.all([ended([alice], 'Call declined'), ended([bob], 'You declined the call')]);
      await item(alice, 'Call declined').waitFor(WAIT);
      await item(bob, 'You declined the call').waitFor(WAIT);
    });

    await step('an invite with a short lifetime becomes a missed call', async () => {
      // An invite as another client would send it, valid for 6 s.
      const s = await session(alice);
      const roomId = (await bob.evaluate(() => localStorage.getItem('weft.selected_room')));
      const callId = `short${Date.now()}`;
      await api(s, 'PUT', `/rooms/${encodeURIComponent(roomId)}/send/m.call.invite/${callId}`, {
        call_id: callId, party_id: 'OTHERDEVICE', version: '1', lifetime: 6000,
        offer: { type: 'offer', sdp: await offerSdp(alice) },
      });
      await status(bob).filter({ hasText: 'alice is calling you' }).waitFor(WAIT);
      // An invite to anyone from alice's account is for the others: her own page stays quiet.
      assert.equal(await callRegion(alice).isVisible(), false, "alice's own invite rang for her");
      await ended([bob], 'Missed call');
      // The caller's client gives up too, as clients do when their invite expires.
      await api(s, 'PUT', `/rooms/${encodeURIComponent(roomId)}/send/m.call.hangup/${callId}-h`, {
        call_id: callId, party_id: 'OTHERDEVICE', version: '1', reason: 'invite_timeout',
      });
      await item(bob, 'Missed call').waitFor(WAIT);
    });

    await step('both call at once: exactly one call connects', async () => {
      await Promise.all([
        alice.getByRole('button', { name: 'Video call' }).click(),
        bob.getByRole('button', { name: 'Video call' }).click(),
      ]);
      await connected(alice);
      await connected(bob);
      await mediaFlows(alice, { video: true, audio: true });
      await mediaFlows(bob, { video: true, audio: true });
      for (const page of [alice, bob]) {
        assert.equal(await openPeerConnections(page), 1, 'one peer connection left');
      }
      // Glare was resolved, not dodged: one of the two invites was hung up as replaced.
      const s = await session(alice);
      const roomId = await alice.evaluate(() => localStorage.getItem('weft.selected_room'));
      const { chunk } = await api(s, 'GET', `/rooms/${encodeURIComponent(roomId)}/messages?dir=b&limit=30`);
      const invites = chunk.filter((e) => e.type === 'm.call.invite').slice(0, 2);
      const replaced = chunk.filter((e) => e.type === 'm.call.hangup' && e.content.reason === 'replaced');
      assert.equal(new Set(invites.map((e) => e.sender)).size, 2, 'both placed a call');
      assert.equal(replaced.length, 1, 'exactly one call was replaced');
      await button(alice, 'Hang up').click();
      await ended([alice, bob], /Call ended/);
    });

    await step('relay-only through the embedded TURN relay', async () => {
      // alice turns the setting on in her account menu; bob's side is direct.
      await alice.getByRole('button', { name: /@alice:/ }).click();
      await alice.getByRole('checkbox', { name: /Relay calls through the server/ }).check();
      await alice.getByRole('button', { name: /@alice:/ }).click();
      await alice.getByRole('button', { name: 'Video call' }).click();
      await button(bob, 'Accept with video').click();
      await connected(alice);
      await mediaFlows(alice, { video: true, audio: true });
      await mediaFlows(bob, { video: true, audio: true });
      assert.equal(await selectedCandidateType(alice), 'relay');
      await button(alice, 'Hang up').click();
      await ended([alice, bob], /Call ended/);
    });

    await step('a video call in an encrypted DM: media both ways, only ciphertext on the server', async () => {
      await alice.getByRole('button', { name: /@alice:/ }).click();
      await alice.getByRole('checkbox', { name: /Relay calls through the server/ }).uncheck();
      await alice.getByRole('button', { name: /@alice:/ }).click();
      await bob.getByRole('button', { name: 'Start chat' }).click();
      await bob.getByRole('textbox', { name: 'User ID' }).fill('@alice:localhost');
      await bob.getByRole('button', { name: 'Start', exact: true }).click();
      await bob.getByRole('img', { name: 'Encrypted' }).waitFor(WAIT);
      await alice.getByRole('navigation', { name: 'Rooms' }).getByRole('button', { name: 'Join', exact: true }).click();
      await alice.getByRole('img', { name: 'Encrypted' }).waitFor(WAIT);
      await bob.getByRole('textbox', { name: 'Message' }).fill('call me');
      await bob.getByRole('textbox', { name: 'Message' }).press('Enter');
      await item(alice, 'call me').waitFor(WAIT);
      await alice.getByRole('button', { name: 'Video call' }).click();
      await button(bob, 'Accept with video').click();
      await connected(alice);
      await connected(bob);
      await mediaFlows(alice, { video: true, audio: true });
      await mediaFlows(bob, { video: true, audio: true });
      await button(alice, 'Hang up').click();
      await ended([alice, bob], /Call ended/);
      const s = await session(alice);
      const roomId = await alice.evaluate(() => localStorage.getItem('weft.selected_room'));
      const { chunk } = await api(s, 'GET', `/rooms/${encodeURIComponent(roomId)}/messages?dir=b&limit=50`);
      const sent = chunk.filter((e) => e.state_key === undefined);
      assert.ok(sent.length >= 4, `invite, answer, candidates, hangup are there (${sent.length})`);
      assert.deepEqual([...new Set(sent.map((e) => e.type))], ['m.room.encrypted'], 'every call event is encrypted');
    });

    await step('signing out ends a call at once, for the other side too (encrypted DM)', async () => {
      await bob.getByRole('button', { name: 'Video call' }).click();
      await button(alice, 'Accept with video').click();
      await connected(alice);
      await alice.getByRole('button', { name: /@alice:/ }).click();
      await alice.getByRole('button', { name: 'Sign out' }).click();
      await alice.getByRole('button', { name: 'Sign in' }).waitFor(WAIT);
      // Her peer connection (and with it camera and microphone) is gone.
      await alice.waitForFunction(() => window.__weftPcs.every(({ pc }) => pc.signalingState === 'closed'), null, WAIT);
      // She hung up before her session ended: bob's call ends now, not after ICE gives up.
      await status(bob).filter({ hasText: /Call ended/ }).waitFor({ timeout: 10_000 });
    });
  } catch (error) {
    await savePeerConnections('weft-calls', pages, consoles);
    await saveArtifacts('weft-calls', pages, server);
    throw error;
  } finally {
    await close();
    await server.stop();
  }
});

/** A real offer from the browser, for invites the test sends itself. */
async function offerSdp(page) {
  return page.evaluate(async () => {
    const pc = new RTCPeerConnection();
    pc.addTransceiver('audio');
    const offer = await pc.createOffer();
    pc.close();
    return offer.sdp;
  });
}

test('relay-only calls through an external coturn', { timeout: 180_000 }, async () => {
  const secret = 'coturn-call-secret';
  const coturn = await startCoturn({ secret });
  const server = await startServer({ config: coturnConfig(coturn, secret) });
  const { browser, close } = await launchCallBrowser();
  const pages = {};
  try {
    const contexts = [await browser.newContext(), await browser.newContext()];
    for (const context of contexts) {
      await installPeerConnectionProbe(context);
      // Both sides relay-only, set before the app starts.
      await context.addInitScript(() => localStorage.setItem('weft.calls.relay_only', 'on'));
    }
    const alice = pages.alice = await contexts[0].newPage();
    const bob = pages.bob = await contexts[1].newPage();
    await step('a video call connects through coturn only', async () => {
      await meet(alice, bob, server, server, 'Relayed');
      await alice.getByRole('button', { name: 'Video call' }).click();
      await button(bob, 'Accept with video').click();
      await connected(alice);
      await connected(bob);
      await mediaFlows(alice, { video: true, audio: true });
      await mediaFlows(bob, { video: true, audio: true });
      assert.equal(await selectedCandidateType(alice), 'relay');
      assert.equal(await selectedCandidateType(bob), 'relay');
      // coturn accepted weft's credentials for both users.
      for (const user of ['alice', 'bob']) {
        await coturn.waitForLog(new RegExp(`user <\\d+:@${user}:[^>]*>: incoming packet ALLOCATE processed, success`));
      }
      await button(alice, 'Hang up').click();
      await ended([alice, bob], /Call ended/);
    });
  } catch (error) {
    await saveArtifacts('weft-calls-coturn', pages, server);
    console.error(coturn.log().slice(-4000));
    throw error;
  } finally {
    await close();
    await server.stop();
    await coturn.stop();
  }
});
