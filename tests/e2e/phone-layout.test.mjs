// On a phone (390 × 844), against weft and Synapse, nothing scrolls sideways: a wide image
// (2000 × 600) and a video fit the width keeping their shape, a code block with a 300-character
// line scrolls inside itself, a 300-character link and word wrap, a table with many columns
// scrolls inside its message, and a reply quoting the long word wraps too. Checked in light
// and dark, with a screenshot of each.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT, launchBrowser, saveArtifacts, startServer, startSynapse } from './harness.mjs';
import { file, png, webm } from './files.mjs';
import { WAIT, action, api, item, register, send, session, step, timeline } from './steps.mjs';

const SCREENS = join(ROOT, 'test-output/screens');
const PHONE = { width: 390, height: 844 };

const LONG_LINE = `let numbers = [${Array.from({ length: 70 }, (_, i) => i).join(',')}];`.padEnd(300, '0');
const LONG_URL = `https://example.org/${'path-segment/'.repeat(22)}end`.slice(0, 300);
const LONG_WORD = 'Donaudampfschifffahrtsgesellschaftskapitän'.repeat(8).slice(0, 300);
const COLUMNS = 24;

async function attachAndSend(page, path) {
  await page.locator('form.composer input[type=file]').setInputFiles(path);
  const dialog = page.getByRole('dialog', { name: 'Send files' });
  await dialog.getByRole('button', { name: 'Send' }).click();
  await dialog.waitFor({ state: 'detached', ...WAIT });
}

/** What sticks out sideways: the page and the timeline scroller, by how many pixels. */
function overflow(page) {
  return page.evaluate(() => {
    const scroller = document.querySelector('[role=region][aria-label=Timeline]');
    const root = document.documentElement;
    return {
      page: root.scrollWidth - window.innerWidth,
      timeline: scroller.scrollWidth - scroller.clientWidth,
      // The widest element inside the timeline, to name the culprit when one sticks out.
      widest: [...scroller.querySelectorAll('*')]
        .map((el) => ({ el, right: el.getBoundingClientRect().right }))
        .filter(({ el }) => !el.closest('pre, table'))
        .sort((a, b) => b.right - a.right)
        .slice(0, 1)
        .map(({ el, right }) => `${el.tagName}.${el.className} right=${Math.round(right)}`)[0],
    };
  });
}

