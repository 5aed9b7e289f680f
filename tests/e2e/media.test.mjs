// Media in the browser, against weft and Synapse: alice sends a generated PNG and a 5 MB
// file (her progress bar reaches 100 %), bob sees the thumbnail, opens the full image and
// downloads the file with identical bytes; a recorded video plays with its duration shown;
// a file over the server's limit is refused before upload with the limit in words.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { launchBrowser, saveArtifacts, startServer, startSynapse } from './harness.mjs';
import { file, png, random, sha256, wav, webm } from './files.mjs';
import { WAIT, api, item, meet, send, session, step } from './steps.mjs';

const MiB = 1024 * 1024;
/** weft runs with an 8 MiB limit so the refusal needs no huge file; Synapse keeps its own. */
const WEFT_LIMIT = 8 * MiB;

/** The server's upload limit, as it tells clients. */
async function uploadLimit(page) {
  const s = await session(page);
  const res = await fetch(`${s.homeserver}/_matrix/client/v1/media/config`, {
    headers: { authorization: `Bearer ${s.access_token}` },
  });
  return (await res.json())['m.upload.size'];
}

/** Starts recording every value each upload progress bar shows, by its label. */
async function recordProgress(page) {
  await page.evaluate(() => {
    window.progressSeen = {};
    const note = (el) => {
      const label = el.getAttribute('aria-label');
      (window.progressSeen[label] ??= []).push(Number(el.getAttribute('value') ?? el.value));
    };
    new MutationObserver((changes) => {
      for (const change of changes) {
        if (change.target.tagName === 'PROGRESS') note(change.target);
        for (const node of change.addedNodes ?? []) {
          if (node.querySelectorAll) node.querySelectorAll('progress').forEach(note);
        }
      }
    }).observe(document.body, { subtree: true, childList: true, attributes: true, attributeFilter: ['value'] });
  });
}

async function attach(page, paths) {
  await page.locator('form.composer input[type=file]').setInputFiles(paths);
  await page.getByRole('dialog', { name: 'Send files' }).waitFor(WAIT);
}

