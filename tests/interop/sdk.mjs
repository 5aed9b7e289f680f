// matrix-js-sdk helpers shared by the interop tests.

import assert from 'node:assert/strict';
import * as sdk from 'matrix-js-sdk';

/** Registers `username` through User-Interactive Auth (m.login.dummy); returns a client for
 *  the new account, not yet started. */
export async function createAccount(base, username) {
  const anon = sdk.createClient({ baseUrl: base });
  let session;
  try {
    await anon.registerRequest({ username, password: 'interop-password' });
  } catch (e) {
    assert.equal(e.httpStatus, 401, `expected a UIA challenge: ${e}`);
    session = e.data.session;
  }
  const res = await anon.registerRequest({
    username, password: 'interop-password', auth: { type: 'm.login.dummy', session },
  });
  return sdk.createClient({
    baseUrl: base, accessToken: res.access_token, userId: res.user_id, deviceId: res.device_id,
  });
}
