// Files in an encrypted room ("New room" makes one): alice sends a PNG (with the thumbnail
// Weft makes of it) and a file. Every upload the server gets is ciphertext: typed
// `application/octet-stream`, nameless, the same length as the file but never its bytes,
// and the message goes out as `m.room.encrypted` only. alice's Weft shows the image from
// her own event (downloaded, hash-checked and decrypted in the browser), opens it full
// size and downloads the file with identical bytes, also after a reload (the event read
// back from the server). A download that is not the ciphertext the event describes shows
// "This file could not be decrypted", never a broken image.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { launchBrowser, saveArtifacts, startServer } from './harness.mjs';
import { file, png, random, sha256 } from './files.mjs';
import { WAIT, item, register, session, step } from './steps.mjs';

/** The bytes the server keeps at `mxc`, fetched as alice. */
async function stored(s, mxc) {
  const [server, id] = mxc.slice('mxc://'.length).split('/');
  const res = await fetch(`${s.homeserver}/_matrix/client/v1/media/download/${server}/${id}`, {
    headers: { authorization: `Bearer ${s.access_token}` },
  });
  assert.ok(res.ok, `download ${mxc}: ${res.status}`);
  return Buffer.from(await res.arrayBuffer());
}

test('encrypted files: encrypted in the browser, shown and downloaded decrypted', { timeout: 180_000 }, async () => {
  const server = await startServer();
  const dir = mkdtempSync(join(tmpdir(), 'weft-encrypted-media-'));
  const { browser, close } = await launchBrowser();
  const pages = {};
  try {
    const alice = pages.alice = await (await browser.newContext({ acceptDownloads: true })).newPage();
    const uploads = [];
    const sent = [];
    alice.on('request', (request) => {
      const url = new URL(request.url());
      if (url.pathname.includes('/media/v3/upload')) {
        uploads.push({ query: url.search, type: request.headers()['content-type'], done: request.response() });
      }
      const send = url.pathname.match(/\/send\/([^/]+)\//);
      if (send) sent.push(decodeURIComponent(send[1]));
    });

    await step('alice makes an encrypted room', async () => {
      await register(alice, server, server.base, 'alice');
      await alice.getByRole('button', { name: 'New room' }).click();
      await alice.getByRole('textbox', { name: 'Room name' }).fill('Secret photos');
      await alice.getByRole('button', { name: 'Create', exact: true }).click();
      await alice.getByRole('heading', { name: 'Secret photos' }).getByRole('img', { name: 'Encrypted' }).waitFor(WAIT);
      assert.equal(await alice.getByText("Weft can't send encrypted files yet").count(), 0);
    });

    const picture = png(1600, 1200);
    const blob = Buffer.concat([Buffer.from('top secret plans\n'), random(200_000)]);
    const paths = [file(join(dir, 'sunset.png'), picture), file(join(dir, 'plans.bin'), blob)];

    await step('alice attaches a PNG and a file; only ciphertext reaches the server', async () => {
      await alice.getByRole('button', { name: 'Attach file' }).waitFor(WAIT);
      assert.ok(await alice.getByRole('button', { name: 'Attach file' }).isEnabled());
      await alice.locator('form.composer input[type=file]').setInputFiles(paths);
      const preview = alice.getByRole('dialog', { name: 'Send files' });
      await preview.getByRole('button', { name: 'Send' }).click();
      await preview.waitFor({ state: 'detached', ...WAIT });
      await item(alice, 'plans.bin').getByRole('button', { name: 'Download plans.bin' }).waitFor(WAIT);
      await alice.getByRole('list', { name: 'Uploads' }).getByRole('listitem').first()
        .waitFor({ state: 'detached', ...WAIT });
      // The PNG, its thumbnail and the file.
      assert.equal(uploads.length, 3, JSON.stringify(uploads));
      const s = await session(alice);
      const bodies = [];
      for (const upload of uploads) {
        assert.equal(upload.type, 'application/octet-stream');
        assert.equal(upload.query, '', 'no file name goes to the server');
        const { content_uri: mxc } = await (await upload.done).json();
        bodies.push(await stored(s, mxc));
      }
      for (const plain of [picture, blob]) {
        const same = bodies.find((b) => b.length === plain.length);
        assert.ok(same, `an upload as long as the ${plain.length}-byte file (AES-CTR keeps the length)`);
        assert.notEqual(sha256(same), sha256(plain));
      }
      assert.ok(bodies.every((b) => !b.includes('top secret plans') && !b.subarray(0, 8).equals(picture.subarray(0, 8))));
      assert.ok(sent.length >= 2 && sent.every((type) => type === 'm.room.encrypted'), `sent ${sent.join(', ')}`);
    });

    const showsTheImage = async () => {
      const open = alice.getByRole('button', { name: 'Open sunset.png' });
      const thumb = open.locator('img');
      await thumb.waitFor(WAIT);
      await alice.waitForFunction((img) => img.complete && img.naturalWidth > 0, await thumb.elementHandle(), WAIT);
      assert.match(await thumb.getAttribute('src'), /^blob:/);
      const width = await thumb.evaluate((img) => img.naturalWidth);
      assert.ok(width <= 800, `the timeline shows the encrypted thumbnail, not the ${width}px original`);
      await open.click();
      const viewer = alice.getByRole('dialog', { name: 'sunset.png' });
      const full = viewer.locator('img');
      await full.waitFor(WAIT);
      await alice.waitForFunction((img) => img.naturalWidth === 1600, await full.elementHandle(), WAIT);
      await alice.keyboard.press('Escape');
      await viewer.waitFor({ state: 'detached', ...WAIT });
      const download = alice.waitForEvent('download', WAIT);
      await item(alice, 'plans.bin').getByRole('button', { name: 'Download plans.bin' }).click();
      const saved = await download;
      assert.equal(saved.suggestedFilename(), 'plans.bin');
      const path = join(dir, `downloaded-${Date.now()}.bin`);
      await saved.saveAs(path);
      assert.equal(sha256(readFileSync(path)), sha256(blob));
    };

    await step('alice sees her image decrypted, opens it and downloads the file', showsTheImage);

    await step('after a reload, from the event as the server has it', async () => {
      await alice.reload();
      await showsTheImage();
    });

    await step('a download that is not the encrypted file shows an error, not a broken image', async () => {
      await alice.route('**/_matrix/client/v1/media/download/**', async (route) => {
        const response = await route.fetch();
        const body = await response.body();
        body[0] ^= 1;
        await route.fulfill({ response, body });
      });
      await alice.reload();
      const open = alice.getByRole('button', { name: 'Open sunset.png' });
      await open.getByText('This file could not be decrypted').waitFor(WAIT);
      assert.equal(await open.locator('img').count(), 0);
      await item(alice, 'plans.bin').getByRole('button', { name: 'Download plans.bin' }).click();
      await item(alice, 'plans.bin').getByRole('alert').filter({ hasText: 'This file could not be decrypted' }).waitFor(WAIT);
    });
  } catch (error) {
    await saveArtifacts('encrypted-media', pages, server);
    throw error;
  } finally {
    await close();
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
