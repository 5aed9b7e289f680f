// Trust between Weft browsers: recovery and emoji verification, through the screens.
// alice sets up recovery and reads her recovery key; a new device of hers signs in
// unverified, is verified with the key, and reads a message sent before it existed (from
// the key backup) and one sent after; a third one is verified by comparing emoji with her
// first and reads the old message too (the first sends it the backup key). Then bob verifies alice by comparing emoji in their DM: both see the same seven,
// both say they match, and each shows the other "Verified".
// Last, alice turns on encryption in a room made without it, from its settings.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { launchBrowser, saveArtifacts, startServer, startSynapse } from './harness.mjs';
import { WAIT, item, register, seen, send, step } from './steps.mjs';

/** Opens the account menu and its "Security" region. */
async function openSecurity(page, user) {
  await page.getByRole('button', { name: new RegExp(`^@${user}:`) }).click();
  await page.getByRole('button', { name: 'Security', exact: true }).click();
  const region = page.getByRole('region', { name: 'Security' });
  await region.waitFor(WAIT);
  return region;
}

async function signIn(page, client, homeserver, username) {
  await page.goto(client.base);
  if (homeserver !== client.base) {
    await page.getByRole('textbox', { name: 'Homeserver' }).fill(homeserver);
  }
  await page.getByRole('textbox', { name: 'Username' }).fill(username);
  await page.getByRole('textbox', { name: 'Password', exact: true }).fill('correct horse battery');
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  await page.getByRole('navigation', { name: 'Rooms' }).waitFor(WAIT);
}

/** The names of the seven emoji in the open "Verification" dialog. */
async function emojiNames(page) {
  const list = page.getByRole('dialog', { name: 'Verification' }).getByRole('list', { name: 'Emoji' });
  await list.waitFor(WAIT);
  const items = list.getByRole('listitem');
  assert.equal(await items.count(), 7, 'seven emoji');
  return items.evaluateAll((nodes) => nodes.map((n) => n.getAttribute('aria-label')));
}

const members = (page) => page.getByRole('list', { name: 'Members' });

