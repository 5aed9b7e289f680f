// Weft's calls against matrix-js-sdk's MatrixCall (Element Web's implementation, from
// npm, bundled for the browser): Weft calls it, and it calls Weft; both call at once (real
// glare, with js-sdk's sync held so that neither has seen the other's invite); js-sdk calls
// first and Weft's "Video call" answers it; both connect with media both ways and hang up
// cleanly. Run through tests/calls/netns.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { saveArtifacts, startServer } from '../e2e/harness.mjs';
import { WAIT, step } from '../e2e/steps.mjs';
import {
  checkNetns, createDm, expectMediaFlowing, installPeerConnectionProbe, launchCallBrowser, mediaFlows,
  openJsSdkPeer, openPeerConnections, register, servePage,
  callRegion, callStatus as status, callButton as button,
} from './harness.mjs';

checkNetns();

/** The room's latest events, newest first. */
async function roomEvents(base, account, roomId) {
  const res = await fetch(`${base}/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/messages?dir=b&limit=50`, {
    headers: { authorization: `Bearer ${account.accessToken}` },
  });
  return (await res.json()).chunk;
}

/** The IDs of the room's latest events, to tell later events from them. */
async function eventIds(base, account, roomId) {
  return new Set((await roomEvents(base, account, roomId)).map((e) => e.event_id));
}

/** Polls the room until an event matching `match` that is not in `earlier` (a set of event
 * IDs) is there; returns it. Earlier steps' call events must never count. */
async function waitForEvent(base, account, roomId, earlier, match, timeoutMs = WAIT.timeout) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = (await roomEvents(base, account, roomId)).find((e) => !earlier.has(e.event_id) && match(e));
    if (found) return found;
    if (Date.now() > deadline) throw new Error(`no such event in ${roomId}: ${match}`);
    await new Promise((ok) => setTimeout(ok, 100));
  }
}

/** Wakes `account`'s long-poll (an account data change is in its next sync). */
async function wakeSync(base, account) {
  const res = await fetch(`${base}/_matrix/client/v3/user/${encodeURIComponent(account.userId)}/account_data/org.weft.test.wake`, {
    method: 'PUT', headers: { authorization: `Bearer ${account.accessToken}`, 'content-type': 'application/json' },
    body: JSON.stringify({ at: Date.now() }),
  });
  assert.equal(res.status, 200);
}

/** Holds `page`'s /sync requests until the returned function is called. The long-poll
 * already in flight is woken with `wake` first, so once this resolves nothing reaches the
 * page's sync until it is resumed. */
async function holdSync(page, wake) {
  const held = [];
  let holding = true;
  let onHeld;
  const firstHeld = new Promise((ok) => { onHeld = ok; });
  const pattern = (url) => url.pathname.endsWith('/_matrix/client/v3/sync');
  await page.route(pattern, (route) => {
    if (!holding) return route.continue();
    held.push(route);
    onHeld();
  });
  await wake();
  await firstHeld;
  return async () => {
    holding = false;
    await page.unroute(pattern);
    for (const route of held.splice(0)) await route.continue().catch(() => { /* page moved on */ });
  };
}

