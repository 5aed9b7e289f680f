import { launchBrowser, startServer } from '../e2e/harness.mjs';
import { probe } from './probe.mjs';
import { probeSpec, seed, smallRoom, PASSWORD } from './seed.mjs';
process.env.RUST_LOG='warn';
const s = await startServer();
await seed(s.base, {});
const { browser, close } = await launchBrowser();
const ctx = await browser.newContext(); await ctx.addInitScript(probe, probeSpec());
const p = await ctx.newPage();
p.on('console', m => console.log('console:', m.text()));
await p.goto(s.base);
await p.getByRole('textbox', { name: 'Username' }).fill('alice');
await p.getByRole('textbox', { name: 'Password', exact: true }).fill(PASSWORD);
await p.getByRole('button', { name: 'Sign in', exact: true }).click();
await p.waitForFunction(() => __bench.hits.roomList);
await p.getByRole('navigation', { name: 'Rooms' }).getByRole('button', { name: /^Room 01 bench/ }).click();
await p.waitForFunction(() => __bench.hits.smallLatest);
await p.evaluate(() => __bench.quiet(2000, 10000));
for (let i = 0; i < 3; i++) {
  await p.reload();
  await p.waitForFunction(() => __bench.hits.smallLatest);
  const out = await p.evaluate(() => ({ hits: Object.fromEntries(Object.entries(__bench.hits).map(([k, v]) => [k, Math.round(v - performance.timeOrigin)])),
    res: performance.getEntriesByType('resource').map(e => `${Math.round(e.startTime)}-${Math.round(e.responseEnd)} ${e.name.replace(/^http:\/\/[^/]+/, '').slice(0, 90)}`),
    nav: (({domContentLoadedEventEnd, loadEventEnd, responseEnd}) => ({domContentLoadedEventEnd, loadEventEnd, responseEnd}))(performance.getEntriesByType('navigation')[0]) }));
  console.log(JSON.stringify(out, null, 1));
  await p.evaluate(() => __bench.quiet(2000, 10000));
}
await close(); await s.stop();