async function scenario(homeserverKind) {
  const client = await startServer();
  const homeserver = homeserverKind === 'synapse' ? await startSynapse() : client;
  const { browser, close } = await launchBrowser();
  const pages = {};
  try {
    const alice = pages.alice = await (await browser.newContext()).newPage();
    const bob = pages.bob = await (await browser.newContext()).newPage();
    let recoveryKey;

    await step('alice and bob sign up; bob writes to alice in an encrypted DM', async () => {
      await register(alice, client, homeserver.base, 'alice');
      await register(bob, client, homeserver.base, 'bob');
      await bob.getByRole('button', { name: 'Start chat' }).click();
      await bob.getByRole('textbox', { name: 'User ID' }).fill(`@alice:${homeserver.serverName}`);
      await bob.getByRole('button', { name: 'Start', exact: true }).click();
      await bob.getByRole('img', { name: 'Encrypted' }).waitFor(WAIT);
      await alice.getByRole('navigation', { name: 'Rooms' }).getByRole('button', { name: 'Join', exact: true }).click();
      await alice.getByRole('img', { name: 'Encrypted' }).waitFor(WAIT);
      await send(bob, 'sent before the new device');
      await seen(alice, 'sent before the new device');
    });

    await step('alice sets up recovery and reads her recovery key', async () => {
      const security = await openSecurity(alice, 'alice');
      await security.getByText('Cross-signing is ready and this device is verified').waitFor(WAIT);
      await security.getByText('Recovery is off').waitFor(WAIT);
      await security.getByRole('button', { name: 'Set up recovery' }).click();
      const key = security.getByLabel('Recovery key');
      await key.waitFor(WAIT);
      recoveryKey = (await key.textContent()).trim();
      assert.match(recoveryKey, /^(\w{4} ){11}\w{4}$/, 'twelve groups of four characters');
      await security.getByRole('button', { name: 'Copy' }).waitFor(WAIT);
      await security.getByRole('button', { name: 'Done' }).click();
      await security.getByLabel('Recovery key').waitFor({ state: 'detached', ...WAIT });
      await security.getByText('Recovery is on').waitFor(WAIT);
      // The key of bob's message went up before the new device asks for it.
      await security.getByText('Key backup is up to date').waitFor(WAIT);
      assert.equal(await security.getByRole('button', { name: 'Set up recovery' }).count(), 0, 'offered once');
      await alice.getByRole('button', { name: /^@alice:/ }).click();
      await security.waitFor({ state: 'detached', ...WAIT });
    });

    const alice2 = pages.alice2 = await (await browser.newContext()).newPage();

    await step("alice's new device needs verification, and the recovery key verifies it", async () => {
      await signIn(alice2, client, homeserver.base, 'alice');
      const security = await openSecurity(alice2, 'alice');
      await security.getByText('This device is not verified').waitFor(WAIT);
      await security.getByRole('button', { name: 'Use recovery key' }).click();
      // A wrong key is refused in words.
      await security.getByRole('textbox', { name: 'Recovery key' }).fill(recoveryKey.slice(0, -1) + (recoveryKey.endsWith('a') ? 'b' : 'a'));
      await security.getByRole('button', { name: 'Continue' }).click();
      await security.getByRole('alert').filter({ hasText: /recovery key/i }).waitFor(WAIT);
      await security.getByRole('textbox', { name: 'Recovery key' }).fill(recoveryKey);
      await security.getByRole('button', { name: 'Continue' }).click();
      await security.getByText('Cross-signing is ready and this device is verified').waitFor(WAIT);
      assert.equal(await security.getByText('This device is not verified').count(), 0);
    });

    await step('the new device reads the earlier message (from the backup) and a new one', async () => {
      await alice2.getByRole('navigation', { name: 'Rooms' }).getByRole('button', { name: /bob/ }).click();
      await seen(alice2, 'sent before the new device');
      await send(bob, 'sent after the new device');
      await seen(alice2, 'sent after the new device');
      await seen(alice, 'sent after the new device');
    });

    await alice2.context().close();
    delete pages.alice2;
    const alice3 = pages.alice3 = await (await browser.newContext()).newPage();

    await step('a third device of alice is verified with her first by comparing emoji', async () => {
      await signIn(alice3, client, homeserver.base, 'alice');
      const security = await openSecurity(alice3, 'alice');
      await security.getByText('This device is not verified').waitFor(WAIT);
      await security.getByRole('button', { name: 'Verify with another device' }).click();
      const request = alice.getByRole('alert', { name: 'Your other device wants to verify' });
      await request.waitFor(WAIT);
      await request.getByRole('button', { name: 'Accept' }).click();
      const [first, third] = await Promise.all([emojiNames(alice), emojiNames(alice3)]);
      assert.deepEqual(first, third, 'the same emoji on both screens');
      for (const page of [alice3, alice]) {
        await page.getByRole('dialog', { name: 'Verification' }).getByRole('button', { name: 'They match' }).click();
      }
      for (const page of [alice3, alice]) {
        const dialog = page.getByRole('dialog', { name: 'Verification' });
        await dialog.getByText('Verified', { exact: true }).waitFor(WAIT);
        await dialog.getByRole('button', { name: 'Close' }).click();
        await dialog.waitFor({ state: 'detached', ...WAIT });
      }
      // Signed by the first device, and trusting the master key the emoji proved.
      await security.getByText('Cross-signing is ready and this device is verified').waitFor(WAIT);
      // The first device sends it the backup key, and the old message comes from the backup.
      await alice3.getByRole('navigation', { name: 'Rooms' }).getByRole('button', { name: /bob/ }).click();
      await seen(alice3, 'sent before the new device');
    });

    await alice3.context().close();
    delete pages.alice3;

    await step('bob verifies alice by comparing emoji', async () => {
      await bob.getByRole('button', { name: 'Room settings' }).click();
      await members(bob).getByRole('listitem').filter({ hasText: 'alice' }).waitFor(WAIT);
      assert.equal(await members(bob).getByRole('img', { name: 'Verified' }).count(), 0, 'nobody verified yet');
      await bob.getByRole('button', { name: 'Verify alice' }).click();
      const request = alice.getByRole('alert', { name: 'bob wants to verify' });
      await request.waitFor(WAIT);
      await request.getByRole('button', { name: 'Accept' }).click();
      await seen(alice, 'bob asked alice to verify');
      const [bobs, alices] = await Promise.all([emojiNames(bob), emojiNames(alice)]);
      assert.deepEqual(bobs, alices, 'the same emoji on both screens');
      assert.equal(new Set(bobs.filter(Boolean)).size > 0, true);
      for (const page of [bob, alice]) {
        await page.getByRole('dialog', { name: 'Verification' }).getByRole('button', { name: 'They match' }).click();
      }
      for (const page of [bob, alice]) {
        const dialog = page.getByRole('dialog', { name: 'Verification' });
        await dialog.getByText('Verified', { exact: true }).waitFor(WAIT);
        await dialog.getByRole('button', { name: 'Close' }).click();
        await dialog.waitFor({ state: 'detached', ...WAIT });
      }
      const aliceRow = members(bob).getByRole('listitem').filter({ hasText: 'alice' });
      await aliceRow.getByRole('img', { name: 'Verified' }).waitFor(WAIT);
      assert.equal(await members(bob).getByRole('button', { name: 'Verify alice' }).count(), 0);
      await alice.getByRole('button', { name: 'Room settings' }).click();
      await members(alice).getByRole('listitem').filter({ hasText: 'bob' }).getByRole('img', { name: 'Verified' }).waitFor(WAIT);
      // And beside bob's name on his messages.
      await item(alice, 'sent before the new device').getByRole('img', { name: 'Verified' }).waitFor(WAIT);
    });

    await step('room settings turn encryption on for good', async () => {
      await alice.getByRole('button', { name: 'Room settings' }).click();
      await alice.getByRole('region', { name: 'Room settings' }).waitFor({ state: 'detached', ...WAIT });
      await alice.getByRole('button', { name: 'New room' }).click();
      await alice.getByRole('textbox', { name: 'Room name' }).fill('Plain at first');
      await alice.getByRole('checkbox', { name: 'Encrypted' }).setChecked(false);
      await alice.getByRole('button', { name: 'Create', exact: true }).click();
      await alice.getByRole('heading', { name: 'Plain at first' }).waitFor(WAIT);
      assert.equal(await alice.getByRole('img', { name: 'Encrypted' }).count(), 0, 'not encrypted yet');
      await alice.getByRole('button', { name: 'Room settings' }).click();
      const settings = alice.getByRole('region', { name: 'Room settings' });
      const box = settings.getByRole('checkbox', { name: 'Encrypted' });
      await settings.getByText("Once on, encryption can't be turned off").waitFor(WAIT);
      assert.equal(await box.isChecked(), false);
      await box.check();
      await alice.getByRole('img', { name: 'Encrypted' }).waitFor(WAIT);
      assert.equal(await box.isChecked(), true);
      assert.equal(await box.isDisabled(), true, 'no way back');
      await settings.getByText("Once on, encryption can't be turned off").waitFor({ state: 'detached', ...WAIT });
    });
  } catch (error) {
    await saveArtifacts(`e2ee-trust-${homeserverKind}`, pages, homeserver);
    throw error;
  } finally {
    await close();
    if (homeserver !== client) await homeserver.stop();
    await client.stop();
  }
}

test('recovery and emoji verification between Weft browsers through weft', { timeout: 240_000 }, () => scenario('weft'));
test('recovery and emoji verification between Weft browsers through Synapse', { timeout: 300_000 }, () => scenario('synapse'));