test('Weft and matrix-js-sdk call each other', { timeout: 240_000 }, async () => {
  const server = await startServer();
  const page = await servePage();
  const { browser, close } = await launchCallBrowser();
  const pages = {};
  let element;
  try {
    const alice = await register(server.base, 'alice');
    const bob = await register(server.base, 'bob');
    const roomId = await createDm(server.base, alice, bob);
    element = await openJsSdkPeer(browser, page.url, { name: 'bob (js-sdk)', base: server.base, account: bob });
    pages.element = element.page;

    const context = await browser.newContext();
    await installPeerConnectionProbe(context);
    const weft = pages.weft = await context.newPage();
    await weft.goto(server.base);
    await weft.getByRole('textbox', { name: 'Username' }).fill('alice');
    await weft.getByRole('textbox', { name: 'Password', exact: true }).fill('calls-password');
    await weft.getByRole('button', { name: 'Sign in' }).click();
    await weft.getByRole('navigation', { name: 'Rooms' }).getByText('bob').first().click();

    await step('Weft calls js-sdk: video both ways, Weft hangs up', async () => {
      await weft.getByRole('button', { name: 'Video call' }).click();
      const incoming = await element.waitIncoming();
      assert.equal(incoming.roomId, roomId);
      await element.answer({ video: true });
      await status(weft).filter({ hasText: /^\d+:\d\d$/ }).waitFor(WAIT);
      await mediaFlows(weft, { video: true, audio: true });
      await expectMediaFlowing(element);
      await button(weft, 'Hang up').click();
      await element.waitState(['ended']);
      const ended = await element.state();
      assert.equal(ended.hangupReason, 'user_hangup');
    });

    await step('js-sdk calls Weft: video both ways, js-sdk hangs up', async () => {
      await element.place(roomId, { video: true });
      await status(weft).filter({ hasText: 'bob is video calling you' }).waitFor(WAIT);
      await button(weft, 'Accept with video').click();
      await status(weft).filter({ hasText: /^\d+:\d\d$/ }).waitFor(WAIT);
      await mediaFlows(weft, { video: true, audio: true });
      await expectMediaFlowing(element);
      await element.hangup();
      await status(weft).filter({ hasText: /Call ended/ }).waitFor(WAIT);
    });

    await step('both call at once: both invites out before either sees the other; one call connects (js-sdk sets no invitee, so its call wins)', async () => {
      // Real glare, every time: js-sdk's sync is held while both invites go out, so neither
      // side has seen the other's when it places its own.
      const earlier = await eventIds(server.base, bob, roomId);
      const resume = await holdSync(element.page, () => wakeSync(server.base, bob));
      await weft.getByRole('button', { name: 'Video call' }).click();
      const weftInvite = await waitForEvent(server.base, bob, roomId, earlier,
        (e) => e.type === 'm.call.invite' && e.sender === alice.userId);
      const placed = await element.place(roomId, { video: true });
      await waitForEvent(server.base, bob, roomId, earlier,
        (e) => e.type === 'm.call.invite' && e.sender === bob.userId && e.content.call_id === placed.callId);
      // Weft gave way: its own invite hung up as replaced, and js-sdk's answered.
      await waitForEvent(server.base, bob, roomId, earlier, (e) => e.type === 'm.call.hangup' && e.sender === alice.userId
        && e.content.call_id === weftInvite.content.call_id && e.content.reason === 'replaced');
      await waitForEvent(server.base, bob, roomId, earlier, (e) => e.type === 'm.call.answer' && e.sender === alice.userId
        && e.content.call_id === placed.callId);
      await resume();
      await status(weft).filter({ hasText: /^\d+:\d\d$/ }).waitFor(WAIT);
      await element.waitState(['connected'], { callId: placed.callId });
      await mediaFlows(weft, { video: true, audio: true });
      await expectMediaFlowing(element, { callId: placed.callId });
      assert.equal(await openPeerConnections(weft), 1, 'Weft kept one call');
      await element.hangup({ callId: placed.callId });
      await status(weft).filter({ hasText: /Call ended/ }).waitFor(WAIT);
      await callRegion(weft).waitFor({ state: 'hidden', ...WAIT });
    });

    await step('js-sdk calls first: pressing "Video call" while it rings answers it', async () => {
      const placed = await element.place(roomId, { video: true });
      await status(weft).filter({ hasText: 'bob is video calling you' }).waitFor(WAIT);
      const call = weft.getByRole('button', { name: 'Video call', exact: true });
      assert.ok(await call.isEnabled(), 'the call button answers a ringing call from that person');
      await call.click();
      await status(weft).filter({ hasText: /^\d+:\d\d$/ }).waitFor(WAIT);
      await element.waitState(['connected'], { callId: placed.callId });
      await mediaFlows(weft, { video: true, audio: true });
      await expectMediaFlowing(element, { callId: placed.callId });
      assert.equal(await openPeerConnections(weft), 1, 'one call');
      // Answered, not a second call: no invite from Weft after js-sdk's.
      const events = await roomEvents(server.base, bob, roomId);
      const theirs = events.findIndex((e) => e.type === 'm.call.invite' && e.content.call_id === placed.callId);
      assert.ok(theirs >= 0);
      assert.deepEqual(events.slice(0, theirs).filter((e) => e.type === 'm.call.invite'), [], 'Weft placed no call of its own');
      assert.ok(events.some((e) => e.type === 'm.call.answer' && e.sender === alice.userId && e.content.call_id === placed.callId), 'Weft answered js-sdk');
      await element.hangup({ callId: placed.callId });
      await status(weft).filter({ hasText: /Call ended/ }).waitFor(WAIT);
      await callRegion(weft).waitFor({ state: 'hidden', ...WAIT });
    });

    await step('js-sdk calls, Weft declines', async () => {
      const { callId } = await element.place(roomId, { video: false });
      await button(weft, 'Decline').click();
      await element.waitState(['ended'], { callId });
      // Declined with m.call.reject (js-sdk reports any end as user_hangup).
      const events = await roomEvents(server.base, bob, roomId);
      assert.ok(events.some((e) => e.type === 'm.call.reject' && e.sender === alice.userId && e.content.call_id === callId), 'Weft sent m.call.reject');
    });
  } catch (error) {
    if (element) console.error(element.console().slice(-4000));
    await saveArtifacts('js-sdk-call-interop', pages, server);
    throw error;
  } finally {
    if (element) await element.close();
    await close();
    await page.stop();
    await server.stop();
  }
});