async function scenario(homeserverKind) {
  const client = await startServer();
  const homeserver = homeserverKind === 'synapse' ? await startSynapse() : client;
  const dir = mkdtempSync(join(tmpdir(), 'weft-phone-'));
  mkdirSync(SCREENS, { recursive: true });
  const { browser, close } = await launchBrowser();
  const pages = {};
  try {
    const page = pages.alice = await (await browser.newContext({ viewport: PHONE })).newPage();

    await step('sign up on a phone and make a room', async () => {
      await register(page, client, homeserver.base, 'alice');
      await page.getByRole('button', { name: 'New room' }).click();
      await page.getByRole('textbox', { name: 'Room name' }).fill('Long things');
      await page.getByRole('button', { name: 'Create', exact: true }).click();
      await page.getByRole('textbox', { name: 'Message' }).waitFor(WAIT);
    });

    await step('send a wide image, a video, long code, a long link, a long word, a reply and a table', async () => {
      await attachAndSend(page, file(join(dir, 'wide.png'), png(2000, 600)));
      await attachAndSend(page, file(join(dir, 'clip.webm'), await webm(page, 1)));
      await send(page, `\`\`\`\n${LONG_LINE}\n\`\`\``);
      await send(page, LONG_URL);
      await send(page, LONG_WORD);
      await item(page, LONG_WORD.slice(0, 40)).waitFor(WAIT);
      await action(page, LONG_WORD.slice(0, 40), 'Reply');
      await send(page, 'quoting the long word');
      // The composer's markdown has no tables: the table goes out as HTML through the API.
      const s = await session(page);
      const roomId = await page.evaluate(() => localStorage.getItem('weft.selected_room'));
      const cells = (tag, row) => Array.from({ length: COLUMNS }, (_, i) => `<${tag}>${row}${i}</${tag}>`).join('');
      await api(s, 'PUT', `/rooms/${encodeURIComponent(roomId)}/send/m.room.message/table1`, {
        msgtype: 'm.text',
        body: 'a wide table',
        format: 'org.matrix.custom.html',
        formatted_body: `<p>a wide table</p><table><tr>${cells('th', 'heading ')}</tr><tr>${cells('td', 'value ')}</tr></table>`,
      });
      await item(page, 'a wide table').locator('table').waitFor(WAIT);
      await item(page, 'quoting the long word').locator('blockquote, .reply-quote').first().waitFor(WAIT);
      await page.getByRole('button', { name: 'Open wide.png' }).locator('img').waitFor(WAIT);
      await item(page, 'clip.webm').getByRole('button', { name: 'Play video' }).waitFor(WAIT);
    });

    for (const scheme of ['light', 'dark']) {
      await step(`${scheme}: nothing scrolls sideways; the image fits the screen`, async () => {
        await page.emulateMedia({ colorScheme: scheme });
        await page.mouse.move(0, 0);
        const scroller = timeline(page);
        const targets = [['wide.png', page.getByRole('button', { name: 'Open wide.png' })]];
        for (const text of ['clip.webm', LONG_LINE.slice(0, 30), 'example.org', LONG_WORD.slice(0, 40),
          'quoting the long word', 'a wide table']) targets.push([text, item(page, text)]);
        const problems = [];
        for (const [text, target] of targets) {
          // Each in view in turn (the timeline shows a window of items as it scrolls).
          await target.scrollIntoViewIfNeeded();
          const sticks = await overflow(page);
          if (sticks.page > 0 || sticks.timeline > 0) {
            problems.push(`with "${text.slice(0, 20)}" in view the page scrolls sideways by ${sticks.page}px, the timeline by ${sticks.timeline}px (widest: ${sticks.widest})`);
          }
        }
        assert.deepEqual(problems, []);
        const image = page.getByRole('button', { name: 'Open wide.png' });
        await image.scrollIntoViewIfNeeded();
        const box = await image.boundingBox();
        assert.ok(box.x >= 0 && box.x + box.width <= PHONE.width, `image box ${JSON.stringify(box)}`);
        const shape = box.width / box.height;
        assert.ok(Math.abs(shape - 2000 / 600) < 0.15, `the image keeps its shape: ${shape.toFixed(2)}`);
        const video = item(page, 'clip.webm').locator('.media-box');
        const videoBox = await video.boundingBox();
        assert.ok(videoBox.x + videoBox.width <= PHONE.width, `video box ${JSON.stringify(videoBox)}`);
        // The long code line and the table really are wider than the screen: they scroll
        // inside themselves.
        for (const [text, selector] of [[LONG_LINE.slice(0, 30), 'pre'], ['a wide table', 'table']]) {
          const inner = item(page, text).locator(selector);
          const [scrollWidth, clientWidth] = await inner.evaluate((el) => [el.scrollWidth, el.clientWidth]);
          assert.ok(scrollWidth > clientWidth, `${selector} holds more than it shows (${scrollWidth} > ${clientWidth})`);
          assert.ok(['auto', 'scroll'].includes(await inner.evaluate((el) => getComputedStyle(el).overflowX)), `${selector} scrolls`);
        }
        await scroller.evaluate((el) => { el.scrollTop = el.scrollHeight; });
        await page.screenshot({ path: join(SCREENS, `timeline-phone-${scheme}.png`) });
      });
    }
  } catch (error) {
    await saveArtifacts(`phone-layout-${homeserverKind}`, pages, homeserver);
    throw error;
  } finally {
    await close();
    if (homeserver !== client) await homeserver.stop();
    await client.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

test('no sideways scrolling on a phone against weft', () => scenario('weft'));
test('no sideways scrolling on a phone against Synapse', () => scenario('synapse'));
