// Weft's calls through Synapse (from PyPI), which has no TURN configured here: two Weft
// clients signed in to Synapse make a video call that connects with media both ways,
// and hang up. Run through tests/calls/netns.

import { test } from 'node:test';
import { saveArtifacts, startServer, startSynapse } from '../e2e/harness.mjs';
import { WAIT, item, meet, step } from '../e2e/steps.mjs';
import {
  callRegion, callStatus as status, checkNetns, installPeerConnectionProbe, launchCallBrowser, mediaFlows,
} from './harness.mjs';

checkNetns();


test('a Weft video call through Synapse', { timeout: 180_000 }, async () => {
  const client = await startServer();
  const synapse = await startSynapse();
  const { browser, close } = await launchCallBrowser();
  const pages = {};
  try {
    const contexts = [await browser.newContext(), await browser.newContext()];
    for (const context of contexts) await installPeerConnectionProbe(context);
    const alice = pages.alice = await contexts[0].newPage();
    const bob = pages.bob = await contexts[1].newPage();
    await step('video call connects with media both ways, hang-up ends it', async () => {
      await meet(alice, bob, client, synapse, 'Synapse call');
      await alice.getByRole('button', { name: 'Video call' }).click();
      await callRegion(bob).getByRole('button', { name: 'Accept with video' }).click(WAIT);
      for (const page of [alice, bob]) await status(page).filter({ hasText: /^\d+:\d\d$/ }).waitFor(WAIT);
      await mediaFlows(alice, { video: true, audio: true });
      await mediaFlows(bob, { video: true, audio: true });
      await callRegion(alice).getByRole('button', { name: 'Hang up' }).click();
      for (const page of [alice, bob]) await status(page).filter({ hasText: /Call ended · \d+:\d\d/ }).waitFor(WAIT);
      await item(bob, 'Video call ended').waitFor(WAIT);
    });
  } catch (error) {
    await saveArtifacts('synapse-calls', pages, synapse);
    throw error;
  } finally {
    await close();
    await synapse.stop();
    await client.stop();
  }
});
