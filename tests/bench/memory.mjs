// Memory of one page: JS heap (CDP Runtime.getHeapUsage after a forced GC), wasm linear
// memory (from the instances the probe captured), DOM nodes, and the proportional and
// unique set sizes of the Chromium renderer process that runs the page
// (/proc/PID/smaps_rollup).
// The renderer is found by a short trace: Chromium's TracingStartedInBrowser event
// names the process of each frame it traces.

import { readFileSync, readdirSync } from 'node:fs';

/** PIDs of our descendants whose command line says `--type=renderer`. */
function renderers() {
  const children = new Map();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (!children.has(ppid)) children.set(ppid, []);
      children.get(ppid).push(Number(entry));
    } catch { /* gone */ }
  }
  const found = new Set();
  const walk = (pid) => {
    for (const child of children.get(pid) ?? []) {
      try {
        // Chromium rewrites its command line as one space-separated string.
        if (/(^|[\s\0])--type=renderer([\s\0]|$)/.test(readFileSync(`/proc/${child}/cmdline`, 'utf8'))) found.add(child);
      } catch { /* gone */ }
      walk(child);
    }
  };
  walk(process.pid);
  return found;
}

async function rendererPid(browser, page) {
  await browser.startTracing(page, { categories: ['disabled-by-default-devtools.timeline'] });
  await page.evaluate(() => 0);
  const trace = JSON.parse((await browser.stopTracing()).toString());
  const url = page.url();
  const frames = trace.traceEvents
    .filter((e) => e.name === 'TracingStartedInBrowser')
    .flatMap((e) => e.args?.data?.frames ?? []);
  const frame = frames.find((f) => f.url === url && f.isOutermostMainFrame !== false) ?? frames.find((f) => f.isOutermostMainFrame);
  if (!frame) throw new Error('the trace names no frame for the page');
  if (!renderers().has(frame.processId)) throw new Error(`process ${frame.processId} is not one of our Chromium renderers`);
  return frame.processId;
}

/** PSS and USS (private pages only) of `pid`, in bytes. PSS shares out pages mapped by
 *  several processes, so it falls as more Chromium processes run on the machine (other
 *  browsers' too); USS does not depend on them. */
function renderMemory(pid) {
  const rollup = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
  const field = (name) => {
    const kb = rollup.match(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm'));
    if (!kb) throw new Error(`no ${name} in /proc/${pid}/smaps_rollup`);
    return Number(kb[1]) * 1024;
  };
  return { pss: field('Pss'), uss: field('Private_Clean') + field('Private_Dirty') };
}

/** Heap, wasm memory, DOM nodes and renderer PSS of `page`, in bytes (nodes: count). */
export async function measureMemory(browser, page) {
  const cdp = await page.context().newCDPSession(page);
  try {
    await cdp.send('HeapProfiler.collectGarbage');
    const heap = await cdp.send('Runtime.getHeapUsage');
    const { wasm, dom } = await page.evaluate(() => ({
      wasm: window.__bench.wasmBytes(),
      dom: document.getElementsByTagName('*').length,
    }));
    const pid = await rendererPid(browser, page);
    return { heap: heap.usedSize, wasm, dom, ...renderMemory(pid), pid };
  } finally {
    await cdp.detach().catch(() => {});
  }
}
