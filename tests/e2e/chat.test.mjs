// Two people chat through the browser, against our homeserver and against
// Synapse: register, create and join a room, messages both ways, reply, edit,
// react and un-react, delete, typing, read receipts, 200 messages of history
// scrolled back without duplicates, reload, sign out.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { launchBrowser, saveArtifacts, startServer, startSynapse } from './harness.mjs';
import { WAIT, action, api, invite, item, register, seen, send, session, step, timeline } from './steps.mjs';

const HISTORY = 200;

async function scenario(homeserverKind) {
  const client = await startServer();
  const homeserver = homeserverKind === 'synapse' ? await startSynapse() : client;
  const { browser, close } = await launchBrowser();
  const pages = {};
  try {
    const alice = pages.alice = await (await browser.newContext()).newPage();
    const bob = pages.bob = await (await browser.newContext()).newPage();
    alice.on('dialog', (d) => { d.dismiss(); assert.fail(`unexpected dialog: ${d.message()}`); });

    await step('register, create, invite, join, chat both ways', async () => {
      await register(alice, client, homeserver.base, 'alice');
      await register(bob, client, homeserver.base, 'bob');
      await alice.getByRole('button', { name: 'New room' }).click();
      await alice.getByRole('textbox', { name: 'Room name' }).fill('Lobby');
      await alice.getByRole('button', { name: 'Create', exact: true }).click();
      await invite(alice, `@bob:${homeserver.serverName}`);
      const rooms = bob.getByRole('navigation', { name: 'Rooms' });
      await rooms.getByText('Lobby').waitFor(WAIT);
      await rooms.getByRole('button', { name: 'Join', exact: true }).click();
      await bob.getByRole('textbox', { name: 'Message' }).waitFor(WAIT);

      await send(alice, 'hello');
      await item(bob, 'hello').filter({ hasText: 'alice' }).waitFor(WAIT);
      await send(bob, 'hi alice, **bob** here');
      await seen(alice, 'hi alice, bob here');
      // Markdown arrived as HTML, rendered through the sanitiser.
      await item(alice, 'hi alice, bob here').locator('strong', { hasText: 'bob' }).waitFor(WAIT);
    });

    await step('reply', async () => {
      await action(bob, 'hello', 'Reply');
      await send(bob, 'replying to you');
      const reply = item(alice, 'replying to you');
      await reply.waitFor(WAIT);
      await reply.locator('blockquote', { hasText: 'hello' }).waitFor(WAIT);
      // The quote of a formatted message shows its formatting, not its markdown source.
      await action(alice, 'hi alice, bob here', 'Reply');
      await send(alice, 'quoting you');
      const quoting = item(bob, 'quoting you');
      await quoting.locator('blockquote strong', { hasText: 'bob' }).waitFor(WAIT);
      assert.doesNotMatch(await quoting.locator('blockquote').innerText(), /\*\*/);
    });

    await step('edit, also with the Up arrow', async () => {
      await action(alice, 'hello', 'Edit');
      await alice.getByRole('textbox', { name: 'Message' }).fill('hello everyone');
      await alice.getByRole('textbox', { name: 'Message' }).press('Enter');
      await item(bob, 'hello everyone').filter({ hasText: '(edited)' }).waitFor(WAIT);

      await send(bob, 'typo hre');
      await item(bob, 'typo hre').getByText('Sending…').waitFor({ state: 'detached', ...WAIT });
      await bob.getByRole('textbox', { name: 'Message' }).press('ArrowUp');
      await bob.getByRole('textbox', { name: 'Message' }).fill('typo here');
      await bob.getByRole('textbox', { name: 'Message' }).press('Enter');
      await item(alice, 'typo here').filter({ hasText: '(edited)' }).waitFor(WAIT);
    });

    await step('react and un-react', async () => {
      await action(bob, 'hello everyone', 'React');
      await bob.getByRole('button', { name: 'React with 👍' }).click();
      const thumbs = item(alice, 'hello everyone').getByRole('button', { name: '👍 1' });
      await thumbs.waitFor(WAIT);
      assert.match(await thumbs.getAttribute('title'), /bob reacted with 👍/);
      await item(bob, 'hello everyone').getByRole('button', { name: '👍 1' }).click();
      await thumbs.waitFor({ state: 'detached', ...WAIT });
    });

    await step('delete', async () => {
      await send(alice, 'oops, wrong room');
      await seen(bob, 'oops, wrong room');
      await action(alice, 'oops, wrong room', 'Delete');
      await item(bob, 'oops, wrong room').waitFor({ state: 'detached', ...WAIT });
      await seen(bob, 'Message deleted');
    });

    await step('typing shows on the other side', async () => {
      await bob.getByRole('textbox', { name: 'Message' }).pressSequentially('thinking');
      await alice.getByText('bob is typing…').waitFor(WAIT);
      await send(bob, 'done thinking');
      await alice.getByText('bob is typing…').waitFor({ state: 'detached', ...WAIT });
    });

    await step('read receipts show on the other side', async () => {
      await send(alice, 'did you read this?');
      await seen(bob, 'did you read this?');
      await item(alice, 'did you read this?').getByLabel('Read by bob').waitFor(WAIT);
    });

    await step('call history: an unanswered call is "No answer" for the caller, "Missed call" for the other', async () => {
      const s = await session(alice);
      const roomId = (await api(s, 'GET', '/joined_rooms')).joined_rooms[0];
      const common = { call_id: 'c1', party_id: 'alicedev', version: '1' };
      await api(s, 'PUT', `/rooms/${encodeURIComponent(roomId)}/send/m.call.invite/ci1`, {
        ...common, lifetime: 60000, offer: { type: 'offer', sdp: 'v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n' },
      });
      await api(s, 'PUT', `/rooms/${encodeURIComponent(roomId)}/send/m.call.hangup/ch1`, { ...common, reason: 'invite_timeout' });
      await seen(bob, 'Missed call');
      await seen(alice, 'No answer');
    });

    await step(`scroll back through ${HISTORY} earlier messages without duplicates`, async () => {
      const s = await session(alice);
      const roomId = (await api(s, 'GET', '/joined_rooms')).joined_rooms[0];
      for (let i = 1; i <= HISTORY; i++) {
        await api(s, 'PUT', `/rooms/${encodeURIComponent(roomId)}/send/m.room.message/bulk${i}`,
          { msgtype: 'm.text', body: `bulk message ${i}.` });
      }
      await seen(bob, `bulk message ${HISTORY}.`);
      const scroller = timeline(bob);
      const start = bob.getByText('This is the start of the room.');
      // The page holds a window of the timeline: every message must be seen once on the way
      // up, and none twice at any moment.
      const seenOnce = new Set();
      const look = async () => {
        const bodies = await scroller.locator('li .body').allTextContents();
        for (const body of new Set(bodies)) {
          const n = bodies.filter((b) => b === body).length;
          if (/^bulk message \d+\.$/.test(body) || ['hello everyone', 'replying to you', 'did you read this?'].includes(body)) {
            assert.equal(n, 1, `${body} shown ${n} times`);
          }
          seenOnce.add(body);
        }
      };
      for (let round = 0; round < 60 && !(await start.isVisible()); round++) {
        await look();
        await scroller.evaluate((el) => { el.scrollTop = -el.scrollHeight; });
        await bob.waitForTimeout(150);
      }
      await start.waitFor(WAIT);
      await look();
      for (let i = 1; i <= HISTORY; i++) {
        assert.ok(seenOnce.has(`bulk message ${i}.`), `bulk message ${i} shown`);
      }
      for (const earlier of ['hello everyone', 'replying to you', 'did you read this?']) {
        assert.ok(seenOnce.has(earlier), `${earlier} shown`);
      }
    });

    await step('reload restores the session and the room', async () => {
      await bob.reload();
      await seen(bob, `bulk message ${HISTORY}.`);
      await bob.getByRole('heading', { name: 'Lobby' }).waitFor(WAIT);
    });

    await step('room settings: topic, members with power levels', async () => {
      await alice.getByRole('button', { name: 'Room settings' }).click();
      const settings = alice.getByRole('region', { name: 'Room settings' });
      await settings.getByRole('textbox', { name: 'Topic' }).fill('Plans for Friday');
      await settings.getByRole('button', { name: 'Save' }).click();
      await bob.getByText('Plans for Friday').first().waitFor(WAIT);
      const members = settings.getByRole('list', { name: 'Members' });
      await members.getByRole('listitem').filter({ hasText: 'alice' }).filter({ hasText: /Admin|Owner/ }).waitFor(WAIT);
      await members.getByRole('listitem').filter({ hasText: 'bob' }).waitFor(WAIT);
    });

    await step('display name', async () => {
      await bob.getByRole('button', { name: /@bob:/ }).click();
      await bob.getByRole('textbox', { name: 'Display name' }).fill('Bobby');
      await bob.getByRole('button', { name: 'Save name' }).click();
      await bob.getByText('Display name saved').waitFor(WAIT);
      await bob.getByRole('button', { name: /@bob:/ }).click();
      await seen(alice, 'bob changed their display name to Bobby');
    });

    await step('direct chat', async () => {
      await alice.getByRole('button', { name: 'Start chat' }).click();
      await alice.getByRole('textbox', { name: 'User ID' }).fill(`@bob:${homeserver.serverName}`);
      await alice.getByRole('button', { name: 'Start', exact: true }).click();
      await alice.getByRole('textbox', { name: 'Message' }).waitFor(WAIT);
      const rooms = bob.getByRole('navigation', { name: 'Rooms' });
      await rooms.getByRole('button', { name: 'Join', exact: true }).click();
      await send(alice, 'just between us');
      await seen(bob, 'just between us');
      // The DM is named after the other person.
      await bob.getByRole('heading', { name: 'alice' }).waitFor(WAIT);
      // Accepting an invite marked is_direct lists the room in bob's m.direct under alice
      // (as Element does), so his other clients show it as a DM too...
      const sb = await session(bob);
      const path = `/user/${encodeURIComponent(sb.user_id)}/account_data/m.direct`;
      const listed = async () => {
        const res = await fetch(`${sb.homeserver}/_matrix/client/v3${path}`,
          { headers: { authorization: `Bearer ${sb.access_token}` } });
        return res.ok ? Object.keys(await res.json()) : [];
      };
      for (let i = 0; i < 100 && (await listed()).length === 0; i++) await bob.waitForTimeout(100);
      assert.deepEqual(await listed(), [`@alice:${homeserver.serverName}`]);
      // ...and "Start chat" with alice opens this room rather than making another.
      const roomsBefore = (await api(sb, 'GET', '/joined_rooms')).joined_rooms.length;
      await bob.getByRole('button', { name: 'Lobby' }).click();
      await bob.getByRole('button', { name: 'Start chat' }).click();
      await bob.getByRole('textbox', { name: 'User ID' }).fill(`@alice:${homeserver.serverName}`);
      await bob.getByRole('button', { name: 'Start', exact: true }).click();
      await seen(bob, 'just between us');
      await bob.getByRole('heading', { name: 'alice' }).waitFor(WAIT);
      assert.equal((await api(sb, 'GET', '/joined_rooms')).joined_rooms.length, roomsBefore);
    });

    await step('public room joined by address, then left', async () => {
      await alice.getByRole('button', { name: 'New room' }).click();
      await alice.getByRole('textbox', { name: 'Room name' }).fill('Town Square');
      await alice.getByRole('checkbox', { name: /Public/ }).check();
      await alice.getByRole('textbox', { name: 'Address' }).fill('town');
      await alice.getByRole('button', { name: 'Create', exact: true }).click();
      await alice.getByRole('heading', { name: 'Town Square' }).waitFor(WAIT);
      await bob.getByRole('button', { name: 'Join room' }).click();
      await bob.getByRole('textbox', { name: 'Room address or ID' }).fill(`#town:${homeserver.serverName}`);
      await bob.getByRole('button', { name: 'Join', exact: true }).click();
      await bob.getByRole('heading', { name: 'Town Square' }).waitFor(WAIT);
      await seen(alice, 'Bobby joined the room');
      await bob.getByRole('button', { name: 'Room settings' }).click();
      await bob.getByRole('button', { name: 'Leave room' }).click();
      await seen(alice, 'Bobby left the room');
      await bob.getByRole('navigation', { name: 'Rooms' }).getByText('Town Square').waitFor({ state: 'detached', ...WAIT });
    });

    await step('remove someone from a room', async () => {
      await alice.getByRole('navigation', { name: 'Rooms' }).getByRole('button', { name: /Lobby/ }).click();
      await alice.getByRole('button', { name: 'Room settings' }).click();
      await alice.getByRole('button', { name: 'Remove Bobby' }).click();
      await seen(alice, 'alice removed Bobby');
      await bob.getByRole('navigation', { name: 'Rooms' }).getByText('Lobby').waitFor({ state: 'detached', ...WAIT });
    });

    await step('sign out clears the session', async () => {
      await bob.getByRole('button', { name: new RegExp(`@bob:`) }).click();
      await bob.getByRole('button', { name: 'Sign out' }).click();
      await bob.getByRole('textbox', { name: 'Username' }).waitFor(WAIT);
      assert.equal(await bob.evaluate(() => localStorage.getItem('weft.session')), null);
      await bob.reload();
      await bob.getByRole('textbox', { name: 'Username' }).waitFor(WAIT);
    });
  } catch (error) {
    await saveArtifacts(`chat-${homeserverKind}`, pages, homeserver);
    throw error;
  } finally {
    await close();
    if (homeserver !== client) await homeserver.stop();
    await client.stop();
  }
}

test('chat in the browser against weft', () => scenario('weft'));
test('chat in the browser against Synapse', () => scenario('synapse'));
