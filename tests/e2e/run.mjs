// skewgate end-to-end suite: real Next.js builds behind skewgate, driven in Debian's Chromium.
//
//   node tests/e2e/run.mjs [next15] [next16]      (default: both)
//
// For each pinned Next.js version it builds (cached) the app's variants, then runs:
//   baseline  no skewgate: a tab on A, A replaced by B on the same port, the tab's action;
//   skew      skewgate (registry: api) in front of A and B: deploy A, open tabs, deploy B
//             (deploy phase: A retained), retire A (retire phase) with action_policy reload,
//             then action_policy error (config reload);
//   nodpl     the same app built without deploymentId: actions routed by the action manifests.
//   multitab  the builds without deploymentId, all tabs in one cookie jar: old tabs on A, tab 2
//             loads B (so every tab sends pin B); the old tabs' interactions while A is
//             retained and after retire, with manifests and with none (zero-config).
//   https     once (next16, else the last version named): skewgate terminating TLS with a test
//             certificate that Chromium trusts by its SPKI hash; pins carry Secure, an old tab
//             is served by A after B's deploy and reloads onto B after A's retire; every
//             response from skewgate came over h2 (Chromium's network log, protocol.mjs).
//             E2E_ONLY=multitab (comma list) runs only the named scenarios.
// Every check asserts on the DOM and saves a screenshot under tests/e2e/results/<version>/.
// Ends with results/summary.md (the table) and a closing line "N passed, N failed".

import fs from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { buildVersion, VERSIONS, variantDir } from './build.mjs';
import { spawnSync } from 'node:child_process';
import { CHROMIUM, CHROMIUM_ARGS, SKEWGATE_BIN, Skewgate, freePort, here, makeTestCertificate, sleep, startNext, stopAllSync, stopProcess, waitFor } from './lib.mjs';
import { ProtocolLog } from './protocol.mjs';

const RESULTS = path.join(here, 'results');
const RUN_TIMEOUT_MS = Number(process.env.E2E_TIMEOUT_MS || 20 * 60_000);
// E2E_ONLY=multitab,skew runs only those scenarios (while working on one; CI runs all).
const ONLY = process.env.E2E_ONLY ? process.env.E2E_ONLY.split(',') : null;
const ERROR_MESSAGE = 'This page is out of date (skewgate e2e). Reload to continue.';

const rows = [];      // every check: the table
const timings = {};   // seconds

function log(...args) {
  console.log(`[e2e ${new Date().toISOString().slice(11, 19)}]`, ...args);
}

// ---------------------------------------------------------------- the browser side

// A tab: a page plus what it saw on the wire. js=false: scripts are off in this tab only
// (the emulation Playwright itself uses for javaScriptEnabled: false), so a no-JS tab can
// share a JS context's cookie jar, as two tabs of one browser do. onPage(page) runs before
// the first navigation (the HTTPS scenario attaches its protocol log there).
async function openTab(context, url, name, { js = true, old = true, onPage = null } = {}) {
  const page = await context.newPage();
  if (onPage) await onPage(page);
  if (!js) await (await context.newCDPSession(page)).send('Emulation.setScriptExecutionDisabled', { value: true });
  const tab = { page, name, js, net: [], errors: [] };
  page.on('response', async (resp) => {
    const req = resp.request();
    const h = resp.headers();
    const rh = req.headers();
    const entry = {
      t: Date.now(), method: req.method(), url: req.url().replace(/^https?:\/\/127\.0\.0\.1:\d+/, ''), status: resp.status(),
      contentType: h['content-type'], xSkewgateReload: h['x-skewgate-reload'], xActionRedirect: h['x-action-redirect'],
      location: h.location, actionNotFound: h['x-nextjs-action-not-found'], respDeploymentId: h['x-nextjs-deployment-id'], reqDeploymentId: rh['x-deployment-id'], nextAction: rh['next-action'], rsc: rh.rsc,
    };
    tab.net.push(entry);
    if (req.method() === 'POST' || resp.status() >= 300 || rh.rsc) {
      try { entry.body = (await resp.text()).slice(0, 300); } catch { /* redirects have no body */ }
    }
  });
  page.on('requestfailed', (req) => tab.net.push({ t: Date.now(), method: req.method(), url: req.url(), failed: req.failure()?.errorText }));
  page.on('pageerror', (e) => tab.errors.push(`pageerror: ${e.message}`));
  page.on('console', (m) => { if (m.type() === 'error') tab.errors.push(`console: ${m.text()}`); });
  await page.goto(url, { waitUntil: 'load', timeout: 30_000 });
  if (js) {
    await page.waitForSelector('html[data-hydrated="1"]', { timeout: 30_000, state: 'attached' });
    if (old) await page.evaluate(() => { window.__e2eOldTab = true; });
  }
  return tab;
}

// What the user sees (read from the DOM).
async function snapshot(tab) {
  if (!tab.js) {
    const text = async (sel) => {
      const loc = tab.page.locator(sel);
      return (await loc.count()) ? (await loc.first().textContent()) : null;
    };
    const body = await tab.page.locator('body').innerText({ timeout: 5000 }).catch(() => ''); // innerText: no inline <script> text
    return {
      oldTab: null, url: new URL(tab.page.url()).pathname + new URL(tab.page.url()).search,
      renderedBy: await text('#rendered-by'), nojsCount: await text('#nojs-count'), secondPage: (await text('#second-page')) !== null,
      errorScreen: errorScreenOf(body ?? ''),
    };
  }
  return tab.page.evaluate(() => {
    const t = (id) => document.getElementById(id)?.textContent ?? null;
    return {
      oldTab: !!window.__e2eOldTab, url: location.pathname + location.search,
      hydrated: document.documentElement.dataset.hydrated === '1', dplAttr: document.documentElement.dataset.dplId ?? null,
      renderedBy: t('rendered-by'), layoutRenderedBy: t('layout-rendered-by'), actionStatus: t('action-status'),
      actionCalls: Number(t('action-calls') ?? 0), actionResult: t('action-result'), actionError: t('action-error'),
      formResult: t('form-result'), boundaryError: t('boundary-error'), nojsCount: t('nojs-count'),
      lazyPanel: t('lazy-panel'), lazyError: t('lazy-error'), secondPage: document.getElementById('second-page') !== null,
      bodyText: (document.body?.innerText ?? '').slice(0, 2000),
    };
  }).then(({ bodyText, ...s }) => ({ ...s, errorScreen: errorScreenOf(bodyText) }));
}

// Next.js's own error screens (not the app's error boundary): the client-exception screen
// and the default 404/500 pages. null when the page shows none of them.
function errorScreenOf(text) {
  for (const marker of ['Application error: a client-side exception has occurred', 'This page could not be found',
    'Internal Server Error', 'Server Action unavailable']) {
    if (text.includes(marker)) return marker;
  }
  return null;
}

