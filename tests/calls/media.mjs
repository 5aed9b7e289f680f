// What call tests need from the browser: Chromium with fake camera and microphone that
// can connect over loopback, and a view of every RTCPeerConnection a page makes, to read
// its inbound-rtp stats and the candidate pair in use.

import assert from 'node:assert/strict';
import { launchBrowser } from '../e2e/harness.mjs';

export const CALL_ARGS = [
  '--use-fake-ui-for-media-stream',
  '--use-fake-device-for-media-stream',
  // Without this, ICE gathers nothing on loopback.
  '--allow-loopback-in-peer-connection',
  '--autoplay-policy=no-user-gesture-required',
];

export function callBrowser() {
  return launchBrowser(CALL_ARGS);
}

/** Keeps every RTCPeerConnection the context's pages create in window.__peerConnections. */
export async function trackPeerConnections(context) {
  await context.addInitScript(() => {
    const Original = window.RTCPeerConnection;
    window.__peerConnections = [];
    function Tracked(...args) {
      const pc = new Original(...args);
      window.__peerConnections.push(pc);
      return pc;
    }
    Tracked.prototype = Original.prototype;
    Object.setPrototypeOf(Tracked, Original);
    window.RTCPeerConnection = Tracked;
  });
}

/** Inbound media of the page's newest open peer connection: video frames decoded, audio bytes. */
export async function inbound(page) {
  return page.evaluate(async () => {
    const open = window.__peerConnections.filter((pc) => pc.connectionState !== 'closed');
    const pc = open[open.length - 1];
    if (!pc) return { frames: 0, bytes: 0 };
    let frames = 0;
    let bytes = 0;
    for (const stat of (await pc.getStats()).values()) {
      if (stat.type !== 'inbound-rtp') continue;
      if (stat.kind === 'video') frames += stat.framesDecoded ?? 0;
      if (stat.kind === 'audio') bytes += stat.bytesReceived ?? 0;
    }
    return { frames, bytes };
  });
}

/** Waits until inbound video frames and/or audio bytes keep increasing. */
export async function mediaFlows(page, { video = false, audio = false }, timeoutMs = 15_000) {
  const deadline = Date.now() + timeoutMs;
  let first = await inbound(page);
  for (;;) {
    await new Promise((ok) => setTimeout(ok, 500));
    const now = await inbound(page);
    const videoOk = !video || (now.frames > first.frames && first.frames > 0);
    const audioOk = !audio || (now.bytes > first.bytes && first.bytes > 0);
    if (videoOk && audioOk) return now;
    if (Date.now() > deadline) {
      assert.fail(`media is not flowing (video ${video}, audio ${audio}): ${JSON.stringify(first)} → ${JSON.stringify(now)}`);
    }
    if (first.frames === 0 || first.bytes === 0) first = now;
  }
}

/** The candidate type ("host", "srflx", "relay") of our side of the pair in use. */
export async function selectedCandidateType(page) {
  return page.evaluate(async () => {
    const open = window.__peerConnections.filter((pc) => pc.connectionState !== 'closed');
    const stats = [...(await open[open.length - 1].getStats()).values()];
    const transport = stats.find((s) => s.type === 'transport' && s.selectedCandidatePairId);
    const pair = stats.find((s) => s.id === transport?.selectedCandidatePairId)
      ?? stats.find((s) => s.type === 'candidate-pair' && s.nominated && s.state === 'succeeded');
    return stats.find((s) => s.id === pair?.localCandidateId)?.candidateType;
  });
}
