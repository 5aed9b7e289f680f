// An encrypted room, made the way Element makes every DM (`m.room.encryption` in the
// createRoom's `initial_state`): until Weft encrypts, it sends nothing there in the clear.
// bob creates the room over the API and invites alice; alice joins in Weft's UI, is told
// "Weft can't send encrypted messages yet", finds the message box, "Attach file", "Send",
// reactions, "Reply" and the call buttons disabled, and neither dropping a file nor the
// keyboard gets anything out: the room's history holds no event from alice but her joins.
// Then the engine's own refusal, which the disabled controls hide: a message that failed
// to send before its room was encrypted offers "Retry", and retrying it afterwards must
// not send it in the clear.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { launchBrowser, saveArtifacts, startServer } from './harness.mjs';
import { WAIT, item, register, send, step } from './steps.mjs';

async function api(base, token, method, path, body) {
  const res = await fetch(`${base}/_matrix/client/v3${path}`, {
    method,
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const json = await res.json();
  assert.ok(res.ok, `${method} ${path}: ${res.status} ${JSON.stringify(json)}`);
  return json;
}

async function registerApi(base, username) {
  const body = { username, password: 'correct horse battery' };
  const challenge = await fetch(`${base}/_matrix/client/v3/register`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body),
  }).then((r) => r.json());
  return (await api(base, null, 'POST', '/register', { ...body, auth: { type: 'm.login.dummy', session: challenge.session } })).access_token;
}

test('an encrypted room: Weft says it cannot send there, and sends nothing', { timeout: 120_000 }, async () => {
  const server = await startServer();
  const { browser, close } = await launchBrowser();
  const pages = {};
  try {
    const alice = pages.alice = await (await browser.newContext()).newPage();
    let roomId;
    let bob;
    const room = () => encodeURIComponent(roomId);

    await step('bob makes an encrypted DM with alice, as Element does', async () => {
      bob = await registerApi(server.base, 'bob');
      await register(alice, server, server.base, 'alice');
      ({ room_id: roomId } = await api(server.base, bob, 'POST', '/createRoom', {
        preset: 'trusted_private_chat', is_direct: true, invite: ['@alice:localhost'],
        initial_state: [{ type: 'm.room.encryption', state_key: '', content: { algorithm: 'm.megolm.v1.aes-sha2' } }],
      }));
      // Something to react to and answer (sent in the clear by the test, not by a client).
      const { event_id: hello } = await api(server.base, bob, 'PUT', `/rooms/${room()}/send/m.room.message/hello`,
        { msgtype: 'm.text', body: 'hello alice' });
      await api(server.base, bob, 'PUT', `/rooms/${room()}/send/m.reaction/r1`,
        { 'm.relates_to': { rel_type: 'm.annotation', event_id: hello, key: '👍' } });
    });

    await step('alice joins and is told Weft cannot send here', async () => {
      await alice.getByRole('navigation', { name: 'Rooms' }).getByRole('button', { name: 'Join', exact: true }).click();
      await alice.getByRole('status').filter({ hasText: "Weft can't send encrypted messages yet" }).waitFor(WAIT);
      await item(alice, 'hello alice').waitFor(WAIT);
    });

    await step('the composer, Attach file, reactions, Reply and the call buttons are disabled', async () => {
      const disabled = async (locator, what) => {
        await locator.waitFor(WAIT);
        assert.ok(await locator.isDisabled(), `${what} is disabled`);
      };
      await disabled(alice.getByRole('textbox', { name: 'Message' }), 'Message');
      await disabled(alice.getByRole('button', { name: 'Attach file' }), 'Attach file');
      await disabled(alice.getByRole('button', { name: 'Send', exact: true }), 'Send');
      await disabled(alice.getByRole('button', { name: 'Voice call' }), 'Voice call');
      await disabled(alice.getByRole('button', { name: 'Video call' }), 'Video call');
      const hello = item(alice, 'hello alice');
      await hello.hover();
      await disabled(hello.getByRole('button', { name: 'React', exact: true }), 'React');
      await disabled(hello.getByRole('button', { name: 'Reply', exact: true }), 'Reply');
      await disabled(hello.getByRole('button', { name: '👍 1' }), 'the reaction');
    });

    await step('nothing gets out: drops, keys and forced clicks send no event', async () => {
      // A dropped file opens no preview.
      await alice.evaluate(() => {
        const transfer = new DataTransfer();
        transfer.items.add(new File(['secret'], 'secret.txt', { type: 'text/plain' }));
        const view = document.querySelector('section.room-view');
        for (const type of ['dragover', 'drop']) {
          view.dispatchEvent(new DragEvent(type, { dataTransfer: transfer, bubbles: true, cancelable: true }));
        }
      });
      await alice.getByRole('textbox', { name: 'Message' }).focus().catch(() => {});
      await alice.keyboard.type('secret');
      await alice.keyboard.press('Enter');
      await alice.getByRole('button', { name: 'Video call' }).click({ force: true }).catch(() => {});
      await item(alice, 'hello alice').getByRole('button', { name: '👍 1' }).click({ force: true }).catch(() => {});
      await alice.waitForTimeout(1500);
      assert.equal(await alice.getByRole('dialog', { name: 'Send files' }).count(), 0, 'no file preview');
      assert.equal(await alice.getByRole('region', { name: 'Call' }).count(), 0, 'no call');
    });

    await step("the room's history has no event from alice but her membership", async () => {
      const { chunk } = await api(server.base, bob, 'GET', `/rooms/${room()}/messages?dir=b&limit=100`);
      const hers = chunk.filter((e) => e.sender === '@alice:localhost');
      assert.ok(hers.length >= 1, 'her join is there');
      assert.deepEqual(hers.filter((e) => e.type !== 'm.room.member'), []);
    });

    await step('a message that failed before the room was encrypted is not retried in the clear', async () => {
      const { room_id: later } = await api(server.base, bob, 'POST', '/createRoom', {
        preset: 'trusted_private_chat', is_direct: true, invite: ['@alice:localhost'], name: 'Encrypted later',
      });
      await alice.getByRole('navigation', { name: 'Rooms' }).getByRole('button', { name: 'Join', exact: true }).click();
      await alice.getByRole('heading', { name: 'Encrypted later' }).waitFor(WAIT);
      // The network drops alice's message: it stays, "Not sent", with "Retry".
      const sends = '**/send/m.room.message/**';
      await alice.route(sends, (route) => route.abort());
      await send(alice, 'written before encryption');
      await item(alice, 'written before encryption').getByRole('button', { name: 'Retry' }).waitFor(WAIT);
      await alice.unroute(sends);
      // bob turns encryption on; alice's room view says so.
      await api(server.base, bob, 'PUT', `/rooms/${encodeURIComponent(later)}/state/m.room.encryption/`,
        { algorithm: 'm.megolm.v1.aes-sha2' });
      await alice.getByRole('status').filter({ hasText: "Weft can't send encrypted messages yet" }).waitFor(WAIT);
      await item(alice, 'written before encryption').getByRole('button', { name: 'Retry' }).click();
      await alice.waitForTimeout(1500);
      const { chunk } = await api(server.base, bob, 'GET', `/rooms/${encodeURIComponent(later)}/messages?dir=b&limit=100`);
      assert.deepEqual(chunk.filter((e) => e.sender === '@alice:localhost' && e.type !== 'm.room.member'), [],
        'nothing from alice but her membership');
      await item(alice, 'written before encryption').getByText('Not sent').waitFor(WAIT);
    });
  } catch (error) {
    await saveArtifacts('encrypted', pages, server);
    throw error;
  } finally {
    await close();
    await server.stop();
  }
});