// Waits until done(snapshot) holds (a navigation in between is fine), lets the page settle, re-reads it.
// allowTimeout: "nothing happened" is itself the outcome (the silent failure).
async function settle(tab, done, { timeoutMs = 20_000, quietMs = 1500, allowTimeout = false } = {}) {
  try {
    await waitFor(`${tab.name}: an outcome`, async () => {
      try { return done(await snapshot(tab)); } catch { return false; } // mid-navigation
    }, timeoutMs, 150);
  } catch (e) {
    if (!allowTimeout) throw e;
    tab.nothingHappened = timeoutMs;
  }
  await sleep(quietMs);
  await tab.page.waitForLoadState('load', { timeout: 15_000 }).catch(() => {});
  return waitFor(`${tab.name}: a stable page`, async () => {
    const s = await snapshot(tab);
    return s.renderedBy !== null || s.boundaryError !== null || s.errorScreen ? s : null;
  }, 15_000, 150);
}

function describe(s) {
  const parts = [];
  if (s.errorScreen) {
    parts.push(`error screen "${s.errorScreen}" at ${s.url}`);
  } else if (s.boundaryError !== null && s.boundaryError !== undefined) {
    parts.push(`error boundary shows "${s.boundaryError}"`);
  } else {
    parts.push(`${s.secondPage ? 'second page' : 'page'} ${s.url} rendered by ${s.renderedBy ?? '?'}`);
  }
  if (s.oldTab === false && !s.fresh) parts.push('after a full page load');
  if (s.fresh) parts.push('a new tab');
  if (s.oldTab === true) parts.push('same document (no reload)');
  if (s.actionResult) parts.push(`"${s.actionResult}"`);
  if (s.actionStatus === 'resolved-undefined') parts.push('the action promise resolved to undefined, nothing shown');
  if (s.actionError) parts.push(`catch shows "${s.actionError}"`);
  if (s.formResult) parts.push(`"${s.formResult}"`);
  if (s.lazyPanel) parts.push(`"${s.lazyPanel}"`);
  if (s.lazyError) parts.push(`lazy import failed: ${s.lazyError}`);
  if (!s.js && s.nojsCount !== null && s.nojsCount !== undefined) parts.push(`no-JS count on that server ${s.nojsCount}`);
  return parts.join('; ');
}

// The requests a check made (after its click), condensed for the report.
function wire(tab, since, { assets = false } = {}) {
  return tab.net.filter((e) => e.t >= since && (e.method === 'POST' || e.rsc || e.status >= 300 || e.failed ||
    assets && e.url.startsWith('/_next/static/') ||
    /\/_next\/static\/chunks\//.test(e.url) && e.status !== 200 || e.url.split('?')[0] === '/' || e.url.startsWith('/second') ||
    e.url.includes('LazyPanel') || e.url.includes('dpl=')))
    .map((e) => e.failed ? `${e.method} ${e.url} failed ${e.failed}` :
      `${e.method} ${e.url.length > 90 ? `${e.url.slice(0, 90)}…` : e.url}` +
      `${e.nextAction ? ' [next-action]' : ''}${e.rsc ? ' [rsc]' : ''}${e.reqDeploymentId ? ` [x-deployment-id: ${e.reqDeploymentId}]` : ''}` +
      ` -> ${e.status} ${e.contentType ?? ''}${e.xActionRedirect ? ` x-action-redirect: ${e.xActionRedirect}` : ''}` +
      `${e.location ? ` location: ${e.location}` : ''}${e.actionNotFound ? ` x-nextjs-action-not-found: ${e.actionNotFound}` : ''}` +
      `${e.xSkewgateReload ? ` x-skewgate-reload: ${e.xSkewgateReload}` : ''}` +
      `${e.respDeploymentId ? ` x-nextjs-deployment-id: ${e.respDeploymentId}` : ''}` +
      `${e.method === 'POST' && e.body && !/html/.test(e.contentType ?? '') ? ` body: ${JSON.stringify(e.body.slice(0, 120))}` : ''}`);
}

// skewgate's access-log lines of a check, condensed: who the request was routed to and what
// skewgate did (static files only for lazy-chunk checks, where they are the point).
function accessLines(lines, { assets = false } = {}) {
  return lines.filter((l) => l.raw || assets || !(l.path ?? '').startsWith('/_next/static/'))
    .map((l) => l.raw ?? `${l.method} ${l.target.length > 90 ? `${l.target.slice(0, 90)}…` : l.target} kind=${l.kind}` +
      ` client_build=${l.client_build || '-'} build=${l.build || '-'} outcome=${l.outcome}${l.detail ? ` detail=${l.detail}` : ''}` +
      `${l.pin ? ` pin=${l.pin}` : ''}${l.tried?.length ? ` tried=${[].concat(l.tried).join(',')}` : ''} status=${l.status}`);
}

function skewgateSaid(l) {
  return `client_build=${l.client_build || '-'} build=${l.build || '-'} outcome=${l.outcome}${l.detail ? ` detail=${l.detail}` : ''}` +
    `${l.tried?.length ? ` tried=${[].concat(l.tried).join(',')}` : ''} status=${l.status}`;
}

// Screenshot names: <scenario>-<phase>-<kind>.png, e.g. skew-retire-reload-button.png.
function shotName(scenario, phase, kind) {
  const p = phase.includes('error') ? 'retire-error' : phase.includes('reload') ? 'retire-reload'
    : phase.startsWith('deploy') ? 'deploy' : 'stale';
  const k = { 'action (button)': 'button', 'form action': 'form', 'no-JS form': 'nojs', 'Link navigation': 'link',
    'lazy chunk': 'lazy', 'new tab (document)': 'newtab' }[kind] ?? kind.replace(/[^a-z0-9]+/gi, '-').toLowerCase();
  return `${scenario}-${p}-${k}`;
}

