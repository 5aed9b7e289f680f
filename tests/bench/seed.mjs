// Seeds a homeserver for the client benchmark through the Client-Server API, the same way
// for weft and Synapse: the account "alice" in 50 rooms of 20 messages and one room of
// 1,000, with "bob" (the other side of the send test) in every room. Rooms fill in
// parallel, at most `inFlight` requests at a time; each room's messages go in order.

export const PASSWORD = 'correct horse battery';
export const SMALL_ROOMS = 50;
export const SMALL_MESSAGES = 20;
export const BIG_MESSAGES = 1000;

const pad = (n, width) => String(n).padStart(width, '0');
// No name or text is part of another, so a substring test finds exactly one of them.
export const smallRoom = (r) => `Room ${pad(r, 2)} bench`;
export const BIG_ROOM = 'History bench';
export const smallText = (r, m) => `bench r${pad(r, 2)} m${pad(m, 2)}.`;
export const bigText = (m) => `bench big m${pad(m, 4)}.`;

/** What the page-side probe looks for (see probe.mjs). */
export function probeSpec() {
  return {
    rooms: [...Array.from({ length: SMALL_ROOMS }, (_, i) => smallRoom(i + 1)), BIG_ROOM],
    smallLatest: Array.from({ length: SMALL_MESSAGES }, (_, i) => smallText(1, i + 1)),
    bigLatest: Array.from({ length: 20 }, (_, i) => bigText(BIG_MESSAGES - 19 + i)),
    bigOldest: bigText(1),
  };
}

/** At most `n` calls of the returned function run at once. */
function limiter(n) {
  let running = 0;
  const queue = [];
  const next = () => {
    if (running >= n || !queue.length) return;
    running++;
    const { fn, ok, fail } = queue.shift();
    fn().then(ok, fail).finally(() => { running--; next(); });
  };
  return (fn) => new Promise((ok, fail) => { queue.push({ fn, ok, fail }); next(); });
}

async function call(base, method, path, token, body) {
  for (let attempt = 0; ; attempt++) {
    const res = await fetch(`${base}/_matrix/client/v3${path}`, {
      method,
      headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const json = await res.json().catch(() => ({}));
    if (res.status === 429 && attempt < 20) {
      await new Promise((r) => setTimeout(r, Math.min(json.retry_after_ms ?? 100, 2000)));
      continue;
    }
    return { status: res.status, json };
  }
}

async function ok(base, method, path, token, body) {
  const { status, json } = await call(base, method, path, token, body);
  if (status < 200 || status > 299) throw new Error(`${method} ${path} on ${base}: ${status} ${JSON.stringify(json)}`);
  return json;
}

/** Registers `username` (open registration, dummy auth); returns its access token. */
async function register(base, username) {
  const body = { username, password: PASSWORD, initial_device_display_name: 'bench seeder' };
  let res = await call(base, 'POST', '/register', null, { ...body, auth: { type: 'm.login.dummy' } });
  if (res.status === 401 && res.json.session) {
    res = await call(base, 'POST', '/register', null, { ...body, auth: { type: 'm.login.dummy', session: res.json.session } });
  }
  if (res.status !== 200) throw new Error(`registering ${username} on ${base}: ${res.status} ${JSON.stringify(res.json)}`);
  return { token: res.json.access_token, userId: res.json.user_id };
}

/**
 * Seeds `base`; `progress(line)` is called now and then. Resolves to the users.
 */
export async function seed(base, { inFlight = 8, progress = () => {} } = {}) {
  const limit = limiter(inFlight);
  const alice = await register(base, 'alice');
  const bob = await register(base, 'bob');
  const users = [alice, bob];
  let txn = 0;
  const total = SMALL_ROOMS * SMALL_MESSAGES + BIG_MESSAGES;
  let sent = 0;
  let reported = 0;
  const started = Date.now();
  const send = async (roomId, m, body) => {
    const user = users[m % 2];
    await limit(() => ok(base, 'PUT', `/rooms/${encodeURIComponent(roomId)}/send/m.room.message/seed${++txn}`,
      user.token, { msgtype: 'm.text', body }));
    sent++;
    if (sent - reported >= total / 10 || sent === total) {
      reported = sent;
      progress(`${sent}/${total} messages (${((Date.now() - started) / 1000).toFixed(1)} s)`);
    }
  };
  const room = async (name) => {
    const { room_id: roomId } = await limit(() => ok(base, 'POST', '/createRoom', alice.token,
      { name, preset: 'private_chat', invite: [bob.userId] }));
    await limit(() => ok(base, 'POST', `/join/${encodeURIComponent(roomId)}`, bob.token, {}));
    return roomId;
  };

  progress(`creating ${SMALL_ROOMS + 1} rooms`);
  const bigId = await room(BIG_ROOM);
  const smallIds = await Promise.all(Array.from({ length: SMALL_ROOMS }, (_, i) => room(smallRoom(i + 1))));
  // The big room: the first message first (the scroll-back ends when it shows), then all
  // but the last 20 in parallel (their order does not matter), then the latest 20 in
  // order; the small rooms fill alongside, each in order.
  const big = (async () => {
    await send(bigId, 1, bigText(1));
    await Promise.all(Array.from({ length: BIG_MESSAGES - 21 }, (_, i) => send(bigId, i + 2, bigText(i + 2))));
    for (let m = BIG_MESSAGES - 19; m <= BIG_MESSAGES; m++) await send(bigId, m, bigText(m));
  })();
  const small = smallIds.map(async (roomId, r) => {
    for (let m = 1; m <= SMALL_MESSAGES; m++) await send(roomId, m, smallText(r + 1, m));
  });
  await Promise.all([big, ...small]);
  return { alice, bob };
}
