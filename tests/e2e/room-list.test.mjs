// The room list, against weft and Synapse: alice and bob share a plain room ("Garden"), a
// direct chat and three rooms bob made through the API. As messages arrive, each of
// alice's rows shows the newest one ("bob: …", "You: …", "bob sent an image", in a direct
// chat the text alone) with its time, the room moves to the top, and unread rooms carry
// their count. "Search rooms" narrows the list as she types (by name, or by the other
// person's user ID for a direct chat), says "No rooms match", clears on Escape, and
// Ctrl+K focuses it from anywhere. Screens at desktop and phone size, light and dark, go
// to test-output/screens/room-list-<size>-<scheme>.png.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, launchBrowser, saveArtifacts, startServer, startSynapse } from './harness.mjs';
import { WAIT, api, item, meet, send, session, step } from './steps.mjs';

const SCREENS = join(ROOT, 'test-output/screens');
const SIZES = { desktop: { width: 1280, height: 800 }, phone: { width: 390, height: 844 } };

const nav = (page) => page.getByRole('navigation', { name: 'Rooms' });
/** The row of the room whose name starts `name` (its button's name is the room's name,
 *  then "N unread"). */
const row = (page, name) => nav(page).getByRole('button', { name: new RegExp(`^${name}`) });
/** The joined rooms' buttons, top to bottom. */
const rows = (page) => nav(page).getByRole('listitem').getByRole('button');

/** Waits until the top row is the room `name` and shows `preview`. */
async function topRow(page, name, preview) {
  const top = rows(page).first();
  await top.getByText(preview, { exact: true }).waitFor(WAIT);
  await page.waitForFunction((name) => {
    const first = document.querySelector('nav[aria-label="Rooms"] li button .room-name');
    return first?.textContent === name;
  }, name, WAIT);
}

/** The row's time says the minute a message just arrived ("14:05", local time). */
async function assertJustNow(page, name) {
  const time = await row(page, name).getByText(/^\d\d:\d\d$/).textContent();
  const expected = await page.evaluate(() => [0, 60_000, 120_000].map((ago) => {
    const d = new Date(Date.now() - ago);
    return `${String(d.getHours()).padStart(2, '0')}:${String(d.getMinutes()).padStart(2, '0')}`;
  }));
  assert.ok(expected.includes(time), `${name}'s time ${time} is one of ${expected.join(', ')}`);
}