// One check: act, wait, read the DOM, screenshot, assert (assert=false: recorded only).
async function check({ version, scenario, phase, kind, tab, act, done, expect, expected, assert = true, settleOpts, sg }) {
  const name = shotName(scenario, phase, kind);
  const screenshot = path.join('results', version, `${name}.png`);
  const row = { version, scenario, phase, kind, expected, assert, screenshot };
  const since = Date.now();
  const mark = sg?.accessMark();
  const assets = kind === 'lazy chunk';
  let s = null;
  try {
    await act(tab.page);
    s = await settle(tab, done, settleOpts);
    s.js = tab.js;
    s.fresh = tab.fresh;
    row.saw = describe(s) + (tab.nothingHappened ? `; nothing changed within ${tab.nothingHappened / 1000} s` : '');
    const problems = expect(s);
    row.ok = problems.length === 0;
    if (!row.ok) row.problems = problems;
  } catch (e) {
    row.ok = false;
    row.problems = [e.message.split('\n')[0]];
    try { s = await snapshot(tab); s.js = tab.js; row.saw = describe(s); } catch { row.saw = '(page unreadable)'; }
  }
  row.snapshot = s;
  row.wire = wire(tab, since, { assets });
  if (sg) {
    await sleep(300); // the workers' access-log flush
    const access = sg.accessSince(mark);
    row.access = accessLines(access, { assets });
    // The table says what answered the POST: status and headers as the browser got them,
    // the build and outcome from skewgate's access log.
    const post = tab.net.find((e) => e.t >= since && e.method === 'POST' && !e.failed);
    const logged = access.find((l) => l.method === 'POST');
    if (post) {
      row.saw += ` [POST answered ${post.status} ${post.contentType ?? ''}` +
        `${post.actionNotFound ? ` x-nextjs-action-not-found: ${post.actionNotFound}` : ''}` +
        `${post.xActionRedirect ? ` x-action-redirect: ${post.xActionRedirect}` : ''}${post.location ? ` location: ${post.location}` : ''}` +
        `${post.xSkewgateReload ? ` x-skewgate-reload: ${post.xSkewgateReload}` : ''}` +
        `${logged ? `; skewgate: ${skewgateSaid(logged)}` : ''}]`;
    }
    // ...and what answered a lazy chunk (the first static file fetched after the click).
    const chunk = assets && access.find((l) => (l.path ?? '').startsWith('/_next/static/'));
    if (chunk) row.saw += ` [chunk ${chunk.path.split('/').pop()}: skewgate: ${skewgateSaid(chunk)}]`;
  }
  row.pageErrors = tab.errors.slice();
  try { await tab.page.screenshot({ path: path.join(here, screenshot), fullPage: true, timeout: 15_000 }); } catch (e) { row.screenshotError = e.message; }
  rows.push(row);
  const verdict = !assert ? (row.ok ? 'info' : 'info (differs)') : row.ok ? 'PASS' : 'FAIL';
  log(`${verdict.padEnd(14)} ${version} ${scenario}/${phase} ${kind}: ${row.saw}${row.problems ? `\n    problems: ${row.problems.join('; ')}` : ''}`);
  if ((!row.ok) && row.wire.length) log(`    wire:\n      ${row.wire.join('\n      ')}`);
  if ((!row.ok || !assert) && row.access?.length) log(`    skewgate access log:\n      ${row.access.join('\n      ')}`);
  if (!row.ok && row.pageErrors.length) log(`    page errors:\n      ${row.pageErrors.slice(0, 5).join('\n      ')}`);
  return row;
}

// Expectation builders: each returns a list of problems.
const want = (s, cond, msg) => (cond ? [] : [`${msg} (saw ${JSON.stringify(s).slice(0, 400)})`]);
const expectServedByA = (field, text) => (s) => [
  ...want(s, s[field] === text, `${field} should be "${text}"`),
  ...want(s, s.renderedBy === 'A', 'the page should still say A'),
  ...want(s, s.oldTab === true, 'the tab should not have reloaded'),
  ...want(s, !s.actionError && s.boundaryError === null, 'no error should show'),
];
const expectReloadedOntoB = (pathWanted) => (s) => [
  ...want(s, s.oldTab === false, 'the page should have been reloaded'),
  ...want(s, s.renderedBy === 'B', 'the reloaded page should be rendered by B'),
  ...want(s, s.url === pathWanted, `the page should be ${pathWanted}`),
  ...want(s, !s.actionError && s.boundaryError === null && !s.lazyError, 'no error should show'),
];

const clickButton = (p) => p.click('#action-button');
const clickForm = (p) => p.click('#form-submit');
const clickLink = (p) => p.click('#link-second');
const clickLazy = (p) => p.click('#lazy-button');
const submitNoJs = async (p) => {
  await p.click('#nojs-submit', { timeout: 15_000 });
  await p.waitForLoadState('load', { timeout: 15_000 });
};

// ---------------------------------------------------------------- scenarios

async function baseline(version, browser, dir) {
  // No skewgate: A on a port, the tab loads it; then "deploy" = stop A, start B on the same port.
  const port = await freePort();
  let server = await startNext({ version, variantDir: variantDir(version, 'dpl-a'), port, logFile: path.join(dir, 'baseline-a.log'), label: 'baseline A' });
  const ctx = await browser.newContext();
  try {
    const url = `http://127.0.0.1:${port}/`;
    const tabs = {};
    for (const k of ['button', 'form', 'link']) tabs[k] = await openTab(ctx, url, `baseline ${k}`);
    await stopProcess(server);
    server = await startNext({ version, variantDir: variantDir(version, 'dpl-b'), port, logFile: path.join(dir, 'baseline-b.log'), label: 'baseline B' });
    const silent = version === 'next15';
    await check({
      version, scenario: 'baseline', phase: 'no skewgate, A replaced by B', kind: 'action (button)', tab: tabs.button,
      act: clickButton, done: (s) => s.actionCalls > 0 || s.oldTab === false, settleOpts: { quietMs: 3000 },
      assert: silent,
      expected: silent ? 'the silent failure: promise resolves to undefined, nothing shown, no error, no reload'
        : 'stock 16.x: the action throws (409 "Server Action unavailable."), no reload',
      expect: (s) => silent ? [
        ...want(s, s.actionStatus === 'resolved-undefined', 'the promise should resolve to undefined'),
        ...want(s, !s.actionError && !s.actionResult, 'nothing should show'),
        ...want(s, s.oldTab === true && s.renderedBy === 'A', 'the page should stay on A without a reload'),
      ] : want(s, s.actionStatus === 'rejected' && s.oldTab === true, 'the catch should get an error'),
    });
    await check({
      version, scenario: 'baseline', phase: 'no skewgate, A replaced by B', kind: 'form action', tab: tabs.form, assert: false,
      act: clickForm, done: (s) => s.formResult || s.boundaryError !== null || s.oldTab === false, settleOpts: { quietMs: 0, timeoutMs: 8000, allowTimeout: true },
      expected: '(recorded only)', expect: () => [],
    });
    await check({
      version, scenario: 'baseline', phase: 'no skewgate, A replaced by B', kind: 'Link navigation', tab: tabs.link, assert: false,
      act: clickLink, done: (s) => s.secondPage, expected: '(recorded only)', expect: () => [],
    });
  } finally {
    await ctx.close();
    await stopProcess(server);
  }
}

// `next start` for A and B of one variant pair, each on a port of its own; stop() stops both by PID.
async function startBuilds(version, dir, variants, name) {
  const ports = {};
  const procs = [];
  const builds = { ports, async stop() { for (const p of procs) await stopProcess(p); } };
  try {
    for (const variant of variants) {
      ports[variant] = await freePort();
      procs.push(await startNext({ version, variantDir: variantDir(version, variant), port: ports[variant],
        logFile: path.join(dir, `next-${name}-${variant}.log`), label: variant }));
    }
  } catch (e) {
    await builds.stop();
    throw e;
  }
  return builds;
}

