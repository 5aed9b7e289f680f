// A browser page running matrix-js-sdk's MatrixCall (Element Web's 1:1 call
// implementation), driven by Playwright through `window.jsCall`. Bundled for the
// browser with esbuild at test time (tests/calls/harness.mjs: servePage); never
// committed as a bundle.
//
// Every method returns a promise (or a plain value) that page.evaluate can await.
// Times are wall-clock milliseconds with sub-millisecond precision
// (performance.timeOrigin + performance.now()), comparable between pages of one
// machine.

import { createClient, createNewMatrixCall, CallEvent, ClientEvent } from 'matrix-js-sdk';
import { CallState } from 'matrix-js-sdk/lib/webrtc/call.js';
import { CallEventHandlerEvent } from 'matrix-js-sdk/lib/webrtc/callEventHandler.js';
import { logger } from 'matrix-js-sdk/lib/logger.js';

// js-sdk logs every request and ICE candidate at debug level; the harness collects
// console output for failure reports, so keep it to warnings.
logger.setLevel('warn', false);

const now = () => performance.timeOrigin + performance.now();
const $ = (id) => document.getElementById(id);

let client = null;
let current = null; // the latest MatrixCall, outgoing or incoming
const calls = new Map(); // callId -> { call, log: [{at, what}] }
let autoAnswer = null; // null or { video: boolean }
const incomingWaiters = [];
const log = []; // [{at, callId, what}]

function note(call, what) {
  const entry = { at: now(), callId: call?.callId ?? null, what };
  log.push(entry);
  calls.get(call?.callId)?.log.push(entry);
  $('status').textContent = `${call?.callId ?? ''} ${what}`;
}

function track(call) {
  calls.set(call.callId, { call, log: [], createdAt: now() });
  current = call;
  // MatrixCall throws from placeCall without an error listener.
  call.on(CallEvent.Error, (err) => note(call, `error ${err?.code ?? ''} ${err?.message ?? err}`));
  call.on(CallEvent.State, (state, old) => note(call, `state ${old} -> ${state}`));
  call.on(CallEvent.Hangup, () => note(call, `hangup ${call.hangupParty} ${call.hangupReason}`));
  call.on(CallEvent.FeedsChanged, () => {
    const remote = call.remoteUsermediaStream;
    if (remote && $('remote').srcObject !== remote) $('remote').srcObject = remote;
    const local = call.localUsermediaStream;
    if (local && $('local').srcObject !== local) $('local').srcObject = local;
  });
}

function requireClient() {
  if (!client) throw new Error('call login() first');
  return client;
}

function callById(callId) {
  const call = callId ? calls.get(callId)?.call : current;
  if (!call) throw new Error(callId ? `no call ${callId}` : 'no call yet');
  return call;
}

function describe(call) {
  if (!call) return null;
  return {
    callId: call.callId,
    roomId: call.roomId,
    state: call.state,
    direction: call.direction ?? null,
    type: call.type ?? null,
    hangupParty: call.hangupParty ?? null,
    hangupReason: call.hangupReason ?? null,
    forceTURN: !!call.forceTURN,
    iceServers: (call.turnServers ?? []).map((s) => ({ urls: s.urls, hasCredential: !!s.credential })),
    createdAt: calls.get(call.callId)?.createdAt ?? null,
    log: calls.get(call.callId)?.log ?? [],
  };
}

