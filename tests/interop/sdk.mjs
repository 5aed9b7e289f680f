// matrix-js-sdk helpers shared by the interop tests.

import assert from 'node:assert/strict';
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