// A and B of one variant pair (started here, or `builds` shared with another deployment),
// behind a fresh skewgate (its own dir, action_policy reload) with A deployed through the CLI,
// plus a JavaScript and a no-JS browser context. deploy(variant) registers and promotes that
// build with its manifest (manifests: false: without, zero-config); stop() closes and stops
// everything it started, by PID.
async function startDeployment(version, browser, dir, { a: variantA, b: variantB, name, manifests = true, builds: shared = null }) {
  const builds = shared ?? await startBuilds(version, dir, [variantA, variantB], name);
  const { ports } = builds;
  const sgDir = path.join(dir, `skewgate-${name}`);
  fs.rmSync(sgDir, { recursive: true, force: true });
  fs.mkdirSync(sgDir, { recursive: true });
  const sg = new Skewgate({ dir: sgDir, port: await freePort(), adminPort: await freePort(), policy: 'reload', message: ERROR_MESSAGE });
  const manifest = (v) => path.join(variantDir(version, v), '.next/server/server-reference-manifest.json');
  const deployment = {
    sg,
    ctx: await browser.newContext(),
    nojsCtx: await browser.newContext({ javaScriptEnabled: false }),
    deploy: (variant) => sg.deploy(variant, ports[variant], manifests ? manifest(variant) : null),
    async stop() {
      await deployment.ctx.close();
      await deployment.nojsCtx.close();
      await sg.stop();
      if (!shared) await builds.stop();
    },
  };
  try {
    await sg.start();
    deployment.deploy(variantA);
  } catch (e) {
    await deployment.stop();
    throw e;
  }
  return deployment;
}

async function skewScenario(version, browser, dir) {
  const deployment = await startDeployment(version, browser, dir, { a: 'dpl-a', b: 'dpl-b', name: 'skew' });
  const { sg, ctx, nojsCtx } = deployment;
  try {
    // Old tabs: all loaded while A is current.
    const tabs = {};
    for (const k of ['deploy-button', 'deploy-form', 'deploy-link', 'deploy-lazy', 'retire-button', 'retire-form',
      'retire-link', 'error-button', 'error-form']) {
      tabs[k] = await openTab(ctx, `${sg.url}/`, k);
      const s = await snapshot(tabs[k]);
      if (s.renderedBy !== 'A') throw new Error(`tab ${k} loaded before the deploy says ${s.renderedBy}, not A`);
    }
    for (const k of ['deploy-nojs', 'retire-nojs']) {
      tabs[k] = await openTab(nojsCtx, `${sg.url}/`, k, { js: false });
      const s = await snapshot(tabs[k]);
      if (s.renderedBy !== 'A') throw new Error(`no-JS tab ${k} says ${s.renderedBy}, not A`);
    }

    // Deploy B through the control plane: B current, A retained.
    deployment.deploy('dpl-b');
    const fresh = await openTab(ctx, `${sg.url}/`, 'fresh tab after deploy', { old: false });
    fresh.fresh = true;
    await check({
      version, scenario: 'skew', phase: 'deploy (A retained)', kind: 'new tab (document)', tab: fresh,
      act: async () => {}, done: (s) => s.renderedBy, expected: 'a new visitor gets B',
      expect: (s) => want(s, s.renderedBy === 'B', 'a new tab should get B'),
    });
    await fresh.page.close();

    const phase = 'deploy (A retained)';
    await check({
      version, scenario: 'skew', phase, kind: 'action (button)', tab: tabs['deploy-button'], act: clickButton,
      done: (s) => s.oldTab === false || s.actionCalls > 0,
      expected: 'served by A, page still A, no error', expect: expectServedByA('actionResult', 'action served by build A'),
    });
    await check({
      version, scenario: 'skew', phase, kind: 'form action', tab: tabs['deploy-form'], act: clickForm,
      done: (s) => s.oldTab === false || s.formResult || s.boundaryError !== null,
      expected: 'served by A, page still A, no error', expect: expectServedByA('formResult', 'form action served by build A'),
    });
    await check({
      version, scenario: 'skew', phase, kind: 'no-JS form', tab: tabs['deploy-nojs'], act: submitNoJs,
      done: (s) => s.renderedBy, expected: 'the POST is answered by A: the page says A, its no-JS count is 1',
      expect: (s) => [...want(s, s.renderedBy === 'A', 'the page should be rendered by A'),
        ...want(s, s.nojsCount === '1', 'A should have handled one no-JS submission')],
    });
    await check({
      version, scenario: 'skew', phase, kind: 'Link navigation', tab: tabs['deploy-link'], act: clickLink,
      done: (s) => s.secondPage, expected: 'client navigation served by A: second page says A, no reload',
      expect: (s) => [...want(s, s.secondPage && s.renderedBy === 'A', 'the second page should be rendered by A'),
        ...want(s, s.oldTab === true, 'a soft navigation (no reload)')],
    });
    await check({
      version, scenario: 'skew', phase, kind: 'lazy chunk', tab: tabs['deploy-lazy'], act: clickLazy,
      done: (s) => s.lazyPanel || s.lazyError, expected: "A's chunk served: the lazy component says A",
      expect: (s) => [...want(s, s.lazyPanel === 'lazy chunk from build A', 'the lazy component should come from A'),
        ...want(s, !s.lazyError && s.renderedBy === 'A' && s.oldTab === true, 'no error, page still A')],
    });

    // Retire A (kill switch): its clients get reload answers.
    sg.retire('dpl-a');
    const rphase = 'retire (A retired), action_policy reload';
    await check({
      version, scenario: 'skew', phase: rphase, kind: 'action (button)', tab: tabs['retire-button'], act: clickButton,
      done: (s) => s.oldTab === false || s.actionCalls > 0, expected: 'page reloaded onto B, no error',
      expect: expectReloadedOntoB('/'),
    });
    await check({
      version, scenario: 'skew', phase: rphase, kind: 'form action', tab: tabs['retire-form'], act: clickForm,
      done: (s) => s.oldTab === false || s.formResult || s.boundaryError !== null, expected: 'page reloaded onto B, no error',
      expect: expectReloadedOntoB('/'),
    });
    await check({
      version, scenario: 'skew', phase: rphase, kind: 'Link navigation', tab: tabs['retire-link'], act: clickLink,
      done: (s) => s.secondPage, expected: 'full load of /second from B, no error', expect: expectReloadedOntoB('/second'),
    });
    await check({
      version, scenario: 'skew', phase: rphase, kind: 'no-JS form', tab: tabs['retire-nojs'], act: submitNoJs,
      done: (s) => s.renderedBy, expected: "303 to the page: lands on B's page",
      expect: (s) => [...want(s, s.renderedBy === 'B', 'the page should be rendered by B'),
        ...want(s, s.url === '/', 'the page should be /'), ...want(s, s.nojsCount === '0', 'B should not have run the stale action')],
    });

    // action_policy: error (config reload through the CLI).
    await sg.setPolicy('error');
    const ephase = 'retire (A retired), action_policy error';
    await check({
      version, scenario: 'skew', phase: ephase, kind: 'action (button)', tab: tabs['error-button'], act: clickButton,
      done: (s) => s.oldTab === false || s.actionCalls > 0, expected: "the button's catch shows the configured message",
      expect: (s) => [...want(s, s.actionError === ERROR_MESSAGE, 'the catch should show the configured message'),
        ...want(s, s.oldTab === true, 'no reload')],
    });
    await check({
      version, scenario: 'skew', phase: ephase, kind: 'form action', tab: tabs['error-form'], act: clickForm,
      done: (s) => s.oldTab === false || s.formResult || s.boundaryError !== null,
      expected: 'the error boundary shows the configured message',
      expect: (s) => [...want(s, s.boundaryError === ERROR_MESSAGE, 'the error boundary should show the configured message'),
        ...want(s, s.oldTab === true, 'no reload')],
    });
  } finally {
    await deployment.stop();
  }
}