function until(what, check, timeoutMs, intervalMs = 25) {
  return new Promise((resolve, reject) => {
    const deadline = now() + timeoutMs;
    const tick = async () => {
      try {
        const value = await check();
        if (value) return resolve(value);
      } catch (e) {
        return reject(e);
      }
      if (now() > deadline) return reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`));
      setTimeout(tick, intervalMs);
    };
    tick();
  });
}

/** Inbound media and the ICE path of a peer connection (getStats). */
async function readStats(pc) {
  const out = {
    at: now(),
    iceConnectionState: pc.iceConnectionState,
    connectionState: pc.connectionState,
    videoFramesDecoded: 0,
    videoBytesReceived: 0,
    audioBytesReceived: 0,
    audioPacketsReceived: 0,
    pair: null,
  };
  const report = await pc.getStats();
  let pairId = null;
  for (const s of report.values()) {
    if (s.type === 'inbound-rtp' && s.kind === 'video') {
      out.videoFramesDecoded += s.framesDecoded ?? 0;
      out.videoBytesReceived += s.bytesReceived ?? 0;
    } else if (s.type === 'inbound-rtp' && s.kind === 'audio') {
      out.audioBytesReceived += s.bytesReceived ?? 0;
      out.audioPacketsReceived += s.packetsReceived ?? 0;
    } else if (s.type === 'transport' && s.selectedCandidatePairId) {
      pairId = s.selectedCandidatePairId;
    }
  }
  let pair = pairId ? report.get(pairId) : null;
  if (!pair) {
    for (const s of report.values()) {
      if (s.type === 'candidate-pair' && s.nominated && s.state === 'succeeded') pair = s;
    }
  }
  if (pair) {
    const local = report.get(pair.localCandidateId);
    const remote = report.get(pair.remoteCandidateId);
    out.pair = {
      state: pair.state,
      localType: local?.candidateType ?? null,
      localAddress: local ? `${local.address}:${local.port}` : null,
      localProtocol: local?.protocol ?? null,
      relayProtocol: local?.relayProtocol ?? null,
      localUrl: local?.url ?? null,
      remoteType: remote?.candidateType ?? null,
      remoteAddress: remote ? `${remote.address}:${remote.port}` : null,
    };
  }
  return out;
}

window.jsCall = {
  /** Creates the MatrixClient (not started). */
  login({ baseUrl, userId, accessToken, deviceId, forceTURN = false, name }) {
    if (client) throw new Error('already logged in');
    client = createClient({ baseUrl, userId, accessToken, deviceId, forceTURN, fallbackICEServerAllowed: false });
    $('who').textContent = name ?? userId;
    client.on(CallEventHandlerEvent.Incoming, (call) => {
      track(call);
      note(call, `incoming (state ${call.state})`);
      for (const w of incomingWaiters.splice(0)) w(call);
      if (autoAnswer) {
        note(call, 'auto-answer');
        call.answer(true, autoAnswer.video).catch((e) => note(call, `answer failed ${e}`));
      }
    });
    return { userId: client.getUserId(), deviceId: client.getDeviceId(), supportsVoip: client.supportsVoip() };
  },

  /** Starts /sync and waits for the first one; then fetches TURN credentials from the
   *  homeserver (GET /voip/turnServer) so calls created afterwards use them. */
  async start({ timeoutMs = 20_000 } = {}) {
    const c = requireClient();
    const prepared = new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('first sync timed out')), timeoutMs);
      const on = (state) => {
        if (state === 'PREPARED' || state === 'SYNCING') { clearTimeout(timer); c.off(ClientEvent.Sync, on); resolve(); }
        if (state === 'ERROR') { clearTimeout(timer); c.off(ClientEvent.Sync, on); reject(new Error('sync error')); }
      };
      c.on(ClientEvent.Sync, on);
    });
    await c.startClient({ initialSyncLimit: 10 });
    await prepared;
    await c.checkTurnServers();
    return { turnServers: this.turnServers(), supportsVoip: c.supportsVoip() };
  },

  /** TURN servers the client will hand to new calls (from /voip/turnServer). */
  turnServers() {
    return requireClient().getTurnServers().map((s) => ({ urls: s.urls, username: s.username, hasCredential: !!s.credential }));
  },

  /** The raw /voip/turnServer response. */
  async fetchTurnServer() {
    return requireClient().turnServer();
  },

  setForceTURN(force) {
    requireClient().setForceTURN(!!force);
  },

  /** null: leave incoming calls ringing; {video}: answer each as soon as it rings. */
  setAutoAnswer(mode) {
    autoAnswer = mode ? { video: mode.video !== false } : null;
  },

  /** Places a call in `roomId` (createNewMatrixCall + placeVideoCall/placeVoiceCall).
   *  Resolves once the placing is under way (the invite may not be sent yet). */
  async placeCall(roomId, { video = true, forceTURN } = {}) {
    const c = requireClient();
    const call = createNewMatrixCall(c, roomId, forceTURN === undefined ? undefined : { forceTURN });
    if (!call) throw new Error('createNewMatrixCall returned null (no WebRTC support?)');
    track(call);
    const placedAt = now();
    note(call, video ? 'placeVideoCall' : 'placeVoiceCall');
    const placing = video ? call.placeVideoCall() : call.placeVoiceCall();
    placing.catch((e) => note(call, `place failed ${e}`));
    return { callId: call.callId, placedAt };
  },

  /** Resolves with the first incoming call after this is called (or the current
   *  ringing one). */
  waitIncoming({ timeoutMs = 20_000 } = {}) {
    if (current && current.direction === 'inbound' && current.state === CallState.Ringing) {
      return Promise.resolve(describe(current));
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no incoming call')), timeoutMs);
      incomingWaiters.push((call) => { clearTimeout(timer); resolve(describe(call)); });
    });
  },

  async answer({ video = true, callId } = {}) {
    const call = callById(callId);
    note(call, video ? 'answer with video' : 'answer voice');
    await call.answer(true, video);
    return describe(call);
  },

  reject({ callId } = {}) {
    const call = callById(callId);
    call.reject();
    return describe(call);
  },

  hangup({ callId, reason = 'user_hangup' } = {}) {
    const call = callById(callId);
    call.hangup(reason, false);
    return describe(call);
  },

  call({ callId } = {}) {
    return (current || callId) ? describe(callById(callId)) : null;
  },

  async waitState(states, { callId, timeoutMs = 20_000 } = {}) {
    const want = [].concat(states);
    return until(`call state ${want.join('|')}`, () => {
      const call = callId ? calls.get(callId)?.call : current;
      return call && want.includes(call.state) ? describe(call) : null;
    }, timeoutMs);
  },

  /** Inbound stats of the call's peer connection, or null when it has none. */
  async stats({ callId } = {}) {
    const call = callById(callId);
    return call.peerConn ? readStats(call.peerConn) : null;
  },

  /** Polls getStats until at least `frames` video frames were decoded and `audioBytes`
   *  audio bytes received (counted from now when `fromNow`); resolves with the stats
   *  of the first poll that met them (its `at` is when media was seen). */
  async waitForMedia({ callId, frames = 1, audioBytes = 1, fromNow = false, timeoutMs = 20_000, intervalMs = 20 } = {}) {
    const call = callById(callId);
    let base = { videoFramesDecoded: 0, audioBytesReceived: 0 };
    if (fromNow && call.peerConn) base = await readStats(call.peerConn);
    return until(`${frames} frames and ${audioBytes} audio bytes`, async () => {
      if (!call.peerConn) return null;
      const s = await readStats(call.peerConn);
      const ok = s.videoFramesDecoded - base.videoFramesDecoded >= frames
        && s.audioBytesReceived - base.audioBytesReceived >= audioBytes;
      return ok ? s : null;
    }, timeoutMs, intervalMs);
  },

  events() {
    return log;
  },

  now,

  async stop() {
    if (current && !current.callHasEnded()) current.hangup('user_hangup', true);
    client?.stopClient();
  },
};
window.jsCallReady = true;
