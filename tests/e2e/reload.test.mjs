// Reloading from stored state, against our homeserver and Synapse. alice and bob talk in an
// encrypted room and bob also writes in a plain one; alice reloads while every request to
// the homeserver's API is held for 2 s. Her room list and the open room's messages (the
// encrypted ones decrypted again with the stored keys) must show from storage before any
// answer; the first request continues from the stored sync token; a message bob sends
// during the block shows once the network is back; signing out deletes the database.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { launchBrowser, saveArtifacts, startServer, startSynapse } from './harness.mjs';
import { WAIT, api, meet, seen, send, session, step } from './steps.mjs';

const BLOCK_MS = 2_000;

/** The names of this page's IndexedDB databases. */
const databases = (page) => page.evaluate(async () => (await indexedDB.databases()).map((d) => d.name));

/** Whether the device's database holds a stored engine state. */
const hasStoredState = (page, name) => page.evaluate((name) => new Promise((ok) => {
  const open = indexedDB.open(name);
  open.onerror = () => ok(false);
  open.onsuccess = () => {
    const db = open.result;
    if (!db.objectStoreNames.contains('state')) { db.close(); ok(false); return; }
    const get = db.transaction('state').objectStore('state').get('state');
    get.onsuccess = () => { db.close(); ok(get.result !== undefined); };
    get.onerror = () => { db.close(); ok(false); };
  };
}), name);

/** Records (in page time) when the room list and a timeline text first show. */
function watchFirstPaint(text) {
  window.__shown = {};
  const check = () => {
    const rooms = document.querySelector('nav[aria-label="Rooms"] li');
    if (rooms && !window.__shown.rooms) window.__shown.rooms = performance.now();
    const timeline = document.querySelector('[aria-label="Timeline"]');
    if (timeline && timeline.textContent.includes(text) && !window.__shown.timeline) {
      window.__shown.timeline = performance.now();
    }
  };
  new MutationObserver(check).observe(document, { childList: true, subtree: true, characterData: true });
}

async function scenario(homeserverKind) {
  const client = await startServer();
  const homeserver = homeserverKind === 'synapse' ? await startSynapse() : client;
  const { browser, close } = await launchBrowser();
  const pages = {};
  try {
    const alice = pages.alice = await (await browser.newContext()).newPage();
    const bob = pages.bob = await (await browser.newContext()).newPage();
    let database;

    await step('alice and bob talk in an encrypted room and a plain one', async () => {
      await meet(alice, bob, client, homeserver, 'Stored room');
      for (const n of [1, 2, 3, 4, 5]) await send(bob, `stored message ${n}`);
      await seen(alice, 'stored message 5');
      const s = await session(bob);
      const { room_id: plain } = await api(s, 'POST', '/createRoom', {
        name: 'Plain room', invite: [`@alice:${homeserver.serverName}`],
      });
      await api(s, 'PUT', `/rooms/${encodeURIComponent(plain)}/send/m.room.message/plain1`, { msgtype: 'm.text', body: 'plain words' });
      await alice.getByRole('navigation', { name: 'Rooms' }).getByRole('button', { name: 'Join', exact: true }).click();
      await alice.getByRole('heading', { name: 'Plain room' }).waitFor(WAIT);
      await seen(alice, 'plain words');
      // Back to the encrypted room: it is the one open at the reload.
      await alice.getByRole('navigation', { name: 'Rooms' }).getByRole('button', { name: /Stored room/ }).click();
      await seen(alice, 'stored message 5');
      const own = await session(alice);
      database = `weft:${own.user_id}:${own.device_id}`;
      for (let i = 0; i < 100 && !(await hasStoredState(alice, database)); i++) await alice.waitForTimeout(100);
      assert.ok(await hasStoredState(alice, database), 'the state is stored after the syncs');
      // The last sync (the plain room's join and read) is saved within the debounce.
      await alice.waitForTimeout(2_000);
    });

    await step(`a reload with the homeserver held for ${BLOCK_MS / 1000} s shows the rooms from storage`, async () => {
      let released = false;
      const held = [];
      const release = new Promise((ok) => setTimeout(ok, BLOCK_MS));
      const api = `${homeserver.base}/_matrix/**`;
      await alice.route(api, async (route) => {
        held.push(route.request().url());
        await release;
        released = true;
        await route.continue();
      });
      await alice.addInitScript(watchFirstPaint, 'stored message 5');
      const started = Date.now();
      await alice.reload();
      const rooms = alice.getByRole('navigation', { name: 'Rooms' });
      await rooms.getByRole('button', { name: /Stored room/ }).waitFor(WAIT);
      await rooms.getByRole('button', { name: /Plain room/ }).waitFor(WAIT);
      await seen(alice, 'stored message 1');
      await seen(alice, 'stored message 5');
      assert.equal(released, false, `shown while the homeserver is held (${Date.now() - started} ms after the reload)`);
      const shown = await alice.evaluate(() => window.__shown);
      console.log(`    from storage: room list at ${Math.round(shown.rooms)} ms, the open room's messages at ${Math.round(shown.timeline)} ms (page time)`);
      const sync = held.find((url) => url.includes('/sync'));
      assert.ok(sync, `a sync waits behind the block (${held.join(', ')})`);
      assert.match(sync, /[?&]since=/, 'the first sync continues from the stored token');

      // bob writes while alice's network is held; she catches up once it is back.
      await send(bob, 'written during the block');
      await seen(alice, 'written during the block');
      assert.ok(released);
      await alice.unroute(api);
      await send(alice, 'after the reload');
      await seen(bob, 'after the reload');
      await alice.getByRole('navigation', { name: 'Rooms' }).getByRole('button', { name: /Plain room/ }).click();
      await seen(alice, 'plain words');
    });

    await step('signing out deletes the stored state with the database', async () => {
      assert.ok((await databases(alice)).includes(database), 'the database exists');
      await alice.getByRole('button', { name: new RegExp('@alice:') }).click();
      await alice.getByRole('button', { name: 'Sign out' }).click();
      await alice.getByRole('button', { name: 'Sign in' }).waitFor(WAIT);
      for (let i = 0; i < 50 && (await databases(alice)).includes(database); i++) await alice.waitForTimeout(100);
      assert.ok(!(await databases(alice)).includes(database), 'the database is gone');
    });
  } catch (error) {
    await saveArtifacts(`reload-${homeserverKind}`, pages, homeserver);
    throw error;
  } finally {
    await close();
    if (homeserver !== client) await homeserver.stop();
    await client.stop();
  }
}

test('a reload shows the rooms from storage, then catches up, through weft', { timeout: 180_000 }, () => scenario('weft'));
test('a reload shows the rooms from storage, then catches up, through Synapse', { timeout: 240_000 }, () => scenario('synapse'));