async function nodplScenario(version, browser, dir) {
  const deployment = await startDeployment(version, browser, dir, { a: 'nodpl-a', b: 'nodpl-b', name: 'nodpl' });
  const { sg, ctx, nojsCtx } = deployment;
  try {
    const tabs = {};
    for (const k of ['button', 'form', 'link', 'lazy']) tabs[k] = await openTab(ctx, `${sg.url}/`, `nodpl ${k}`);
    tabs.nojs = await openTab(nojsCtx, `${sg.url}/`, 'nodpl nojs', { js: false });
    for (const [k, t] of Object.entries(tabs)) {
      const s = await snapshot(t);
      if (s.renderedBy !== 'A') throw new Error(`nodpl tab ${k} says ${s.renderedBy}, not A`);
    }
    deployment.deploy('nodpl-b');
    const phase = 'deploy (A retained), no deploymentId';
    await check({
      version, scenario: 'nodpl', phase, kind: 'action (button)', tab: tabs.button, act: clickButton,
      done: (s) => s.oldTab === false || s.actionCalls > 0, expected: 'routed to A by its action manifest: served by A, no error',
      expect: expectServedByA('actionResult', 'action served by build A'),
    });
    await check({
      version, scenario: 'nodpl', phase, kind: 'form action', tab: tabs.form, act: clickForm,
      done: (s) => s.oldTab === false || s.formResult || s.boundaryError !== null,
      expected: 'routed to A by its action manifest: served by A, no error', expect: expectServedByA('formResult', 'form action served by build A'),
    });
    await check({
      version, scenario: 'nodpl', phase, kind: 'no-JS form', tab: tabs.nojs, act: submitNoJs,
      done: (s) => s.renderedBy, expected: 'the POST ($ACTION_ID_ field) routed to A: the page says A',
      expect: (s) => want(s, s.renderedBy === 'A' && s.nojsCount === '1', 'A should have answered the no-JS post'),
    });
    await check({
      version, scenario: 'nodpl', phase, kind: 'Link navigation', tab: tabs.link, act: clickLink, assert: false,
      done: (s) => s.secondPage, expected: '(recorded only: no x-deployment-id; the build comes from the pin cookie if skewgate set one, else current)', expect: () => [],
    });
    await check({
      version, scenario: 'nodpl', phase, kind: 'lazy chunk', tab: tabs.lazy, act: clickLazy, assert: false,
      done: (s) => s.lazyPanel || s.lazyError, settleOpts: { timeoutMs: 15_000 },
      expected: '(recorded only: no dpl; the build comes from the pin cookie if skewgate set one, else current)', expect: () => [],
    });
  } finally {
    await deployment.stop();
  }
}

// The multi-tab scenario (issue 14) on the builds without deploymentId: every tab below lives
// in ONE browser context (one cookie jar, as the tabs of one browser). Old tabs ("tab 1", one
// per interaction so that each starts from A's untouched page) load while A is current; B is
// deployed; tab 2 loads and gets a pin for B, which every old tab now sends too. Nothing the
// old tabs send names their build (no x-deployment-id, no dpl): only the pin (B), the action
// IDs and what the builds answer are left. Run with manifests and without (zero-config),
// each behind its own skewgate, in front of the same two `next start` processes.
async function multiTabScenarios(version, browser, dir) {
  const builds = await startBuilds(version, dir, ['nodpl-a', 'nodpl-b'], 'multitab');
  try {
    for (const manifests of [true, false]) {
      const t0 = Date.now();
      try {
        await multiTabScenario(version, browser, dir, { manifests, builds });
      } catch (e) {
        rows.push({ version, scenario: `multitab (${manifests ? 'manifests' : 'zero-config'})`, phase: '(setup)', kind: '-',
          assert: true, ok: false, saw: e.message, problems: [e.message], screenshot: '-' });
        log(`FAIL ${version} multitab: ${e.stack}`);
      }
      timings[`${version} scenario multitab, ${manifests ? 'manifests' : 'zero-config'}`] = (Date.now() - t0) / 1000;
    }
  } finally {
    await builds.stop();
  }
}

