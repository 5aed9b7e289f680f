// End-to-end encryption between two Weft browsers, against our homeserver and Synapse.
// Both sign up (Weft sets up cross-signing with the password as they do), bob starts a
// chat with alice (encrypted from its first event, as Element makes DMs), and they talk:
// messages both ways, a reply, an edit and a reaction, all readable in the browsers and
// only ciphertext on the server. After a reload alice still reads the history and sends;
// a message that failed to send before its room turned encrypted goes out encrypted when
// retried, never in the clear; signing out deletes her crypto store from the browser.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { launchBrowser, saveArtifacts, startServer, startSynapse } from './harness.mjs';
import { WAIT, action, api, item, register, seen, send, session, step } from './steps.mjs';

/** The names of this page's IndexedDB databases. */
const databases = (page) => page.evaluate(async () => (await indexedDB.databases()).map((d) => d.name));

async function scenario(homeserverKind) {
  const client = await startServer();
  const homeserver = homeserverKind === 'synapse' ? await startSynapse() : client;
  const { browser, close } = await launchBrowser();
  const pages = {};
  try {
    const alice = pages.alice = await (await browser.newContext()).newPage();
    const bob = pages.bob = await (await browser.newContext()).newPage();
    let roomId;

    await step('alice and bob sign up; bob starts an encrypted chat with alice', async () => {
      await register(alice, client, homeserver.base, 'alice');
      await register(bob, client, homeserver.base, 'bob');
      await bob.getByRole('button', { name: 'Start chat' }).click();
      await bob.getByRole('textbox', { name: 'User ID' }).fill(`@alice:${homeserver.serverName}`);
      await bob.getByRole('button', { name: 'Start', exact: true }).click();
      await bob.getByRole('img', { name: 'Encrypted' }).waitFor(WAIT);
      await alice.getByRole('navigation', { name: 'Rooms' }).getByRole('button', { name: 'Join', exact: true }).click();
      await alice.getByRole('img', { name: 'Encrypted' }).waitFor(WAIT);
      roomId = await alice.evaluate(() => localStorage.getItem('weft.selected_room'));
      assert.ok(roomId, 'alice has the room open');
    });

    await step('messages both ways, decrypted in the browsers', async () => {
      const started = Date.now();
      await send(bob, 'secret hello');
      await seen(alice, 'secret hello');
      console.log(`    first message shown after ${Date.now() - started} ms (includes the key share)`);
      const again = Date.now();
      await send(alice, 'secret answer');
      await seen(bob, 'secret answer');
      console.log(`    alice's first message shown after ${Date.now() - again} ms`);
      const third = Date.now();
      await send(bob, 'and one more');
      await seen(alice, 'and one more');
      console.log(`    a message on an established session shown after ${Date.now() - third} ms`);
    });

    await step('reply, edit and reaction, encrypted too', async () => {
      await action(alice, 'secret hello', 'Reply');
      await send(alice, 'a secret reply');
      await item(bob, 'a secret reply').locator('blockquote', { hasText: 'secret hello' }).waitFor(WAIT);
      await action(alice, 'secret answer', 'Edit');
      await alice.getByRole('textbox', { name: 'Message' }).fill('secret answer, edited');
      await alice.getByRole('textbox', { name: 'Message' }).press('Enter');
      await item(bob, 'secret answer, edited').filter({ hasText: '(edited)' }).waitFor(WAIT);
      await action(bob, 'a secret reply', 'React');
      await bob.getByRole('button', { name: 'React with 👍' }).click();
      await item(alice, 'a secret reply').getByRole('button', { name: '👍 1' }).waitFor(WAIT);
    });

    await step('the server holds only ciphertext', async () => {
      const s = await session(bob);
      const { chunk } = await api(s, 'GET', `/rooms/${encodeURIComponent(roomId)}/messages?dir=b&limit=100`);
      const sent = chunk.filter((e) => e.type !== 'm.room.member' && !e.state_key && e.state_key !== '');
      assert.ok(sent.length >= 6, `messages, reply, edit and reaction are there (${sent.length})`);
      for (const event of sent) {
        assert.equal(event.type, 'm.room.encrypted', `${event.event_id} is encrypted`);
        assert.equal(event.content.algorithm, 'm.megolm.v1.aes-sha2');
        assert.ok(!JSON.stringify(event.content).includes('secret'), 'no plaintext in the content');
      }
      // Relations stay in the clear, so the server can aggregate them.
      assert.ok(sent.some((e) => e.content['m.relates_to']?.rel_type === 'm.annotation'), 'the reaction relates in the clear');
    });

    await step('after a reload alice still reads the history and sends', async () => {
      await alice.reload();
      await seen(alice, 'secret hello');
      await seen(alice, 'and one more');
      await send(alice, 'after the reload');
      await seen(bob, 'after the reload');
    });

    await step('a message that failed before its room was encrypted is retried encrypted', async () => {
      const s = await session(bob);
      const { room_id: later } = await api(s, 'POST', '/createRoom', {
        preset: 'trusted_private_chat', is_direct: true, invite: [`@alice:${homeserver.serverName}`], name: 'Encrypted later',
      });
      await alice.getByRole('navigation', { name: 'Rooms' }).getByRole('button', { name: 'Join', exact: true }).click();
      await alice.getByRole('heading', { name: 'Encrypted later' }).waitFor(WAIT);
      await bob.getByRole('navigation', { name: 'Rooms' }).getByRole('button', { name: /Encrypted later/ }).click();
      // The network drops alice's message: it stays, "Not sent", with "Retry".
      const sends = '**/send/m.room.message/**';
      await alice.route(sends, (route) => route.abort());
      await send(alice, 'written before encryption');
      await item(alice, 'written before encryption').getByRole('button', { name: 'Retry' }).waitFor(WAIT);
      await alice.unroute(sends);
      await api(s, 'PUT', `/rooms/${encodeURIComponent(later)}/state/m.room.encryption/`, { algorithm: 'm.megolm.v1.aes-sha2' });
      await alice.getByRole('img', { name: 'Encrypted' }).waitFor(WAIT);
      await item(alice, 'written before encryption').getByRole('button', { name: 'Retry' }).click();
      await seen(bob, 'written before encryption');
      const { chunk } = await api(s, 'GET', `/rooms/${encodeURIComponent(later)}/messages?dir=b&limit=100`);
      const hers = chunk.filter((e) => e.sender.startsWith('@alice:') && e.type !== 'm.room.member');
      assert.deepEqual(hers.map((e) => e.type), ['m.room.encrypted'], 'her message went out once, encrypted');
      assert.ok(!JSON.stringify(hers).includes('written before'), 'no plaintext');
    });

    await step('signing out deletes her crypto store', async () => {
      const s = await session(alice);
      assert.ok((await databases(alice)).some((name) => name.includes(s.device_id)), 'the store exists');
      await alice.getByRole('button', { name: new RegExp('@alice:') }).click();
      await alice.getByRole('button', { name: 'Sign out' }).click();
      await alice.getByRole('button', { name: 'Sign in' }).waitFor(WAIT);
      for (let i = 0; i < 50 && (await databases(alice)).some((name) => name.includes(s.device_id)); i++) {
        await alice.waitForTimeout(100);
      }
      assert.deepEqual((await databases(alice)).filter((name) => name.includes(s.device_id)), []);
    });
  } catch (error) {
    await saveArtifacts(`e2ee-${homeserverKind}`, pages, homeserver);
    throw error;
  } finally {
    await close();
    if (homeserver !== client) await homeserver.stop();
    await client.stop();
  }
}

test('an encrypted chat between two Weft browsers through weft', { timeout: 180_000 }, () => scenario('weft'));
test('an encrypted chat between two Weft browsers through Synapse', { timeout: 240_000 }, () => scenario('synapse'));
