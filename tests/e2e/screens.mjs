// Looking at screens: an accessibility scan with axe-core (npm, injected into the page) and
// screenshots of every screen at both sizes and in both colour schemes, written to
// test-output/screens/ on every run so a reviewer can look at them.

import assert from 'node:assert/strict';
import { mkdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { ROOT } from './harness.mjs';

export const DESKTOP = { width: 1280, height: 800 };
export const PHONE = { width: 390, height: 844 };
export const SIZES = { desktop: DESKTOP, phone: PHONE };
export const SCHEMES = ['light', 'dark'];

const AXE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
const SCREENS = join(ROOT, 'test-output', 'screens');

/** Runs axe-core's WCAG 2 A/AA rules on the page as it is; returns the serious and
 * critical violations, each as "rule: help (N nodes: selector, …)". */
export async function seriousViolations(page) {
  if (!(await page.evaluate(() => typeof window.axe === 'object'))) {
    // Evaluated through the DevTools protocol: the page's CSP allows no inline script, and
    // the test must not loosen it.
    await page.evaluate(AXE);
  }
  const violations = await page.evaluate(async () => {
    const result = await window.axe.run(document, {
      runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa'] },
      resultTypes: ['violations'],
    });
    return result.violations.map((v) => ({
      id: v.id, impact: v.impact, help: v.help,
      nodes: v.nodes.map((n) => `${n.target.join(' ')} — ${n.failureSummary.replace(/\s+/g, ' ')}`),
    }));
  });
  return violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.id} (${v.impact}): ${v.help}\n      ${v.nodes.slice(0, 5).join('\n      ')}`);
}

/** Writes test-output/screens/<name>.png (the viewport, as a person sees it). */
export async function screenshot(page, name) {
  mkdirSync(SCREENS, { recursive: true });
  await page.screenshot({ path: join(SCREENS, `${name}.png`) });
}

/** For each size and colour scheme: `prepare` (e.g. open the screen; it gets the size's
 * name), then a screenshot `<screen>-<size>-<scheme>.png` and an axe scan. Fails listing
 * every serious or critical violation found on any of them. Leaves the page at desktop
 * size, in the light scheme. */
export async function lookAt(page, screen, prepare = async () => {}) {
  const found = [];
  for (const [size, viewport] of Object.entries(SIZES)) {
    await page.setViewportSize(viewport);
    for (const scheme of SCHEMES) {
      await page.emulateMedia({ colorScheme: scheme });
      await prepare(size, scheme);
      // Styles follow the scheme at once; wait one frame so the screenshot shows it.
      await page.evaluate(() => new Promise((ok) => requestAnimationFrame(() => requestAnimationFrame(ok))));
      await screenshot(page, `${screen}-${size}-${scheme}`);
      for (const v of await seriousViolations(page)) found.push(`${screen} (${size}, ${scheme}): ${v}`);
    }
  }
  await page.setViewportSize(DESKTOP);
  await page.emulateMedia({ colorScheme: 'light' });
  assert.deepEqual(found, [], `axe-core found serious or critical violations:\n  ${found.join('\n  ')}`);
}
