// Menus, popovers and dialogs behave, against weft and Synapse, at desktop and phone sizes in
// light and dark: the account menu, its "Security" region, "New room" / "Start chat" /
// "Join room", the "React" picker, "Send files" and the media viewer each close on Escape with
// focus back on the control that opened them, and on a press outside; the dialogs keep Tab
// inside. The "Display name" box shows the current name, and the new one after "Save name".
//
// Not covered here: the call screen's "Devices" group needs a call (tests/calls), and the
// "Verification" dialog needs a second signed-in device (its Escape is "Cancel").

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT, launchBrowser, saveArtifacts, startServer, startSynapse } from './harness.mjs';
import { file, png } from './files.mjs';
import { WAIT, api, item, register, send, session, step } from './steps.mjs';

const SCREENS = join(ROOT, 'test-output/screens');
/** Closing is immediate; a popup still there after this has not closed. */
const SOON = { timeout: 5_000 };
const SIZES = { desktop: { width: 1280, height: 800 }, phone: { width: 390, height: 844 } };

async function focused(page, locator, what) {
  const handle = await locator.elementHandle(SOON);
  await page.waitForFunction((el) => document.activeElement === el, handle, SOON)
    .catch(async () => {
      const now = await page.evaluate(() => {
        const a = document.activeElement;
        return a ? `${a.tagName} "${a.getAttribute('aria-label') ?? a.textContent.trim().slice(0, 40)}"` : 'nothing';
      });
      assert.fail(`${what}: focus should be back on the opener, is on ${now}`);
    });
}

/** A press on the top bar's empty left corner: outside every menu and dialog. */
const pressOutside = (page) => page.mouse.click(3, 3);

/** Opens with `open`, checks `popup` shows, then closes with Escape: focus returns to `opener`. */
async function escapeCloses(page, opener, popup, open, what) {
  await open();
  await popup.waitFor({ state: 'visible', ...WAIT });
  await page.keyboard.press('Escape');
  await popup.waitFor({ state: 'hidden', ...SOON }).catch(() => assert.fail(`${what}: Escape did not close it`));
  await focused(page, opener, what);
}

async function outsideCloses(page, popup, open, what) {
  await open();
  await popup.waitFor({ state: 'visible', ...WAIT });
  await pressOutside(page);
  await popup.waitFor({ state: 'hidden', ...SOON }).catch(() => assert.fail(`${what}: a press outside did not close it`));
}

/** Tab and Shift+Tab, each more times than there are controls, never leave `dialog`. */
async function tabStaysInside(page, dialog, what) {
  const handle = await dialog.elementHandle(SOON);
  for (const key of ['Tab', 'Shift+Tab']) {
    for (let i = 0; i < 6; i++) {
      await page.keyboard.press(key);
      const inside = await page.evaluate((d) => d.contains(document.activeElement), handle);
      assert.ok(inside, `${what}: ${key} ×${i + 1} left the dialog`);
    }
  }
}

async function shoot(page, name, size, scheme) {
  await page.screenshot({ path: join(SCREENS, `${name}-${size}-${scheme}.png`) });
}