async function scenario(homeserverKind) {
  const client = await startServer({ config: `max_upload_size = ${WEFT_LIMIT}\n` });
  const homeserver = homeserverKind === 'synapse' ? await startSynapse() : client;
  const dir = mkdtempSync(join(tmpdir(), 'weft-media-'));
  const { browser, close } = await launchBrowser();
  const pages = {};
  try {
    const alice = pages.alice = await (await browser.newContext()).newPage();
    const bob = pages.bob = await (await browser.newContext({ acceptDownloads: true })).newPage();
    await step('sign up and meet in a room', () => meet(alice, bob, client, homeserver, 'Photos'));

    const picture = file(join(dir, 'sunset.png'), png(1600, 1200));
    const blob = random(5 * 1000 * 1000);
    const data = file(join(dir, 'data.bin'), blob);

    await step('alice sends a PNG and a 5 MB file; her progress reaches 100 %', async () => {
      await recordProgress(alice);
      await attach(alice, [picture, data]);
      const preview = alice.getByRole('dialog', { name: 'Send files' });
      await preview.getByText('sunset.png').waitFor(WAIT);
      await preview.getByText('4.8 MB').waitFor(WAIT);
      await preview.getByRole('button', { name: 'Send' }).click();
      await preview.waitFor({ state: 'detached', ...WAIT });
      await item(alice, 'data.bin').getByRole('button', { name: 'Download data.bin' }).waitFor(WAIT);
      await alice.getByRole('list', { name: 'Uploads' }).getByRole('listitem').first()
        .waitFor({ state: 'detached', ...WAIT });
      const seen = (await alice.evaluate(() => window.progressSeen))['Uploading data.bin'] ?? [];
      assert.ok(seen.includes(100), `progress of data.bin: ${seen.join(', ')}`);
    });

    await step('bob sees the thumbnail and opens the full image', async () => {
      const open = bob.getByRole('button', { name: 'Open sunset.png' });
      await open.waitFor(WAIT);
      const thumb = open.locator('img');
      await thumb.waitFor(WAIT);
      await bob.waitForFunction((img) => img.complete && img.naturalWidth > 0, await thumb.elementHandle(), WAIT);
      assert.match(await thumb.getAttribute('src'), /^blob:/);
      const width = await thumb.evaluate((img) => img.naturalWidth);
      assert.ok(width <= 800, `the timeline shows a thumbnail, not the ${width}px original`);
      // The blurhash placeholder sits behind the image.
      assert.match(await open.evaluate((el) => el.style.backgroundImage), /^url\("?data:image\/png/);
      await open.click();
      const viewer = bob.getByRole('dialog', { name: 'sunset.png' });
      const full = viewer.locator('img');
      await full.waitFor(WAIT);
      await bob.waitForFunction((img) => img.naturalWidth === 1600, await full.elementHandle(), WAIT);
      await bob.keyboard.press('Escape');
      await viewer.waitFor({ state: 'detached', ...WAIT });
    });

    await step('bob downloads the file with identical bytes', async () => {
      const download = bob.waitForEvent('download', WAIT);
      await item(bob, 'data.bin').getByRole('button', { name: 'Download data.bin' }).click();
      const saved = await download;
      assert.equal(saved.suggestedFilename(), 'data.bin');
      const path = join(dir, 'downloaded.bin');
      await saved.saveAs(path);
      assert.equal(sha256(readFileSync(path)), sha256(blob));
    });

    await step('a recorded video plays, its duration shown', async () => {
      const clip = file(join(dir, 'clip.webm'), await webm(alice, 2));
      await attach(alice, [clip]);
      await alice.getByRole('textbox', { name: 'Caption' }).fill('our walk');
      await alice.getByRole('dialog', { name: 'Send files' }).getByRole('button', { name: 'Send' }).click();
      const message = item(bob, 'clip.webm');
      await message.getByText('our walk').waitFor(WAIT);
      await message.getByText(/^0:0[12]$/).waitFor(WAIT);
      await message.getByRole('button', { name: 'Play video' }).click();
      const video = message.locator('video');
      await video.waitFor(WAIT);
      await bob.waitForFunction((v) => v.currentTime > 0.2, await video.elementHandle(), WAIT);
    });

    await step('a voice note plays, its duration shown', async () => {
      await attach(alice, [file(join(dir, 'note.wav'), wav(3))]);
      await alice.getByRole('dialog', { name: 'Send files' }).getByRole('button', { name: 'Send' }).click();
      const message = item(bob, 'note.wav');
      await message.getByText('0:03', { exact: true }).waitFor(WAIT);
      await message.getByRole('button', { name: 'Play audio' }).click();
      const audio = message.locator('audio');
      await audio.waitFor(WAIT);
      await bob.waitForFunction((a) => a.currentTime > 0.2, await audio.elementHandle(), WAIT);
    });

    await step('an upload can be cancelled; nothing is sent', async () => {
      // Hold the upload on the wire; after Cancel, let it through: only a real abort keeps
      // the file from being sent.
      let held;
      const holding = new Promise((ok) => alice.route('**/_matrix/media/v3/upload**', (route) => { held = route; ok(); }, { times: 1 }));
      await attach(alice, [file(join(dir, 'never.bin'), random(1000))]);
      await alice.getByRole('dialog', { name: 'Send files' }).getByRole('button', { name: 'Send' }).click();
      await holding;
      const uploads = alice.getByRole('list', { name: 'Uploads' });
      await uploads.getByText('never.bin').waitFor(WAIT);
      const aborted = alice.waitForEvent('requestfailed', { predicate: (r) => r.url().includes('/media/v3/upload'), ...WAIT });
      await uploads.getByRole('button', { name: 'Cancel' }).click();
      await uploads.getByRole('listitem').first().waitFor({ state: 'detached', ...WAIT });
      await aborted;
      await held.continue().catch(() => { /* the page already dropped it */ });
      // A later message arrives; the cancelled file never does.
      await send(alice, 'after the cancel');
      await item(bob, 'after the cancel').waitFor(WAIT);
      assert.equal(await item(bob, 'never.bin').count(), 0);
    });

    await step('files dropped on the room or pasted into the composer go to the preview', async () => {
      const preview = alice.getByRole('dialog', { name: 'Send files' });
      await alice.evaluate(() => {
        const transfer = new DataTransfer();
        transfer.items.add(new File(['dropped'], 'dropped.txt', { type: 'text/plain' }));
        const room = document.querySelector('section.room-view');
        for (const type of ['dragover', 'drop']) {
          room.dispatchEvent(new DragEvent(type, { dataTransfer: transfer, bubbles: true, cancelable: true }));
        }
      });
      await preview.getByText('dropped.txt').waitFor(WAIT);
      await alice.getByRole('textbox', { name: 'Message' }).evaluate((box) => {
        const transfer = new DataTransfer();
        transfer.items.add(new File(['pasted'], 'pasted.txt', { type: 'text/plain' }));
        box.dispatchEvent(new ClipboardEvent('paste', { clipboardData: transfer, bubbles: true, cancelable: true }));
      });
      await preview.getByText('pasted.txt').waitFor(WAIT);
      await preview.getByRole('button', { name: 'Cancel' }).click();
      await preview.waitFor({ state: 'detached', ...WAIT });
    });

    await step('a failed upload shows its error and can be retried', async () => {
      // The first attempt dies on the wire; the retry goes through.
      await alice.route('**/_matrix/media/v3/upload**', (route) => route.abort(), { times: 1 });
      await attach(alice, [file(join(dir, 'notes.txt'), Buffer.from('retry me\n'))]);
      await alice.getByRole('dialog', { name: 'Send files' }).getByRole('button', { name: 'Send' }).click();
      const uploads = alice.getByRole('list', { name: 'Uploads' });
      await uploads.getByRole('alert').filter({ hasText: 'The upload failed' }).waitFor(WAIT);
      await uploads.getByRole('button', { name: 'Retry' }).click();
      await item(bob, 'notes.txt').getByRole('button', { name: 'Download notes.txt' }).waitFor(WAIT);
      await uploads.getByRole('listitem').first().waitFor({ state: 'detached', ...WAIT });
    });

    await step('a corrupt image shows a placeholder; HTML posing as an image never gets its type', async () => {
      const s = await session(alice);
      const roomId = await alice.evaluate(() => localStorage.getItem('weft.selected_room'));
      const post = async (name, type, body, txn) => {
        const upload = await fetch(`${s.homeserver}/_matrix/media/v3/upload?filename=${name}`, {
          method: 'POST', headers: { authorization: `Bearer ${s.access_token}`, 'content-type': type }, body,
        });
        const { content_uri: url } = await upload.json();
        await api(s, 'PUT', `/rooms/${encodeURIComponent(roomId)}/send/m.room.message/${txn}`, {
          msgtype: 'm.image', body: name, url, info: { mimetype: 'image/png', w: 400, h: 300 },
        });
      };
      await post('broken.png', 'image/png', random(2000), 'broken1');
      await post('evil.html', 'text/html', '<script>parent.pwned = 1</script>', 'evil1');
      const open = bob.getByRole('button', { name: 'Open broken.png' });
      await open.getByText('This image could not be shown').waitFor(WAIT);
      const box = await open.boundingBox();
      assert.ok(box.width > 100 && box.width <= 400 && box.height > 50, `box ${JSON.stringify(box)}`);
      // The blob behind the (failed) image is typed as bytes, so opening it can't run anything.
      const evil = bob.getByRole('button', { name: 'Open evil.html' });
      await evil.getByText('This image could not be shown').waitFor(WAIT);
      await evil.click();
      const viewer = bob.getByRole('dialog', { name: 'evil.html' });
      const src = await viewer.locator('img').getAttribute('src', WAIT);
      // Opened in a tab of its own, it downloads instead of rendering as a page of ours.
      const tab = await bob.context().newPage();
      const download = tab.waitForEvent('download', WAIT);
      await tab.goto(src).catch(() => { /* navigation turns into a download */ });
      await download;
      await tab.close();
      await bob.keyboard.press('Escape');
    });

    await step('avatars: alice sets hers and the room\'s through the upload path; bob sees both', async () => {
      await alice.getByRole('button', { name: /^@alice:/ }).click();
      const menu = alice.getByRole('group', { name: 'Account' });
      await menu.locator('input[type=file]').setInputFiles(file(join(dir, 'me.png'), png(300, 300)));
      await alice.getByRole('button', { name: /^@alice:/ }).click();
      await alice.getByRole('button', { name: 'Room settings' }).click();
      const settings = alice.getByRole('region', { name: 'Room settings' });
      await settings.locator('input[type=file]').setInputFiles(file(join(dir, 'room.png'), png(120, 120)));
      const headerPicture = bob.locator('.room-header .avatar img');
      await headerPicture.waitFor(WAIT);
      await bob.waitForFunction((img) => img.naturalWidth > 0, await headerPicture.elementHandle(), WAIT);
      await bob.getByRole('button', { name: 'Room settings' }).click();
      const alicePicture = bob.getByRole('list', { name: 'Members' }).getByRole('listitem')
        .filter({ hasText: 'alice' }).locator('.avatar img');
      await alicePicture.waitFor(WAIT);
      await bob.waitForFunction((img) => img.naturalWidth > 0, await alicePicture.elementHandle(), WAIT);
    });

    await step('a file over the limit is refused before uploading', async () => {
      const limit = await uploadLimit(alice);
      if (homeserverKind === 'weft') assert.equal(limit, WEFT_LIMIT);
      const big = file(join(dir, 'huge.bin'), Buffer.alloc(limit + MiB));
      await attach(alice, [big]);
      const preview = alice.getByRole('dialog', { name: 'Send files' });
      const words = `accepts files up to ${limit / MiB} MB`;
      await preview.getByRole('alert').filter({ hasText: words }).waitFor(WAIT);
      assert.ok(await preview.getByRole('button', { name: 'Send' }).isDisabled());
      await preview.getByRole('button', { name: 'Cancel' }).click();
      await preview.waitFor({ state: 'detached', ...WAIT });
    });
  } catch (error) {
    await saveArtifacts(`media-${homeserverKind}`, pages, homeserver);
    throw error;
  } finally {
    await close();
    if (homeserver !== client) await homeserver.stop();
    await client.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

test('media in the browser against weft', () => scenario('weft'));
test('media in the browser against Synapse', () => scenario('synapse'));
