// The room header and the room settings panel, at desktop (1280 × 800) and phone (390 × 844)
// sizes in both colour schemes, against weft and Synapse: the header is one compact row
// (at most 56 px on a phone, no wrapping at 1280 px) with the timeline right under it; the
// room's avatar is a 32 px circle beside the name, never over it; "Voice call", "Video call"
// and "Room settings" are icon buttons; the topic is cut to one line and shown whole on click
// (Escape hides it); "Room settings" opens a panel beside the timeline (a full-screen sheet on
// a phone) that "Close" and Escape close, with focus back on "Room settings"; "Invite user"
// lives in that panel; Escape in the image viewer over it closes only the viewer. Screenshots go
// to test-output/screens/ on every run.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, launchBrowser, saveArtifacts, startServer, startSynapse } from './harness.mjs';
import { png } from './files.mjs';
import { WAIT, api, register, send, seen, session, step, timeline } from './steps.mjs';

const SCREENS = join(ROOT, 'test-output', 'screens');
const SIZES = { desktop: { width: 1280, height: 800 }, phone: { width: 390, height: 844 } };
const TOPIC = 'Where we plan the summer trip: dates, trains, who brings the tent, the long list of '
  + 'everything we still need to buy, and the rules for the shared kitty';

/** Where keyboard focus is: the accessible name of the focused element and whether it is
 *  inside region "Room settings". */
const focus = (page) => page.evaluate(() => {
  const el = document.activeElement;
  return {
    name: el?.getAttribute('aria-label') ?? el?.textContent ?? '',
    inPanel: Boolean(el?.closest('[aria-label="Room settings"]')),
  };
});