async function multiTabScenario(version, browser, dir, { manifests, builds }) {
  const config = manifests ? 'manifests' : 'zero-config';
  const scenario = `multitab-${manifests ? 'manifests' : 'zeroconfig'}`;
  const deployment = await startDeployment(version, browser, dir, { a: 'nodpl-a', b: 'nodpl-b', name: scenario, manifests, builds });
  const { sg, ctx } = deployment;
  try {
    // The old tabs, opened five at a time (A's no-JS counter is shared by both runs: each
    // no-JS tab remembers the count its page showed).
    const kinds = ['button', 'form', 'nojs', 'link', 'lazy'];
    const tabs = {};
    for (const phase of ['deploy', 'retire']) {
      await Promise.all(kinds.map(async (k) => {
        const t = await openTab(ctx, `${sg.url}/`, `${scenario} ${phase} ${k}`, { js: k !== 'nojs' });
        const s = await snapshot(t);
        if (s.renderedBy !== 'A') throw new Error(`old tab ${phase}-${k} says ${s.renderedBy}, not A`);
        t.nojsCountAtLoad = Number(s.nojsCount);
        tabs[`${phase}-${k}`] = t;
      }));
    }
    // The no-JS tabs really run no script (React never hydrated them).
    for (const phase of ['deploy', 'retire']) {
      const hydrated = await tabs[`${phase}-nojs`].page.evaluate(() => document.documentElement.dataset.hydrated ?? null);
      if (hydrated !== null) throw new Error(`the no-JS tab ${phase}-nojs hydrated: scripts were not off`);
    }
    const pinOf = async () => (await ctx.cookies(sg.url)).find((c) => c.name === 'skewgate_pin')?.value ?? null;
    const pinA = await pinOf();

    deployment.deploy('nodpl-b');
    const tab2 = await openTab(ctx, `${sg.url}/`, `${scenario} tab 2`, { old: false });
    tab2.fresh = true;
    const pinB = await pinOf();
    const phase = `deploy (A retained), ${config}, tab 2 pinned B`;
    await check({
      version, scenario, phase, kind: 'new tab (document)', tab: tab2, sg, act: async () => {}, done: (s) => s.renderedBy,
      expected: 'tab 2 gets B and a new pin (the jar now pins every tab to B)',
      expect: (s) => [...want(s, s.renderedBy === 'B', 'tab 2 should get B'),
        ...want(s, pinA && pinB && pinA !== pinB, `tab 2's document should replace the jar's pin (before: ${pinA ? 'set' : 'none'}, after: ${pinB === pinA ? 'unchanged' : pinB ? 'new' : 'none'})`)],
    });
    await tab2.page.close();

    // Without manifests, skewgate learns that B lacks a no-JS post's action only from B's answer:
    // 16.4 says so (409 x-nextjs-action-not-found: 1), 15.1 answers 500 text/html (measured).
    const nojsKnowable = manifests || version !== 'next15';
    const noError = (s) => want(s, !s.actionError && s.boundaryError === null && !s.errorScreen && !s.lazyError, 'no error should show');
    const endsOnSecond = (s) => [...want(s, s.secondPage && s.url === '/second', 'the tab should end on /second'), ...noError(s)];
    const doneLink = (s) => s.secondPage || s.errorScreen || s.boundaryError !== null;
    const doneLazy = (s) => s.lazyPanel || s.lazyError || s.errorScreen || s.oldTab === false;
    const doneAction = (field) => (s) => s.oldTab === false || s[field] || s.actionCalls > 0 || s.boundaryError !== null || s.errorScreen;

    await check({
      version, scenario, phase, kind: 'action (button)', tab: tabs['deploy-button'], sg, act: clickButton, done: doneAction('actionResult'),
      expected: manifests ? 'served by A (its manifest has the action ID, B\'s lacks it: the ID beats pin B)'
        : 'served by A (B answers not-found, skewgate replays on A)',
      expect: expectServedByA('actionResult', 'action served by build A'),
    });
    await check({
      version, scenario, phase, kind: 'form action', tab: tabs['deploy-form'], sg, act: clickForm, done: doneAction('formResult'),
      expected: manifests ? 'served by A (the ID beats pin B)' : 'served by A (replayed after B\'s not-found)',
      expect: expectServedByA('formResult', 'form action served by build A'),
    });
    await check({
      version, scenario, phase, kind: 'no-JS form', tab: tabs['deploy-nojs'], sg, act: submitNoJs, done: (s) => s.renderedBy || s.errorScreen,
      assert: nojsKnowable,
      expected: manifests ? "the $ACTION_ID_ post routed to A by its manifest: the page says A, A's no-JS count +1"
        : nojsKnowable ? "B answers 409 x-nextjs-action-not-found: 1, skewgate replays on A: the page says A, A's no-JS count +1"
          : '(recorded: 15.1 B answers an unknown $ACTION_ID_ with 500 text/html, no not-found signal: skewgate cannot replay)',
      expect: (s) => [...want(s, s.renderedBy === 'A', 'the page should be rendered by A'),
        ...want(s, Number(s.nojsCount) === tabs['deploy-nojs'].nojsCountAtLoad + 1, 'A should have handled one more no-JS submission'),
        ...want(s, !s.errorScreen, 'no error screen')],
    });
    await check({
      version, scenario, phase, kind: 'Link navigation', tab: tabs['deploy-link'], sg, act: clickLink, done: doneLink,
      expected: 'the RSC request names no build; pin B sends it to B: ends on /second (a hard navigation onto B is fine), no error, no hang',
      expect: endsOnSecond,
    });
    await check({
      version, scenario, phase, kind: 'lazy chunk', tab: tabs['deploy-lazy'], sg, act: clickLazy, done: doneLazy,
      settleOpts: { timeoutMs: 15_000 },
      expected: "A's chunk served (pin B sends it to current B, which 404s; the fallback tries A): the lazy component says A",
      expect: (s) => [...want(s, s.lazyPanel === 'lazy chunk from build A', 'the lazy component should come from A'),
        ...want(s, s.renderedBy === 'A' && s.oldTab === true, 'page still A, no reload'), ...noError(s)],
    });

    sg.retire('nodpl-a');
    const rphase = `retire (A retired), ${config}, action_policy reload`;
    await check({
      version, scenario, phase: rphase, kind: 'action (button)', tab: tabs['retire-button'], sg, act: clickButton, done: doneAction('actionResult'),
      expected: 'reload answer: the page reloads onto B, no error', expect: expectReloadedOntoB('/'),
    });
    await check({
      version, scenario, phase: rphase, kind: 'form action', tab: tabs['retire-form'], sg, act: clickForm, done: doneAction('formResult'),
      expected: 'reload answer: the page reloads onto B, no error', expect: expectReloadedOntoB('/'),
    });
    await check({
      version, scenario, phase: rphase, kind: 'no-JS form', tab: tabs['retire-nojs'], sg, act: submitNoJs, done: (s) => s.renderedBy || s.errorScreen,
      assert: nojsKnowable,
      expected: nojsKnowable ? "reload answer (303 to /): lands on B's page /, no error screen"
        : "(recorded: B's 500 page passes through, see the deploy phase)",
      expect: (s) => [...want(s, s.renderedBy === 'B' && s.url === '/', "the tab should land on B's /"), ...want(s, !s.errorScreen, 'no error screen')],
    });
    await check({
      version, scenario, phase: rphase, kind: 'Link navigation', tab: tabs['retire-link'], sg, act: clickLink, done: doneLink,
      expected: 'ends on /second rendered by B, no error, no hang',
      expect: (s) => [...endsOnSecond(s), ...want(s, s.renderedBy === 'B', '/second should be rendered by B')],
    });
    await check({
      version, scenario, phase: rphase, kind: 'lazy chunk', tab: tabs['retire-lazy'], sg, done: doneLazy,
      // The deploy phase's tab put A's chunk in this context's HTTP cache (one browser): this
      // tab skips that cache, as a browser that never loaded the chunk before A was retired.
      act: async (p) => {
        const cdp = await ctx.newCDPSession(p);
        await cdp.send('Network.enable');
        await cdp.send('Network.setCacheDisabled', { cacheDisabled: true });
        await clickLazy(p);
      },
      settleOpts: { timeoutMs: 15_000 }, assert: false,
      expected: "(recorded: A's chunk exists on no kept build; the app's import() catch decides)",
      expect: () => [],
    });
  } finally {
    await deployment.stop();
  }
}

