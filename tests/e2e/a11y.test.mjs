// Accessibility and screenshots, against our homeserver and Synapse: axe-core (WCAG 2 A/AA)
// finds no serious or critical violation on the sign-in page, the room list, a room with
// messages, reactions and an image, an unread badge and an invite, and room settings, each at desktop and phone size in
// both colour schemes; every one of those screens is written to test-output/screens/.
// The call screen is scanned by the call tests (tests/calls/weft-calls.test.mjs), which run
// where calls can connect.

import { test } from 'node:test';
import { launchBrowser, saveArtifacts, startServer, startSynapse } from './harness.mjs';
import { png } from './files.mjs';
import { WAIT, action, api, meet, seen, send, session, step } from './steps.mjs';
import { lookAt } from './screens.mjs';

async function scenario(kind) {
  const client = await startServer();
  const homeserver = kind === 'synapse' ? await startSynapse() : client;
  const { browser, close } = await launchBrowser();
  const pages = {};
  try {
    const alice = pages.alice = await (await browser.newContext()).newPage();
    const bob = pages.bob = await (await browser.newContext()).newPage();
    const suffix = kind === 'synapse' ? '-synapse' : '';

    await step('the sign-in page', async () => {
      await alice.goto(client.base);
      await alice.getByRole('textbox', { name: 'Username' }).waitFor(WAIT);
      await lookAt(alice, `sign-in${suffix}`);
    });

    await step('a room with messages, a reply, a reaction and an image', async () => {
      await meet(alice, bob, client, homeserver, 'Screens');
      await send(bob, 'Hello alice, this is a message long enough to wrap on a phone screen, with **bold** text.');
      await seen(alice, 'Hello alice');
      await action(alice, 'Hello alice', 'Reply');
      await send(alice, 'And this is a reply');
      await seen(bob, 'And this is a reply');
      await action(bob, 'And this is a reply', 'React');
      await bob.getByRole('button', { name: 'React with 👍' }).click();
      await alice.getByRole('textbox', { name: 'Message' }).waitFor(WAIT);
      await alice.locator('form.composer input[type=file]').setInputFiles({ name: 'picture.png', mimeType: 'image/png', buffer: png(640, 360) });
      await alice.getByRole('dialog', { name: 'Send files' }).getByRole('button', { name: 'Send', exact: true }).click();
      await alice.getByRole('button', { name: 'Open picture.png' }).waitFor(WAIT);
      await seen(alice, '👍');
    });

    await step('an unread room with a mention, and an invite', async () => {
      const bobs = await session(bob);
      const alicesId = (await session(alice)).user_id;
      const { room_id: unread } = await api(bobs, 'POST', '/createRoom', { name: 'Unread', invite: [alicesId] });
      await api(await session(alice), 'POST', `/join/${encodeURIComponent(unread)}`, {});
      for (const n of [1, 2]) {
        await api(bobs, 'PUT', `/rooms/${encodeURIComponent(unread)}/send/m.room.message/u${n}`, {
          msgtype: 'm.text', body: `alice: unread ${n}`, 'm.mentions': { user_ids: [alicesId] },
        });
      }
      await api(bobs, 'POST', '/createRoom', { name: 'Invited', invite: [alicesId] });
      const rooms = alice.getByRole('navigation', { name: 'Rooms' });
      await rooms.getByRole('button', { name: /Unread.*2 unread, 2 mentioning you/ }).waitFor(WAIT);
      await rooms.getByRole('button', { name: 'Join', exact: true }).waitFor(WAIT);
    });

    await step('the room list (no room open)', async () => {
      await lookAt(alice, `room-list${suffix}`, async () => {
        if (await alice.getByRole('button', { name: 'Back to rooms' }).isVisible()) {
          await alice.getByRole('button', { name: 'Back to rooms' }).click();
        }
        await alice.getByRole('navigation', { name: 'Rooms' }).waitFor(WAIT);
      });
    });

    await step('the room', async () => {
      await lookAt(alice, `room${suffix}`, async () => {
        const rooms = alice.getByRole('navigation', { name: 'Rooms' });
        if (await rooms.isVisible() && !(await alice.getByRole('region', { name: 'Timeline' }).isVisible())) {
          await rooms.getByRole('button', { name: 'Screens' }).click();
        }
        await seen(alice, 'And this is a reply');
      });
    });

    await step('room settings', async () => {
      await lookAt(alice, `room-settings${suffix}`, async () => {
        const settings = alice.getByRole('region', { name: 'Room settings' });
        if (!(await settings.isVisible())) {
          await alice.getByRole('button', { name: 'Room settings' }).click();
        }
        await settings.getByRole('list', { name: 'Members' }).waitFor(WAIT);
      });
    });
  } catch (error) {
    await saveArtifacts(`a11y-${kind}`, pages, client);
    throw error;
  } finally {
    await close();
    await client.stop();
    if (homeserver !== client) await homeserver.stop();
  }
}

test('no serious accessibility violations on any screen, against weft', { timeout: 240_000 }, () => scenario('weft'));
test('no serious accessibility violations on any screen, against Synapse', { timeout: 300_000 }, () => scenario('synapse'));
