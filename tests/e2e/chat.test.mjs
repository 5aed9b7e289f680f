// Two people chat through the browser: alice and bob register through the
// UI, alice creates a room and invites bob, bob joins, and messages travel
// both ways through our homeserver.

import { test } from 'node:test';
import { launchBrowser, saveArtifacts, startServer } from './harness.mjs';

const WAIT = { timeout: 15_000 };

async function register(page, base, username) {
  await page.goto(base);
  await page.getByRole('textbox', { name: 'Username' }).fill(username);
  await page.getByRole('textbox', { name: 'Password', exact: true }).fill('correct horse battery');
  await page.getByRole('button', { name: 'Create account' }).click();
  await page.getByRole('navigation', { name: 'Rooms' }).waitFor(WAIT);
}

function timeline(page) {
  return page.getByRole('region', { name: 'Timeline' });
}

async function send(page, text) {
  await page.getByRole('textbox', { name: 'Message' }).fill(text);
  await page.getByRole('button', { name: 'Send' }).click();
}

test('a message travels from alice\'s browser to bob\'s and back', async () => {
  const server = await startServer();
  const { browser, close } = await launchBrowser();
  const pages = {};
  try {
    const alice = pages.alice = await (await browser.newContext()).newPage();
    const bob = pages.bob = await (await browser.newContext()).newPage();

    await register(alice, server.base, 'alice');
    await register(bob, server.base, 'bob');

    await alice.getByRole('button', { name: 'New room' }).click();
    await alice.getByRole('textbox', { name: 'Room name' }).fill('Lobby');
    await alice.getByRole('button', { name: 'Create', exact: true }).click();
    await alice.getByRole('textbox', { name: 'Invite user' }).fill(`@bob:${server.serverName}`);
    await alice.getByRole('button', { name: 'Invite', exact: true }).click();

    const rooms = bob.getByRole('navigation', { name: 'Rooms' });
    await rooms.getByText('Lobby').waitFor(WAIT);
    await rooms.getByRole('button', { name: 'Join' }).click();
    await bob.getByRole('textbox', { name: 'Message' }).waitFor(WAIT);

    await send(alice, 'hello');
    // Bounded waits: each fails the test if the message does not arrive in time.
    await timeline(bob).getByRole('listitem').filter({ hasText: 'hello' }).filter({ hasText: 'alice' })
      .first().waitFor({ state: 'visible', ...WAIT });

    await send(bob, 'hi alice, bob here');
    await timeline(alice).getByRole('listitem').filter({ hasText: 'hi alice, bob here' }).filter({ hasText: 'bob' })
      .first().waitFor({ state: 'visible', ...WAIT });
  } catch (error) {
    await saveArtifacts('chat', pages, server);
    throw error;
  } finally {
    await close();
    await server.stop();
  }
});