// The HTTPS scenario (issue 16): skewgate terminates TLS (a test CA's certificate for
// 127.0.0.1) in front of dpl-a and dpl-b; its own Chromium trusts that certificate through
// --ignore-certificate-errors-spki-list (the leaf's SPKI hash), so nothing else is relaxed.
// Asserted: the page is served over TLS; the pin's Set-Cookie header carries Secure and the
// jar holds it as secure; the skew scenario's stale-tab steps hold over HTTPS: after B's
// deploy a new tab gets B and an old tab's action and <Link> (an RSC request) are served by A;
// after A's retire another old tab's action reloads the page onto B, with no error.
// Issue 18: the listener offers h2 by ALPN, and every response Chromium got from skewgate in
// this scenario (documents, server actions, RSC requests, assets) must have come over h2, as
// Chromium's own network log says (protocol.mjs); the log line counts them.
async function httpsScenario(version, _browser, dir) {
  const t0 = Date.now();
  const cert = makeTestCertificate(path.join(dir, 'tls'));
  // A binary from before TLS termination refuses the listener with its own words: recorded,
  // not failed (any other refusal fails at start).
  const checkDir = path.join(dir, 'skewgate-https-check');
  fs.rmSync(checkDir, { recursive: true, force: true });
  fs.mkdirSync(checkDir, { recursive: true });
  const probe = new Skewgate({ dir: checkDir, port: 1, adminPort: 2, message: ERROR_MESSAGE, tls: { cert: cert.chain, key: cert.key } });
  const checked = spawnSync(SKEWGATE_BIN, ['--check', '-c', probe.configPath], { encoding: 'utf8', timeout: 30_000 });
  if (checked.status !== 0 && `${checked.stdout}${checked.stderr}`.includes('TLS termination is not available')) {
    const said = `${checked.stdout}${checked.stderr}`.trim().slice(0, 200);
    rows.push({ version, scenario: 'https', phase: '(setup)', kind: '-', assert: false, ok: false, screenshot: '-',
      expected: '(skipped: this skewgate has no TLS termination)', saw: said });
    log(`SKIPPED        ${version} https: this skewgate has no TLS termination: ${said}`);
    return;
  }
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, timeout: 60_000,
    args: [...CHROMIUM_ARGS, `--ignore-certificate-errors-spki-list=${cert.spki}`] });
  const builds = await startBuilds(version, dir, ['dpl-a', 'dpl-b'], 'https');
  const sgDir = path.join(dir, 'skewgate-https');
  fs.rmSync(sgDir, { recursive: true, force: true });
  fs.mkdirSync(sgDir, { recursive: true });
  const sg = new Skewgate({ dir: sgDir, port: await freePort(), adminPort: await freePort(), policy: 'reload',
    message: ERROR_MESSAGE, tls: { cert: cert.chain, key: cert.key } });
  const ctx = await browser.newContext();
  const protocols = new ProtocolLog(sg.url);
  const onPage = (page) => protocols.attach(ctx, page);
  // Every Set-Cookie of skewgate's pin the browser received (allHeaders: set-cookie included).
  const pinHeaders = [];
  ctx.on('response', async (resp) => {
    try {
      const setCookie = await resp.headerValue('set-cookie');
      if (setCookie) for (const c of setCookie.split('\n')) if (c.startsWith('skewgate_pin=')) pinHeaders.push(c);
    } catch { /* page closed */ }
  });
  const scenario = 'https';
  try {
    await sg.start();
    sg.deploy('dpl-a', builds.ports['dpl-a']);
    timings[`${version} https setup (certificate, browser, builds, skewgate)`] = (Date.now() - t0) / 1000;
    const tabs = {};
    for (const k of ['deploy-button', 'deploy-link', 'retire-button']) {
      tabs[k] = await openTab(ctx, `${sg.url}/`, `https ${k}`, { onPage });
      const s = await snapshot(tabs[k]);
      if (s.renderedBy !== 'A') throw new Error(`https tab ${k} says ${s.renderedBy}, not A`);
    }
    const pinCookie = (await ctx.cookies(sg.url)).find((c) => c.name === 'skewgate_pin');
    const protocol = await tabs['deploy-button'].page.evaluate(() => location.protocol);
    const tlsRow = {
      version, scenario, phase: 'A current, over TLS', kind: 'pin cookie', assert: true, screenshot: '-',
      expected: 'the page is https:, the pin\'s Set-Cookie has Secure, the jar\'s pin is secure',
      saw: `location.protocol ${protocol}; Set-Cookie ${pinHeaders.length ? JSON.stringify(pinHeaders[0].replace(/=[^;]*/, '=…')) : '(none seen)'}; ` +
        `jar: ${pinCookie ? `skewgate_pin secure=${pinCookie.secure} httpOnly=${pinCookie.httpOnly} sameSite=${pinCookie.sameSite}` : 'no skewgate_pin'}`,
    };
    const problems = [];
    if (protocol !== 'https:') problems.push(`the page is ${protocol}, not https:`);
    if (!pinHeaders.length) problems.push('no Set-Cookie for skewgate_pin was seen');
    else if (!pinHeaders.every((h) => /;\s*secure\s*(;|$)/i.test(h))) problems.push(`a pin Set-Cookie lacks Secure: ${pinHeaders.find((h) => !/;\s*secure\s*(;|$)/i.test(h))}`);
    if (!pinCookie?.secure) problems.push('the jar\'s skewgate_pin is not secure');
    tlsRow.ok = problems.length === 0;
    if (!tlsRow.ok) tlsRow.problems = problems;
    rows.push(tlsRow);
    log(`${(tlsRow.ok ? 'PASS' : 'FAIL').padEnd(14)} ${version} https/${tlsRow.phase} pin cookie: ${tlsRow.saw}${tlsRow.ok ? '' : `\n    problems: ${problems.join('; ')}`}`);

    sg.deploy('dpl-b', builds.ports['dpl-b']);
    const fresh = await openTab(ctx, `${sg.url}/`, 'https fresh tab after deploy', { old: false, onPage });
    fresh.fresh = true;
    await check({
      version, scenario, phase: 'deploy (A retained), over TLS', kind: 'new tab (document)', tab: fresh, sg,
      act: async () => {}, done: (s) => s.renderedBy, expected: 'a new visitor gets B',
      expect: (s) => want(s, s.renderedBy === 'B', 'a new tab should get B'),
    });
    await fresh.page.close();
    await check({
      version, scenario, phase: 'deploy (A retained), over TLS', kind: 'action (button)', tab: tabs['deploy-button'], sg,
      act: clickButton, done: (s) => s.oldTab === false || s.actionCalls > 0,
      expected: 'served by A, page still A, no error', expect: expectServedByA('actionResult', 'action served by build A'),
    });
    await check({
      version, scenario, phase: 'deploy (A retained), over TLS', kind: 'Link navigation', tab: tabs['deploy-link'], sg,
      act: clickLink, done: (s) => s.secondPage, expected: 'client navigation (RSC request) served by A: second page says A, no reload',
      expect: (s) => [...want(s, s.secondPage && s.renderedBy === 'A', 'the second page should be rendered by A'),
        ...want(s, s.oldTab === true, 'a soft navigation (no reload)')],
    });
    sg.retire('dpl-a');
    await check({
      version, scenario, phase: 'retire (A retired), over TLS, action_policy reload', kind: 'action (button)', tab: tabs['retire-button'], sg,
      act: clickButton, done: (s) => s.oldTab === false || s.actionCalls > 0, expected: 'page reloaded onto B over https, no error',
      expect: (s) => [...expectReloadedOntoB('/')(s)],
    });
    // Every pin skewgate set over TLS, including the reloaded tab's new one, carried Secure.
    const insecure = pinHeaders.filter((h) => !/;\s*secure\s*(;|$)/i.test(h));
    if (insecure.length) {
      rows.push({ version, scenario, phase: 'whole scenario', kind: 'pin cookie', assert: true, ok: false, screenshot: '-',
        expected: 'every pin Set-Cookie over TLS has Secure', saw: insecure.join(' | '), problems: ['a pin without Secure'] });
    }
    // Every response from skewgate in this scenario came over h2 (ALPN), as Chromium logged it.
    const h2Problems = protocols.problems();
    const c = protocols.counts();
    if (!c.byKind.rsc?.total) h2Problems.push('no RSC response was seen (the <Link> navigation makes one)');
    const h2Row = { version, scenario, phase: 'whole scenario, over TLS', kind: 'protocol', assert: true, screenshot: '-',
      expected: 'every response from skewgate (documents, actions, RSC, assets) over h2', saw: protocols.summary(),
      ok: h2Problems.length === 0, ...(h2Problems.length ? { problems: h2Problems } : {}) };
    rows.push(h2Row);
    log(`${(h2Row.ok ? 'PASS' : 'FAIL').padEnd(14)} ${version} https/${h2Row.phase} ${protocols.summary()}` +
      `${h2Row.ok ? '' : `\n    problems: ${h2Problems.join('; ')}`}`);
  } finally {
    await ctx.close();
    await browser.close();
    await sg.stop();
    await builds.stop();
  }
}

