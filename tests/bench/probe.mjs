// The page side of the client benchmark: a script Playwright injects into every document
// before the client's own scripts run (page.addInitScript), so that times are taken inside
// the page, on the page's clock, without waiting for Playwright's polling.
//
// It finds things the way the README's accessible names describe them (the "Rooms"
// navigation, the "Timeline" region, the "Username" field), records the moment
// (performance.timeOrigin + performance.now(), the machine's clock in ms) each awaited
// condition first holds, and collects what the client does not expose: the wasm linear
// memory (captured from the instances WebAssembly.instantiate* create), the timing of its
// message sends and history pages (a wrapper around fetch), and long tasks. None of this
// needs a change to the client.

/** Runs in the page. `spec` names the rooms and messages the watchers look for. */
export function probe(spec) {
  if (window.__bench) return;
  const now = () => performance.timeOrigin + performance.now();
  const bench = {
    spec,
    hits: {},
    clicks: [],
    sends: [],
    pages: [],
    longtasks: [],
    memories: [],
    inflight: 0,
    lastMutation: now(),
  };
  window.__bench = bench;

  // ---- wasm linear memory: every Memory an instance exports ---------------------------
  const keep = (result) => {
    const instance = result instanceof WebAssembly.Instance ? result : result && result.instance;
    if (instance) {
      for (const value of Object.values(instance.exports)) {
        if (value instanceof WebAssembly.Memory && !bench.memories.includes(value)) bench.memories.push(value);
      }
    }
    return result;
  };
  for (const name of ['instantiate', 'instantiateStreaming']) {
    const original = WebAssembly[name];
    if (original) WebAssembly[name] = function (...args) { return original.apply(this, args).then(keep); };
  }
  bench.wasmBytes = () => (bench.memories.length ? bench.memories.reduce((sum, m) => sum + m.buffer.byteLength, 0) : null);

  // ---- sends and history pages, timed around the client's fetch ------------------------
  const fetch = window.fetch;
  window.fetch = function (input, init) {
    const url = typeof input === 'string' ? input : input instanceof Request ? input.url : String(input);
    const method = ((init && init.method) || (input instanceof Request ? input.method : 'GET')).toUpperCase();
    const longPoll = /\/sync(\?|$)/.test(url);
    let record = null;
    if (method === 'PUT' && /\/rooms\/[^/]+\/send\//.test(url)) bench.sends.push(record = { url, start: now() });
    else if (method === 'GET' && /\/rooms\/[^/]+\/messages\?/.test(url)) bench.pages.push(record = { url, start: now() });
    if (!longPoll) bench.inflight++;
    const done = (status) => {
      if (!longPoll) bench.inflight--;
      if (record) { record.end = now(); record.status = status; }
    };
    const promise = fetch.apply(window, arguments);
    promise.then((response) => done(response.status), () => done(-1));
    return promise;
  };

  // ---- long tasks ----------------------------------------------------------------------
  try {
    new PerformanceObserver((list) => {
      for (const e of list.getEntries()) bench.longtasks.push({ start: performance.timeOrigin + e.startTime, duration: e.duration });
    }).observe({ type: 'longtask', buffered: true });
  } catch { /* not supported: reported as n/a */ }

  // ---- clicks (the start of "sign in" and "open a room") -------------------------------
  const nameOf = (el) => (el.getAttribute('aria-label') || el.textContent || '').trim();
  document.addEventListener('click', (e) => {
    const button = e.target instanceof Element && e.target.closest('button');
    if (button) bench.clicks.push({ name: nameOf(button), at: performance.timeOrigin + e.timeStamp });
  }, true);

  // ---- conditions, checked after every DOM change --------------------------------------
  const rooms = () => document.querySelector('nav[aria-label="Rooms"], [role="navigation"][aria-label="Rooms"]');
  const timeline = () => document.querySelector('[aria-label="Timeline"]');
  const shown = (el) => el && el.isConnected && (!el.checkVisibility || el.checkVisibility());
  const field = (label) => [...document.querySelectorAll('label')].some((l) => l.textContent.trim() === label && shown(l.control));
  const button = (name) => [...document.querySelectorAll('button')].some((b) => nameOf(b) === name && shown(b));
  const allRooms = () => {
    const nav = rooms();
    if (!shown(nav)) return false;
    const names = [...nav.querySelectorAll('button')].map((b) => b.textContent);
    return spec.rooms.every((room) => names.some((n) => n.includes(room)));
  };
  const texts = (list) => () => {
    const region = timeline();
    if (!shown(region)) return false;
    const text = region.textContent;
    return list.every((t) => text.includes(t));
  };
  const conditions = {
    signInForm: () => field('Username') && field('Password') && button('Sign in'),
    roomList: allRooms,
    smallLatest: texts(spec.smallLatest),
    bigLatest: texts(spec.bigLatest),
  };
  const armed = new Set(Object.keys(conditions));
  // Texts expected in the Timeline (the receiving side of the send test), found in the
  // nodes each change adds instead of by reading the whole list.
  const expected = new Set();
  const check = (records) => {
    bench.lastMutation = now();
    for (const name of armed) {
      if (conditions[name]()) { bench.hits[name] = now(); armed.delete(name); }
    }
    if (expected.size && records) {
      for (const record of records) {
        const nodes = record.type === 'characterData' ? [record.target] : [...record.addedNodes];
        for (const node of nodes) {
          const text = node.textContent;
          if (!text) continue;
          for (const t of expected) {
            const el = node.nodeType === Node.ELEMENT_NODE ? node : node.parentElement;
            if (text.includes(t) && el && el.closest('[aria-label="Timeline"]')) {
              bench.hits[t] = now();
              expected.delete(t);
            }
          }
        }
      }
    }
  };
  const observer = new MutationObserver(check);
  const start = () => observer.observe(document, { childList: true, subtree: true, characterData: true, attributes: true });
  start();

  bench.disarm = (...names) => names.forEach((n) => armed.delete(n));
  // Re-armed conditions are checked at once: one that already holds is met now.
  bench.rearm = (...names) => {
    names.forEach((n) => { delete bench.hits[n]; armed.add(n); });
    for (const n of names) if (conditions[n]()) { bench.hits[n] = now(); armed.delete(n); }
  };
  bench.expect = (text) => { delete bench.hits[text]; expected.add(text); };
  /** Resolves once the DOM has not changed and no request but /sync is in flight for `ms`. */
  bench.quiet = (ms, max) => new Promise((resolve) => {
    const until = now() + max;
    const tick = () => {
      const t = now();
      if ((t - bench.lastMutation >= ms && bench.inflight === 0) || t > until) resolve(t < until);
      else setTimeout(tick, 25);
    };
    tick();
  });
  /** Scrolls the timeline up a screen per frame until the oldest message is shown. */
  bench.scrollBack = (timeoutMs) => new Promise((resolve) => {
    const scrollable = (el) => el.scrollHeight > el.clientHeight + 1 && /auto|scroll/.test(getComputedStyle(el).overflowY);
    const find = () => {
      const region = timeline();
      if (!region) return null;
      if (scrollable(region)) return region;
      const inner = [...region.querySelectorAll('*')].find(scrollable);
      if (inner) return inner;
      for (let el = region.parentElement; el; el = el.parentElement) if (scrollable(el)) return el;
      return null;
    };
    const started = now();
    const pagesBefore = bench.pages.length;
    // Watched in the nodes each change adds: reading the whole list after every change
    // would itself make long tasks.
    bench.expect(spec.bigOldest);
    if (texts([spec.bigOldest])()) { bench.hits[spec.bigOldest] = started; expected.delete(spec.bigOldest); }
    let el = null;
    const frame = () => {
      const ended = bench.hits[spec.bigOldest];
      if (ended) {
        resolve({ started, ended, pages: bench.pages.slice(pagesBefore) });
        return;
      }
      if (now() - started > timeoutMs) { resolve({ started, ended: null, pages: bench.pages.slice(pagesBefore) }); return; }
      if (!el || !el.isConnected || !scrollable(el)) el = find();
      if (el) el.scrollBy(0, -el.clientHeight);
      requestAnimationFrame(frame);
    };
    requestAnimationFrame(frame);
  });
}