async function scenario(homeserverKind) {
  const client = await startServer();
  const homeserver = homeserverKind === 'synapse' ? await startSynapse() : client;
  const { browser, close } = await launchBrowser();
  const pages = {};
  try {
    const alice = pages.alice = await (await browser.newContext({ viewport: SIZES.desktop })).newPage();
    const bob = pages.bob = await (await browser.newContext()).newPage();
    let bobApi, rooms, dm;
    const say = (room, txn, content) =>
      api(bobApi, 'PUT', `/rooms/${encodeURIComponent(room)}/send/m.room.message/${txn}`, content);

    await step('alice and bob share a room, a direct chat and three more rooms', async () => {
      await meet(alice, bob, client, homeserver, 'Garden', { encrypted: false });
      bobApi = await session(bob);
      const aliceApi = await session(alice);
      rooms = {};
      for (const name of ['Alpha', 'Beta', 'Gamma']) {
        const { room_id } = await api(bobApi, 'POST', '/createRoom', { name, invite: [aliceApi.user_id] });
        await api(aliceApi, 'POST', `/join/${encodeURIComponent(room_id)}`, {});
        rooms[name] = room_id;
      }
      await alice.getByRole('button', { name: 'Start chat' }).click();
      await alice.getByRole('textbox', { name: 'User ID' }).fill(bobApi.user_id);
      await alice.getByRole('button', { name: 'Start', exact: true }).click();
      // bob waits for the invite (a sync long-polls until something comes).
      let since;
      for (let i = 0; i < 20 && !dm; i++) {
        const synced = await api(bobApi, 'GET', `/sync?timeout=1000${since ? `&since=${since}` : ''}`);
        dm = Object.keys(synced.rooms?.invite ?? {})[0];
        since = synced.next_batch;
      }
      assert.ok(dm, 'bob is invited to the direct chat');
      await api(bobApi, 'POST', `/join/${encodeURIComponent(dm)}`, {});
      // alice reads in Garden from here on.
      await row(alice, 'Garden').click();
      await alice.getByRole('heading', { name: 'Garden' }).waitFor(WAIT);
      for (const name of ['Alpha', 'Beta', 'Gamma']) await row(alice, name).waitFor(WAIT);
    });

    await step('a message received shows as "bob: …" with its time, at the top', async () => {
      await say(rooms.Alpha, 'a1', { msgtype: 'm.text', body: 'see you\nat 5' });
      await topRow(alice, 'Alpha', 'bob: see you at 5');
      await assertJustNow(alice, 'Alpha');
      // alice is in Garden, so Alpha's message is unread: its button says so.
      await nav(alice).getByRole('button', { name: 'Alpha 1 unread', exact: true }).waitFor(WAIT);
    });

    await step('what alice sends shows as "You: …" and brings its room up', async () => {
      await send(alice, 'hi all');
      await topRow(alice, 'Garden', 'You: hi all');
      // Acknowledged, so the server has stamped it: a message bob sends next is newer by
      // the server's clock too (else the remote echo could outrank it, rightly).
      await item(alice, 'hi all').and(alice.locator('li.item:not(.pending)')).waitFor(WAIT);
      await assertJustNow(alice, 'Garden');
      assert.equal(await nav(alice).getByRole('button', { name: /^Garden .*unread/ }).count(), 0, 'her own message is not unread');
    });

    await step('an image previews as "bob sent an image"; a direct chat shows the text alone', async () => {
      await say(rooms.Gamma, 'g1', { msgtype: 'm.image', body: 'cat.png', url: `mxc://${homeserver.serverName}/cat`,
        info: { mimetype: 'image/png', w: 10, h: 10 } });
      await topRow(alice, 'Gamma', 'bob sent an image');
      await say(dm, 'd1', { msgtype: 'm.text', body: 'psst' });
      await topRow(alice, 'bob', 'psst');
      const order = await rows(alice).evaluateAll((buttons) => buttons.map((b) => b.querySelector('.room-name').textContent));
      assert.deepEqual(order, ['bob', 'Gamma', 'Garden', 'Alpha', 'Beta'], 'most recently active first');
      await nav(alice).getByRole('button', { name: 'Gamma 1 unread', exact: true }).waitFor(WAIT);
    });

    await step('"Search rooms" narrows the list as alice types; Escape clears it; Ctrl+K focuses it', async () => {
      const search = nav(alice).getByRole('textbox', { name: 'Search rooms' });
      await alice.getByRole('textbox', { name: 'Message' }).focus();
      await alice.keyboard.press('Control+k');
      assert.equal(await alice.evaluate(() => document.activeElement?.getAttribute('aria-label')), 'Search rooms', 'Ctrl+K focuses the search');
      await alice.keyboard.type('g');
      await alice.waitForFunction(() => document.querySelectorAll('nav[aria-label="Rooms"] li').length === 2, null, WAIT);
      await alice.keyboard.type('AM');
      await alice.waitForFunction(() => document.querySelectorAll('nav[aria-label="Rooms"] li').length === 1, null, WAIT);
      await row(alice, 'Gamma').waitFor(WAIT);
      // A direct chat is found by the other person's user ID too.
      await search.fill('@bob:');
      await row(alice, 'bob').waitFor(WAIT);
      assert.equal(await rows(alice).count(), 1);
      await search.fill('nothing like it');
      await nav(alice).getByText('No rooms match').waitFor(WAIT);
      assert.equal(await rows(alice).count(), 0);
      await search.press('Escape');
      assert.equal(await search.inputValue(), '');
      await alice.waitForFunction(() => document.querySelectorAll('nav[aria-label="Rooms"] li').length === 5, null, WAIT);
      assert.equal(await nav(alice).getByText('No rooms match').count(), 0);
    });

    await step('screens at desktop and phone size, light and dark', async () => {
      mkdirSync(SCREENS, { recursive: true });
      for (const [size, viewport] of Object.entries(SIZES)) {
        await alice.setViewportSize(viewport);
        if (size === 'phone') {
          // A phone shows one pane: back from the room to the list.
          const back = alice.getByRole('button', { name: 'Back to rooms' });
          if (await back.isVisible()) await back.click();
        }
        await row(alice, 'Gamma').waitFor({ state: 'visible', ...WAIT });
        for (const colorScheme of ['light', 'dark']) {
          await alice.emulateMedia({ colorScheme });
          const box = await row(alice, 'Gamma').boundingBox();
          assert.ok(box.height >= 48 && box.height <= 72, `${size}: a row is ${box.height} px high`);
          assert.ok(box.width <= viewport.width, `${size}: a row fits the width (${box.width} px)`);
          const scrolls = await alice.evaluate(() => document.documentElement.scrollWidth > document.documentElement.clientWidth);
          assert.equal(scrolls, false, `${size}: the page does not scroll sideways`);
          await alice.screenshot({ path: join(SCREENS, `room-list-${size}-${colorScheme}.png`) });
        }
      }
      await alice.emulateMedia({ colorScheme: 'light' });
    });
  } catch (error) {
    await saveArtifacts(`room-list-${homeserverKind}`, pages, homeserver);
    throw error;
  } finally {
    await close();
    if (homeserver !== client) await homeserver.stop();
    await client.stop();
  }
}

test('the room list shows previews, times and activity order, and searches, through weft', { timeout: 180_000 }, () => scenario('weft'));
test('the room list shows previews, times and activity order, and searches, through Synapse', { timeout: 240_000 }, () => scenario('synapse'));