// ---------------------------------------------------------------- report

function writeSummary() {
  const esc = (t) => String(t ?? '').replace(/\|/g, '\\|').replace(/\n/g, ' ');
  const lines = ['# skewgate e2e results', '', `Run ${new Date().toISOString()}.`, '',
    '| Next.js | scenario / phase | request kind | what the user saw | expected | verdict | screenshot |',
    '|---|---|---|---|---|---|---|'];
  for (const r of rows) {
    const verdict = r.assert ? (r.ok ? 'pass' : `**FAIL**: ${esc(r.problems?.join('; '))}`) : 'recorded';
    lines.push(`| ${r.version} | ${r.scenario} / ${r.phase} | ${r.kind} | ${esc(r.saw)} | ${esc(r.expected)} | ${verdict} | ${r.screenshot.replace(/^results\//, '')} |`);
  }
  lines.push('', '## Timings (s)', '', '| step | seconds |', '|---|---|');
  for (const [k, v] of Object.entries(timings)) lines.push(`| ${k} | ${v.toFixed(1)} |`);
  lines.push('', '## Wire (requests each check made)', '');
  for (const r of rows) {
    lines.push(`- ${r.version} ${r.scenario} / ${r.phase} / ${r.kind}:`);
    for (const w of r.wire ?? []) lines.push(`  - \`${w}\``);
    for (const a of r.access ?? []) lines.push(`  - skewgate: \`${a}\``);
  }
  fs.writeFileSync(path.join(RESULTS, 'summary.md'), `${lines.join('\n')}\n`);
  fs.writeFileSync(path.join(RESULTS, 'results.json'), JSON.stringify({ rows, timings }, null, 2));
}

async function main() {
  const versions = process.argv.slice(2).length ? process.argv.slice(2) : VERSIONS;
  for (const v of versions) if (!VERSIONS.includes(v)) throw new Error(`unknown version ${v} (known: ${VERSIONS.join(', ')})`);
  fs.rmSync(RESULTS, { recursive: true, force: true });
  const started = Date.now();
  for (const v of versions) {
    const t0 = Date.now();
    buildVersion(v, timings);
    timings[`${v} install + builds (total)`] = (Date.now() - t0) / 1000;
  }
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS, timeout: 60_000 });
  // The HTTPS scenario runs once, on next16 when it is among the versions.
  const httpsVersion = versions.includes('next16') ? 'next16' : versions[versions.length - 1];
  try {
    for (const v of versions) {
      const dir = path.join(RESULTS, v);
      fs.mkdirSync(dir, { recursive: true });
      for (const [name, fn] of [['baseline', baseline], ['skew', skewScenario], ['nodpl', nodplScenario],
        ['multitab', multiTabScenarios], ['https', httpsScenario]]) {
        if (ONLY && !ONLY.includes(name)) continue;
        if (name === 'https' && v !== httpsVersion) continue;
        const t0 = Date.now();
        log(`${v}: scenario ${name}`);
        try {
          await fn(v, browser, dir);
        } catch (e) {
          rows.push({ version: v, scenario: name, phase: '(setup)', kind: '-', assert: true, ok: false, saw: e.message, problems: [e.message], screenshot: '-' });
          log(`FAIL ${v} ${name}: ${e.stack}`);
        }
        timings[`${v} scenario ${name}`] = (Date.now() - t0) / 1000;
      }
    }
  } finally {
    await browser.close();
  }
  timings['whole run'] = (Date.now() - started) / 1000;
  writeSummary();
  const asserted = rows.filter((r) => r.assert);
  const passed = asserted.filter((r) => r.ok).length;
  const failed = asserted.length - passed;
  log(`summary: results/summary.md; timings: ${Object.entries(timings).map(([k, s]) => `${k} ${s.toFixed(0)}s`).join(', ')}`);
  console.log(`${passed} passed, ${failed} failed`);
  return failed === 0 && asserted.length > 0 ? 0 : 1;
}

const watchdog = setTimeout(() => {
  console.error(`e2e: the run exceeded ${RUN_TIMEOUT_MS / 1000} s; stopping every process it started`);
  stopAllSync();
  process.exit(2);
}, RUN_TIMEOUT_MS);
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => { stopAllSync(); process.exit(130); });
main().then((code) => {
  clearTimeout(watchdog);
  stopAllSync();
  process.exit(code);
}, (e) => {
  console.error(e.stack || e);
  stopAllSync();
  process.exit(1);
});