async function scenario(homeserverKind) {
  const client = await startServer();
  const homeserver = homeserverKind === 'synapse' ? await startSynapse() : client;
  const dir = mkdtempSync(join(tmpdir(), 'weft-menus-'));
  mkdirSync(SCREENS, { recursive: true });
  const { browser, close } = await launchBrowser();
  const pages = {};
  try {
    const page = pages.alice = await (await browser.newContext({ viewport: SIZES.desktop })).newPage();
    const account = page.getByRole('button', { name: /^@alice:/ });
    const menu = page.getByRole('group', { name: 'Account' });
    const nameBox = menu.getByRole('textbox', { name: 'Display name' });
    const picture = file(join(dir, 'pic.png'), png(400, 300));

    await step('sign up, set a display name through the API, make a room with a message and a picture', async () => {
      await register(page, client, homeserver.base, 'alice');
      const s = await session(page);
      await api(s, 'PUT', `/profile/${encodeURIComponent(s.user_id)}/displayname`, { displayname: 'Alice Liddell' });
      await page.getByRole('button', { name: 'New room' }).click();
      await page.getByRole('textbox', { name: 'Room name' }).fill('Menus');
      await page.getByRole('button', { name: 'Create', exact: true }).click();
      await send(page, 'pick me');
      await item(page, 'pick me').getByText('Sending…').waitFor({ state: 'detached', ...WAIT });
      await page.locator('form.composer input[type=file]').setInputFiles(picture);
      await page.getByRole('dialog', { name: 'Send files' }).getByRole('button', { name: 'Send' }).click();
      await page.getByRole('button', { name: 'Open pic.png' }).locator('img').waitFor(WAIT);
    });

    await step('the "Display name" box shows the current name, and the new one after "Save name"', async () => {
      await account.click();
      await page.waitForFunction((el) => el.value === 'Alice Liddell', await nameBox.elementHandle(WAIT), WAIT)
        .catch(async () => assert.fail(`the box shows "${await nameBox.inputValue()}", not "Alice Liddell"`));
      await nameBox.fill('Alice Pleasance');
      await menu.getByRole('button', { name: 'Save name' }).click();
      await menu.getByRole('status').filter({ hasText: 'Display name saved' }).waitFor(WAIT);
      // The client has the new name once sync brings the member event that announces it.
      await page.getByText('changed their display name to Alice Pleasance').waitFor(WAIT);
      await account.click();
      await menu.waitFor({ state: 'hidden', ...SOON });
      await account.click();
      await page.waitForFunction((el) => el.value === 'Alice Pleasance', await nameBox.elementHandle(WAIT), WAIT)
        .catch(async () => assert.fail(`after saving, the box shows "${await nameBox.inputValue()}"`));
      await account.click();
    });

    for (const [size, scheme] of [['desktop', 'light'], ['desktop', 'dark'], ['phone', 'light'], ['phone', 'dark']]) {
      await page.setViewportSize(SIZES[size]);
      await page.emulateMedia({ colorScheme: scheme });
      const at = `${size} ${scheme}`;

      await step(`${at}: the account menu and its "Security" region`, async () => {
        // On a phone the account menu is on the room list's screen (a room's header is
        // the top of its screen).
        if (size === 'phone') await page.getByRole('button', { name: 'Back to rooms' }).click();
        await escapeCloses(page, account, menu, async () => {
          await account.click();
          await shoot(page, 'account-menu', size, scheme);
        }, 'account menu');
        await outsideCloses(page, menu, () => account.click(), 'account menu');
        // Escape closes the region first (focus on "Security"), then the menu.
        await account.click();
        const security = menu.getByRole('button', { name: 'Security' });
        const region = page.getByRole('region', { name: 'Security' });
        await escapeCloses(page, security, region, async () => {
          await security.click();
          await region.getByText(/Cross-signing|This device|Setting up/).first().waitFor(WAIT);
          await shoot(page, 'security', size, scheme);
        }, 'Security');
        assert.ok(await menu.isVisible(), 'one Escape closes only the region, not the menu under it');
        await page.keyboard.press('Escape');
        await menu.waitFor({ state: 'hidden', ...SOON });
        await focused(page, account, 'account menu after the region');
        if (size === 'phone') await openRoom(page);
      });

      await step(`${at}: the "React" picker`, async () => {
        const message = item(page, 'pick me');
        const react = message.getByRole('button', { name: 'React', exact: true });
        const picker = page.getByRole('group', { name: 'Pick a reaction' });
        const open = async () => {
          await message.hover();
          await react.click();
        };
        await escapeCloses(page, react, picker, async () => {
          await open();
          await shoot(page, 'react-picker', size, scheme);
        }, 'React picker');
        await outsideCloses(page, picker, open, 'React picker');
      });

      await step(`${at}: "Send files"`, async () => {
        const attach = page.getByRole('button', { name: 'Attach file' });
        const dialog = page.getByRole('dialog', { name: 'Send files' });
        const open = async () => {
          const chooser = page.waitForEvent('filechooser', WAIT);
          await attach.click();
          await (await chooser).setFiles(picture);
        };
        await escapeCloses(page, attach, dialog, async () => {
          await open();
          await dialog.getByRole('button', { name: 'Send' }).waitFor(WAIT);
          await shoot(page, 'send-files', size, scheme);
          await tabStaysInside(page, dialog, 'Send files');
        }, 'Send files');
        await outsideCloses(page, dialog, open, 'Send files');
      });

      await step(`${at}: the media viewer`, async () => {
        const opener = page.getByRole('button', { name: 'Open pic.png' });
        const viewer = page.getByRole('dialog', { name: 'pic.png' });
        await escapeCloses(page, opener, viewer, async () => {
          await opener.click();
          await viewer.locator('img').waitFor(WAIT);
          await shoot(page, 'media-viewer', size, scheme);
          await tabStaysInside(page, viewer, 'media viewer');
        }, 'media viewer');
        // The viewer covers the page: its dark backdrop is the outside.
        await opener.click();
        await viewer.locator('img').waitFor(WAIT);
        const box = SIZES[size];
        await page.mouse.click(3, box.height - 3);
        await viewer.waitFor({ state: 'hidden', ...SOON }).catch(() => assert.fail('media viewer: a press on the backdrop did not close it'));
      });

      await step(`${at}: "New room", "Start chat" and "Join room"`, async () => {
        // On a phone the room list and the room are one pane at a time.
        if (size === 'phone') await page.getByRole('button', { name: /^Back/ }).click();
        for (const [button, box, screen] of [
          ['New room', 'Room name', 'new-room'],
          ['Start chat', 'User ID', 'start-chat'],
          ['Join room', 'Room address or ID', 'join-room'],
        ]) {
          const opener = page.getByRole('button', { name: button, exact: true });
          const field = page.getByRole('textbox', { name: box });
          await escapeCloses(page, opener, field, async () => {
            await opener.click();
            await shoot(page, screen, size, scheme);
          }, button);
          await outsideCloses(page, field, () => opener.click(), button);
        }
        await openRoom(page);
      });
    }
  } catch (error) {
    await saveArtifacts(`menus-${homeserverKind}`, pages, homeserver);
    throw error;
  } finally {
    await close();
    if (homeserver !== client) await homeserver.stop();
    await client.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function openRoom(page) {
  await page.getByRole('navigation', { name: 'Rooms' }).getByRole('button', { name: /^Menus/ }).click();
  await page.getByRole('textbox', { name: 'Message' }).waitFor(WAIT);
}

test('menus and dialogs against weft', () => scenario('weft'));
test('menus and dialogs against Synapse', () => scenario('synapse'));
