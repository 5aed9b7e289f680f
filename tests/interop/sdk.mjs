// matrix-js-sdk helpers shared by the interop tests.

import assert from 'node:assert/strict';
import { format } from 'node:util';
import * as sdk from 'matrix-js-sdk';

/** The password every interop account gets. */
export const PASSWORD = 'interop-password';

/** Registers `username` through User-Interactive Auth (m.login.dummy); returns a client for
 *  the new account, not yet started. `clientOpts` go to `createClient` (e.g. `cryptoCallbacks`). */
export async function createAccount(base, username, clientOpts = {}) {
  const anon = sdk.createClient({ baseUrl: base });
  let session;
  try {
    await anon.registerRequest({ username, password: PASSWORD });
  } catch (e) {
    assert.equal(e.httpStatus, 401, `expected a UIA challenge: ${e}`);
    session = e.data.session;
  }
  const res = await anon.registerRequest({
    username, password: PASSWORD, auth: { type: 'm.login.dummy', session },
  });
  return sdk.createClient({
    ...clientOpts, baseUrl: base, accessToken: res.access_token, userId: res.user_id, deviceId: res.device_id,
  });
}

// --- Shared by the E2EE interop tests: logs kept for failures, event-driven waits, password UIA.

const CONSOLE_METHODS = ['log', 'info', 'debug', 'warn', 'error', 'trace'];

/** Routes console output (where the SDK's logger writes) into `logLines`; returns the undo. */
export function captureConsole(logLines) {
  const saved = Object.fromEntries(CONSOLE_METHODS.map((m) => [m, console[m]]));
  for (const m of CONSOLE_METHODS) {
    console[m] = (...args) => { logLines.push(`${new Date().toISOString()} ${m} ${format(...args)}`); };
  }
  return () => Object.assign(console, saved);
}

/** HTTP answers that were not 2xx, per client: the first thing to read when a server
 *  misbehaves (some are expected: UIA's 401, 404 for absent account data or backup). */
export function recordingFetch(who, httpLog) {
  return async (input, init = {}) => {
    const res = await fetch(input, init);
    if (!res.ok) {
      const url = new URL(typeof input === 'string' || input instanceof URL ? input : input.url);
      url.searchParams.delete('access_token');
      const body = await res.clone().text().catch(() => '<unreadable>');
      httpLog.push(`${who}: ${init.method ?? 'GET'} ${url.pathname}${url.search} -> ${res.status} ${body.slice(0, 400)}`);
    }
    return res;
  };
}

/** Resolves with check()'s first truthy value; re-checks whenever one of `on`'s
 *  [emitter, event] pairs fires (and every `pollMs` for server state no event reports).
 *  On timeout the error names `what` and adds `explain()`. */
export function until(what, check, { on = [], pollMs, timeoutMs = 20_000, explain } = {}) {
  return new Promise((resolve, reject) => {
    let done = false;
    let running = false;
    let again = false;
    const finish = (fn, value) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      clearInterval(poller);
      for (const [emitter, event] of on) emitter.off(event, run);
      fn(value);
    };
    async function run() {
      if (done) return;
      if (running) { again = true; return; }
      running = true;
      try {
        const value = await check();
        if (value) finish(resolve, value);
      } catch (error) {
        finish(reject, error);
      } finally {
        running = false;
        if (again) { again = false; run(); }
      }
    }
    const timer = setTimeout(async () => {
      let detail = '';
      try { detail = explain ? ` (${await explain()})` : ''; } catch (e) { detail = ` (explain failed: ${e})`; }
      finish(reject, new Error(`timed out after ${timeoutMs} ms waiting for ${what}${detail}`));
    }, timeoutMs);
    const poller = pollMs ? setInterval(run, pollMs) : undefined;
    for (const [emitter, event] of on) emitter.on(event, run);
    run();
  });
}

/** Password UIA when the server asks for it (Synapse lets the first cross-signing upload
 *  through without); `uia` records which happened. */
export function passwordUia(client, uia = []) {
  return async (makeRequest) => {
    try {
      await makeRequest(null);
      uia.push('none');
    } catch (error) {
      if (error.httpStatus !== 401 || !error.data?.flows) throw error;
      uia.push(`password (flows ${JSON.stringify(error.data.flows)})`);
      await makeRequest({
        type: 'm.login.password', session: error.data.session,
        identifier: { type: 'm.id.user', user: client.getUserId() }, password: PASSWORD,
      });
    }
  };
}
