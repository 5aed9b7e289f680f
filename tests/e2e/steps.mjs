// Steps shared by the browser tests: sign up, find timeline items, send, call the API
// as the signed-in user, and time named steps.

import assert from 'node:assert/strict';

export const WAIT = { timeout: 20_000 };

export async function register(page, client, homeserver, username) {
  await page.goto(client.base);
  if (homeserver !== client.base) {
    await page.getByRole('textbox', { name: 'Homeserver' }).fill(homeserver);
  }
  await page.getByRole('textbox', { name: 'Username' }).fill(username);
  await page.getByRole('textbox', { name: 'Password', exact: true }).fill('correct horse battery');
  await page.getByRole('button', { name: 'Create account' }).click();
  await page.getByRole('navigation', { name: 'Rooms' }).waitFor(WAIT);
}

export const timeline = (page) => page.getByRole('region', { name: 'Timeline' });
export const item = (page, text) => timeline(page).getByRole('listitem').filter({ hasText: text }).first();
export const seen = (page, text) => item(page, text).waitFor({ state: 'visible', ...WAIT });

export async function send(page, text) {
  await page.getByRole('textbox', { name: 'Message' }).fill(text);
  await page.getByRole('textbox', { name: 'Message' }).press('Enter');
}

export async function action(page, text, name) {
  const target = item(page, text);
  await target.hover();
  await target.getByRole('button', { name, exact: true }).click();
}

/** The session the client saved, for API calls made by the test itself. */
export async function session(page) {
  return JSON.parse(await page.evaluate(() => localStorage.getItem('weft.session')));
}

export async function api(s, method, path, body) {
  const res = await fetch(`${s.homeserver}/_matrix/client/v3${path}`, {
    method,
    headers: { authorization: `Bearer ${s.access_token}`, 'content-type': 'application/json' },
    body: body ? JSON.stringify(body) : undefined,
  });
  const json = await res.json();
  assert.ok(res.ok, `${method} ${path}: ${res.status} ${JSON.stringify(json)}`);
  return json;
}

/** Runs one step, naming it in the error and printing how long it took. */
export async function step(name, fn) {
  const started = Date.now();
  try {
    await fn();
  } catch (error) {
    error.message = `${name}: ${error.message}`;
    throw error;
  }
  console.log(`  ✓ ${name} (${((Date.now() - started) / 1000).toFixed(1)} s)`);
}

/** Invites `userId` to the open room from "Room settings" (its form sits above "Members"),
 *  waits until the server took the invite, and closes the panel again. */
export async function invite(page, userId) {
  await page.getByRole('button', { name: 'Room settings' }).click();
  const settings = page.getByRole('region', { name: 'Room settings' });
  await settings.getByRole('textbox', { name: 'Invite user' }).fill(userId);
  await settings.getByRole('button', { name: 'Invite', exact: true }).click();
  await settings.getByRole('status').filter({ hasText: `Invited ${userId}` }).waitFor(WAIT);
  await settings.getByRole('button', { name: 'Close' }).click();
  await settings.waitFor({ state: 'detached', ...WAIT });
}

/** alice and bob sign up, alice creates room `name` (encrypted, the default, unless
 *  `encrypted: false`) and invites bob, bob joins. */
export async function meet(alice, bob, client, homeserver, name, { encrypted = true } = {}) {
  await register(alice, client, homeserver.base, 'alice');
  await register(bob, client, homeserver.base, 'bob');
  await alice.getByRole('button', { name: 'New room' }).click();
  await alice.getByRole('textbox', { name: 'Room name' }).fill(name);
  await alice.getByRole('checkbox', { name: 'Encrypted' }).setChecked(encrypted);
  await alice.getByRole('button', { name: 'Create', exact: true }).click();
  await invite(alice, `@bob:${homeserver.serverName}`);
  const rooms = bob.getByRole('navigation', { name: 'Rooms' });
  await rooms.getByText(name).waitFor(WAIT);
  await rooms.getByRole('button', { name: 'Join', exact: true }).click();
  await bob.getByRole('textbox', { name: 'Message' }).waitFor(WAIT);
}