async function scenario(homeserverKind) {
  const client = await startServer();
  const homeserver = homeserverKind === 'synapse' ? await startSynapse() : client;
  const { browser, close } = await launchBrowser();
  const pages = {};
  mkdirSync(SCREENS, { recursive: true });
  try {
    const alice = pages.alice = await (await browser.newContext({ viewport: SIZES.desktop })).newPage();
    const bob = pages.bob = await (await browser.newContext()).newPage();
    const header = alice.locator('.room-header');
    const settingsButton = alice.getByRole('button', { name: 'Room settings', exact: true });
    const settings = alice.getByRole('region', { name: 'Room settings' });

    await step('alice makes a room with a long topic', async () => {
      await register(alice, client, homeserver.base, 'alice');
      await register(bob, client, homeserver.base, 'bob');
      await alice.getByRole('button', { name: 'New room' }).click();
      await alice.getByRole('textbox', { name: 'Room name' }).fill('Summer trip');
      await alice.getByRole('textbox', { name: 'Topic' }).fill(TOPIC);
      await alice.getByRole('checkbox', { name: 'Encrypted' }).setChecked(false);
      await alice.getByRole('button', { name: 'Create', exact: true }).click();
      await alice.getByRole('heading', { name: 'Summer trip' }).waitFor(WAIT);
    });

    await step('"Invite user" is in room settings, not in the header, and invites', async () => {
      await settingsButton.click();
      assert.equal(await header.getByRole('textbox', { name: 'Invite user' }).count(), 0, 'no invite box in the header');
      const bobId = `@bob:${homeserver.serverName}`;
      await settings.getByRole('textbox', { name: 'Invite user' }).fill(bobId);
      await settings.getByRole('button', { name: 'Invite', exact: true }).click();
      await settings.getByRole('status').filter({ hasText: `Invited ${bobId}` }).waitFor(WAIT);
      const rooms = bob.getByRole('navigation', { name: 'Rooms' });
      await rooms.getByText('Summer trip').waitFor(WAIT);
      await rooms.getByRole('button', { name: 'Join', exact: true }).click();
      await bob.getByRole('textbox', { name: 'Message' }).waitFor(WAIT);
      await send(bob, 'count me in');
      await seen(alice, 'count me in');
    });

    await step('the room gets an avatar from the panel', async () => {
      await settings.locator('input[type=file]').setInputFiles({ name: 'room.png', mimeType: 'image/png', buffer: png(200, 120) });
      const picture = header.locator('.avatar img');
      await picture.waitFor(WAIT);
      await alice.waitForFunction((img) => img.naturalWidth > 0, await picture.elementHandle(), WAIT);
      await settings.getByRole('button', { name: 'Close' }).click();
      await settings.waitFor({ state: 'detached', ...WAIT });
    });

    await step('the topic is one line; clicking shows it whole, Escape hides it', async () => {
      const topic = header.getByRole('button', { name: TOPIC });
      const line = await topic.boundingBox();
      assert.ok(line.height < 30, `topic on one line: ${JSON.stringify(line)}`);
      await topic.click();
      assert.equal(await topic.getAttribute('aria-expanded'), 'true');
      const open = await topic.boundingBox();
      assert.ok(open.height > 1.5 * line.height, `the whole topic shows, wrapped: ${JSON.stringify(open)}`);
      assert.ok(await topic.evaluate((el) => el.scrollWidth <= el.clientWidth), 'nothing of it cut off');
      await alice.keyboard.press('Escape');
      assert.equal(await topic.getAttribute('aria-expanded'), 'false');
      assert.ok((await topic.boundingBox()).height < 30, 'one line again');
    });

    for (const [size, viewport] of Object.entries(SIZES)) {
      for (const scheme of ['light', 'dark']) {
        await step(`${size}, ${scheme}: a one-row header with icon buttons over the timeline`, async () => {
          await alice.setViewportSize(viewport);
          await alice.emulateMedia({ colorScheme: scheme });
          await settingsButton.waitFor(WAIT);
          const bar = await header.boundingBox();
          const limit = size === 'phone' ? 56 : 64;
          assert.ok(bar.height <= limit, `header ${bar.height} px tall, at most ${limit}`);
          const buttons = ['Voice call', 'Video call', 'Room settings'];
          if (size === 'phone') buttons.unshift('Back to rooms');
          else assert.ok(!(await alice.getByRole('button', { name: 'Back to rooms' }).isVisible()), 'no "Back to rooms" on desktop');
          for (const name of buttons) {
            const button = header.getByRole('button', { name, exact: true });
            assert.equal(await button.locator('svg').count(), 1, `${name} holds an icon`);
            assert.equal(await button.locator('svg').getAttribute('aria-hidden'), 'true');
            const box = await button.boundingBox();
            assert.ok(box.y >= bar.y && box.y + box.height <= bar.y + bar.height + 0.5,
              `${name} inside the one-row header: ${JSON.stringify(box)} in ${JSON.stringify(bar)}`);
            assert.ok(box.x + box.width <= viewport.width, `${name} on screen`);
          }
          // The timeline starts right under the header.
          const list = await timeline(alice).boundingBox();
          assert.ok(Math.abs(list.y - (bar.y + bar.height)) <= 1, `timeline at ${list.y}, header ends at ${bar.y + bar.height}`);
          // The avatar: a 32 px circle, left of the name.
          const avatar = await header.locator('.avatar').boundingBox();
          const picture = await header.locator('.avatar img').boundingBox();
          const name = await header.getByRole('heading', { name: 'Summer trip' }).boundingBox();
          assert.deepEqual([Math.round(avatar.width), Math.round(avatar.height)], [32, 32], 'avatar 32×32');
          assert.deepEqual([Math.round(picture.width), Math.round(picture.height)], [32, 32], 'picture 32×32');
          assert.ok(picture.x + picture.width <= name.x, `picture ${JSON.stringify(picture)} clear of the name ${JSON.stringify(name)}`);
          await alice.screenshot({ path: join(SCREENS, `room-${size}-${scheme}.png`) });
        });

        await step(`${size}, ${scheme}: room settings opens beside (desktop) or over (phone), closes`, async () => {
          const before = await timeline(alice).boundingBox();
          await settingsButton.click();
          assert.equal(await settingsButton.getAttribute('aria-expanded'), 'true');
          await settings.getByRole('textbox', { name: 'Invite user' }).waitFor(WAIT);
          assert.ok((await focus(alice)).inPanel, 'focus moved into the panel');
          const panel = await settings.boundingBox();
          if (size === 'phone') {
            assert.deepEqual([panel.x, panel.width], [0, viewport.width], 'the sheet covers the screen width');
            assert.ok(panel.y <= 0.5 && panel.height >= viewport.height - 0.5, `full height: ${JSON.stringify(panel)}`);
          } else {
            const after = await timeline(alice).boundingBox();
            assert.ok(after.width < before.width - 200, `the timeline narrows: ${before.width} → ${after.width}`);
            assert.ok(panel.x >= after.x + after.width - 0.5, 'the panel is right of the timeline');
            assert.ok(Math.abs(panel.x + panel.width - viewport.width) <= 0.5, 'at the right edge');
            const border = await settings.evaluate((el) => parseFloat(getComputedStyle(el).borderLeftWidth));
            assert.ok(border >= 1, 'a border between timeline and panel');
            const scroll = await settings.evaluate((el) => getComputedStyle(el).overflowY);
            assert.equal(scroll, 'auto', 'the panel scrolls on its own');
          }
          await alice.screenshot({ path: join(SCREENS, `room-settings-${size}-${scheme}.png`) });

          await settings.getByRole('button', { name: 'Close' }).click();
          await settings.waitFor({ state: 'detached', ...WAIT });
          assert.equal((await focus(alice)).name, 'Room settings', 'focus back on "Room settings" after Close');
          assert.equal(await settingsButton.getAttribute('aria-expanded'), 'false');

          await settingsButton.click();
          await settings.getByRole('textbox', { name: 'Invite user' }).waitFor(WAIT);
          await settings.getByRole('textbox', { name: 'Invite user' }).focus();
          await alice.keyboard.press('Escape');
          await settings.waitFor({ state: 'detached', ...WAIT });
          assert.equal((await focus(alice)).name, 'Room settings', 'focus back on "Room settings" after Escape');
        });
      }
    }

    await step('Escape in the image viewer closes the viewer, not the panel under it', async () => {
      await alice.setViewportSize(SIZES.desktop);
      await alice.emulateMedia({ colorScheme: 'light' });
      const s = await session(alice);
      const roomId = await alice.evaluate(() => localStorage.getItem('weft.selected_room'));
      const upload = await fetch(`${s.homeserver}/_matrix/media/v3/upload?filename=map.png`, {
        method: 'POST', headers: { authorization: `Bearer ${s.access_token}`, 'content-type': 'image/png' }, body: png(160, 90),
      });
      const { content_uri: url } = await upload.json();
      await api(s, 'PUT', `/rooms/${encodeURIComponent(roomId)}/send/m.room.message/map1`, {
        msgtype: 'm.image', body: 'map.png', url, info: { mimetype: 'image/png', w: 160, h: 90 },
      });
      await settingsButton.click();
      await settings.waitFor(WAIT);
      await alice.getByRole('button', { name: 'Open map.png' }).click();
      const viewer = alice.getByRole('dialog', { name: 'map.png' });
      await viewer.waitFor(WAIT);
      await alice.keyboard.press('Escape');
      await viewer.waitFor({ state: 'detached', ...WAIT });
      assert.ok(await settings.isVisible(), 'the panel stays open');
      await settings.getByRole('textbox', { name: 'Topic' }).focus();
      await alice.keyboard.press('Escape');
      await settings.waitFor({ state: 'detached', ...WAIT });
    });
  } catch (error) {
    await saveArtifacts(`room-header-${homeserverKind}`, pages, homeserver);
    throw error;
  } finally {
    await close();
    if (homeserver !== client) await homeserver.stop();
    await client.stop();
  }
}

test('room header and settings panel against weft', () => scenario('weft'));
test('room header and settings panel against Synapse', () => scenario('synapse'));
