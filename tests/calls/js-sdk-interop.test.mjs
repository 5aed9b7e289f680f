// Weft's calls against matrix-js-sdk's MatrixCall (Element Web's implementation, from
// npm, bundled for the browser): Weft calls it, and it calls Weft; both connect with
// media both ways and hang up cleanly. Run through tests/calls/netns.

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

    await step('both call at once: one call connects (js-sdk sets no invitee, so its call wins)', async () => {
      const [, placed] = await Promise.all([
        weft.getByRole('button', { name: 'Video call' }).click(),
        element.place(roomId, { video: true }),
      ]);
      await status(weft).filter({ hasText: /^\d+:\d\d$/ }).waitFor(WAIT);
      await element.waitState(['connected'], { callId: placed.callId });
      await mediaFlows(weft, { video: true, audio: true });
      await expectMediaFlowing(element, { callId: placed.callId });
      assert.equal(await openPeerConnections(weft), 1, 'Weft kept one call');
      // Weft gave way: its own invite was hung up as replaced, and it answered js-sdk's.
      const events = await roomEvents(server.base, bob, roomId);
      assert.ok(events.some((e) => e.type === 'm.call.hangup' && e.sender === alice.userId && e.content.reason === 'replaced'), 'Weft replaced its call');
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
