// skewgate end-to-end suite for @lazarv/react-server: the test app built twice (A, B) from one
// directory, each build served by `react-server start`, behind skewgate, in Debian's Chromium.
//
//   node tests/e2e/react-server/run.mjs
//
// Scenarios (every check asserts on the DOM, keeps the requests it made and skewgate's access
// log lines, and saves results/react-server/<scenario>-<phase>-<kind>.png):
//   baseline  no skewgate: a tab on A, A replaced by B on the same port, the tab's interactions
//             (the button must show the framework's "Server Function Not Found" screen: the bug);
//   skew      skewgate (registry: api, framework auto): deploy A, open old tabs (pin A), deploy B
//             (deploy phase: A retained), retire A (reload policy), then action_policy error;
//   multitab  every tab in one cookie jar: old tabs on A, tab 2 loads B (pin B for all tabs),
//             then the old tabs' calls (only their function ids and the answers name a build).
// Builds are deployed with `--functions-from <outDir>` when the CLI has that flag.
// Ends with results/react-server/summary.md and "react-server: N passed, N failed".

import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { APP_DIR, VARIANTS, buildReactServer, outDir, reactServerBin, serverReferenceIds } from './build.mjs';
import { CHROMIUM, CHROMIUM_ARGS, SKEWGATE_BIN, Skewgate, freePort, sleep, startProcess, stopAllSync, stopProcess, waitFor } from '../lib.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const RESULTS = path.join(here, '..', 'results', 'react-server');
const RUN_TIMEOUT_MS = Number(process.env.E2E_RS_TIMEOUT_MS || 10 * 60_000);
const ONLY = process.env.E2E_ONLY ? process.env.E2E_ONLY.split(',') : null;
const ERROR_MESSAGE = 'This page is out of date (skewgate e2e). Reload to continue.';
const CLICK_MS = 10_000;

const rows = [];
const timings = {};
const notes = [];

function log(...args) {
  console.log(`[e2e-rs ${new Date().toISOString().slice(11, 19)}]`, ...args);
}

// ---------------------------------------------------------------- processes

async function httpGet(url, timeoutMs = 2000) {
  const ctl = new AbortController();
  const t = setTimeout(() => ctl.abort(), timeoutMs);
  try {
    const r = await fetch(url, { signal: ctl.signal, redirect: 'manual' });
    return { status: r.status, body: await r.text(), headers: r.headers };
  } finally {
    clearTimeout(t);
  }
}

// One build served by `react-server start` on 127.0.0.1:port (its cwd is the app directory:
// the outDir is relative to it). Ready when /second answers 200.
async function startReactServer({ variant, port, logFile }) {
  const env = { ...process.env, NODE_ENV: 'production', NO_COLOR: '1' };
  const entry = startProcess(`react-server ${variant}`, process.execPath,
    [reactServerBin(), 'start', '--outDir', VARIANTS[variant], '--host', '127.0.0.1', '--port', String(port)],
    { cwd: APP_DIR, env, logFile });
  entry.port = port;
  await waitFor(`react-server start (${variant}) on port ${port}`, async () => {
    if (entry.exited) throw new Error(`react-server start exited with ${entry.code}; see ${logFile}`);
    return (await httpGet(`http://127.0.0.1:${port}/second`)).status === 200;
  }, 60_000, 200);
  return entry;
}

// Whether this skewgate's CLI knows `deploy --functions-from` (the i15-functions flag).
function cliHasFunctionsFrom() {
  const r = spawnSync(SKEWGATE_BIN, ['deploy', '--help'], { encoding: 'utf8', timeout: 10_000 });
  return `${r.stdout}${r.stderr}`.includes('--functions-from');
}

// ---------------------------------------------------------------- the browser side

async function openTab(context, url, name, { js = true, old = true } = {}) {
  const page = await context.newPage();
  if (!js) await (await context.newCDPSession(page)).send('Emulation.setScriptExecutionDisabled', { value: true });
  const tab = { page, name, js, net: [], errors: [] };
  page.on('response', async (resp) => {
    const req = resp.request();
    const h = resp.headers();
    const rh = req.headers();
    const entry = {
      t: Date.now(), method: req.method(), url: req.url().replace(/^http:\/\/127\.0\.0\.1:\d+/, ''), status: resp.status(),
      contentType: h['content-type'], rsData: h['react-server-data'], rsRender: h['react-server-render'],
      xSkewgateReload: h['x-skewgate-reload'], location: h.location, cacheControl: h['cache-control'],
      rsAction: rh['react-server-action'], reqContentType: rh['content-type'],
    };
    tab.net.push(entry);
    if (req.method() === 'POST' || /x-component|javascript/.test(entry.contentType ?? '') && entry.url.startsWith('/__skewgate')) {
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
  tab.atLoad = await snapshot(tab);
  return tab;
}

// The framework's own error screen (GlobalError), not the app's boundary.
function errorScreenOf(text, title) {
  for (const marker of ['Server Function Not Found', 'Global Error', 'Internal Server Error', 'Not Found']) {
    if (text.includes(marker) || (title ?? '').includes(marker)) return marker;
  }
  return null;
}

async function snapshot(tab) {
  if (!tab.js) {
    const text = async (sel) => {
      const loc = tab.page.locator(sel);
      return (await loc.count()) ? (await loc.first().textContent()) : null;
    };
    const body = await tab.page.locator('body').innerText({ timeout: 5000 }).catch(() => '');
    const u = new URL(tab.page.url());
    return {
      oldTab: null, url: u.pathname + u.search, renderedBy: await text('#rendered-by'), nojsCount: await text('#nojs-count'),
      secondPage: (await text('#second-page')) !== null, errorScreen: errorScreenOf(body ?? '', await tab.page.title().catch(() => '')),
    };
  }
  return tab.page.evaluate(() => {
    const t = (id) => document.getElementById(id)?.textContent ?? null;
    return {
      oldTab: !!window.__e2eOldTab, url: location.pathname + location.search, title: document.title,
      hydrated: document.documentElement.dataset.hydrated === '1', renderedBy: t('rendered-by'),
      actionStatus: t('action-status'), actionCalls: Number(t('action-calls') ?? 0), actionResult: t('action-result') || null,
      actionError: t('action-error') || null, keptStatus: t('kept-status'), keptCalls: Number(t('kept-calls') ?? 0),
      keptResult: t('kept-result') || null, keptError: t('kept-error') || null,
      jsformCount: t('jsform-count'), formResult: t('form-result') || null, hformResult: t('hform-result') || null,
      boundaryError: t('boundary-error'), nojsCount: t('nojs-count'), secondPage: document.getElementById('second-page') !== null,
      globalError: document.querySelector('.react-server-global-error') !== null,
      bodyText: (document.body?.innerText ?? '').slice(0, 2000),
    };
  }).then(({ bodyText, title, ...s }) => ({ ...s, errorScreen: errorScreenOf(bodyText, title) ?? (s.globalError ? 'GlobalError' : null) }));
}

// Waits until done(snapshot) holds (navigations in between are fine), lets the page settle,
// re-reads it. A check that never reaches an outcome fails with "no outcome within N s".
async function settle(tab, done, { timeoutMs = 15_000, quietMs = 1200, allowTimeout = false } = {}) {
  try {
    await waitFor(`${tab.name}: an outcome (a hang?)`, async () => {
      try { return done(await snapshot(tab)); } catch { return false; }
    }, timeoutMs, 150);
  } catch (e) {
    if (!allowTimeout) throw e;
    tab.nothingHappened = timeoutMs;
  }
  await sleep(quietMs);
  await tab.page.waitForLoadState('load', { timeout: 10_000 }).catch(() => {});
  return waitFor(`${tab.name}: a readable page`, async () => {
    const s = await snapshot(tab);
    return s.renderedBy !== null || s.boundaryError !== null || s.errorScreen ? s : null;
  }, 10_000, 150);
}

function describe(s) {
  const parts = [];
  if (s.errorScreen) parts.push(`framework error screen "${s.errorScreen}" at ${s.url}`);
  else if (s.boundaryError !== null && s.boundaryError !== undefined) parts.push(`error boundary shows "${s.boundaryError}"`);
  else parts.push(`${s.secondPage ? 'second page' : 'page'} ${s.url} rendered by ${s.renderedBy ?? '?'}`);
  if (s.oldTab === false && !s.fresh) parts.push('after a full page load');
  if (s.fresh) parts.push('a new tab');
  if (s.oldTab === true) parts.push('same document (no reload)');
  if (s.actionResult) parts.push(`"${s.actionResult}"`);
  if (s.actionError) parts.push(`catch shows "${s.actionError}"`);
  if (s.keptResult) parts.push(`"${s.keptResult}"`);
  if (s.keptError) parts.push(`kept catch shows "${s.keptError}"`);
  if (s.formResult) parts.push(`"${s.formResult}" (JS form count ${s.jsformCount})`);
  if (s.hformResult) parts.push(`"${s.hformResult}"`);
  if (!s.js && s.nojsCount !== null && s.nojsCount !== undefined) parts.push(`no-JS count on that server ${s.nojsCount}`);
  return parts.join('; ');
}

function wire(tab, since) {
  return tab.net.filter((e) => e.t >= since && (e.method === 'POST' || e.status >= 300 || e.failed ||
    e.url.includes('x-component') || e.url.startsWith('/__skewgate') || ['/', '/second'].includes(e.url.split('?')[0])))
    .map((e) => e.failed ? `${e.method} ${e.url} failed ${e.failed}` :
      `${e.method} ${e.url}${e.rsAction ? ` [react-server-action: ${decodeURIComponent(e.rsAction).replace(/^.*\//, '…/')}]` : ''}` +
      `${e.method === 'POST' && e.reqContentType ? ` [${e.reqContentType.split(';')[0]}]` : ''}` +
      ` -> ${e.status} ${e.contentType ?? ''}${e.rsData ? ` react-server-data: ${e.rsData}` : ''}` +
      `${e.rsRender ? ` react-server-render: ${e.rsRender}` : ''}${e.location ? ` location: ${e.location}` : ''}` +
      `${e.xSkewgateReload ? ` x-skewgate-reload: ${e.xSkewgateReload}` : ''}` +
      `${e.body && !/html/.test(e.contentType ?? '') ? ` body: ${JSON.stringify(e.body.slice(0, 140))}` : ''}`);
}

function accessLines(lines) {
  return lines.filter((l) => l.raw || !/^\/(client|assets)\//.test(l.path ?? ''))
    .map((l) => l.raw ?? `${l.method} ${(l.target ?? '').slice(0, 90)} kind=${l.kind}` +
      ` client_build=${l.client_build || '-'} build=${l.build || '-'} outcome=${l.outcome}${l.detail ? ` detail=${l.detail}` : ''}` +
      `${l.pin ? ` pin=${l.pin}` : ''}${l.framework ? ` framework=${l.framework}` : ''}${l.tried?.length ? ` tried=${[].concat(l.tried).join(',')}` : ''} status=${l.status}`);
}

const KIND_SHOT = { 'button (try/catch)': 'button', 'JS form': 'jsform', 'hydrated form': 'hform', 'no-JS form': 'nojs',
  navigation: 'nav', 'kept function': 'kept', 'new tab (document)': 'newtab' };

async function check({ scenario, phase, shot, kind, tab, act, done, expect, expected, assert = true, settleOpts, sg }) {
  const screenshot = path.join('results', 'react-server', `${scenario}-${shot}-${KIND_SHOT[kind] ?? kind.replace(/\W+/g, '-')}.png`);
  const row = { scenario, phase, kind, expected, assert, screenshot };
  const since = Date.now();
  const mark = sg?.accessMark();
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
  row.wire = wire(tab, since);
  const post = tab.net.find((e) => e.t >= since && e.method === 'POST' && !e.failed);
  if (post) {
    row.saw += ` [POST answered ${post.status} ${post.contentType ?? ''}${post.rsData ? ` react-server-data: ${post.rsData}` : ''}` +
      `${post.location ? ` location: ${post.location}` : ''}${post.xSkewgateReload ? ` x-skewgate-reload: ${post.xSkewgateReload}` : ''}`;
  }
  if (sg) {
    await sleep(300); // the workers' access-log flush
    const access = sg.accessSince(mark);
    row.access = accessLines(access);
    const logged = access.find((l) => l.method === 'POST');
    if (post && logged) row.saw += `; skewgate: build=${logged.build || '-'} outcome=${logged.outcome}${logged.detail ? ` detail=${logged.detail}` : ''}`;
  }
  if (post) row.saw += ']';
  row.pageErrors = tab.errors.slice();
  try { await tab.page.screenshot({ path: path.join(here, '..', screenshot), fullPage: true, timeout: 10_000 }); } catch (e) { row.screenshotError = e.message; }
  rows.push(row);
  const verdict = !assert ? 'info' : row.ok ? 'PASS' : 'FAIL';
  log(`${verdict.padEnd(5)} ${scenario}/${phase} ${kind}: ${row.saw}${row.problems ? `\n    problems: ${row.problems.join('; ')}` : ''}`);
  if ((!row.ok || !assert) && row.wire.length) log(`    wire:\n      ${row.wire.join('\n      ')}`);
  if ((!row.ok || !assert) && row.access?.length) log(`    skewgate access log:\n      ${row.access.join('\n      ')}`);
  if (!row.ok && row.pageErrors.length) log(`    page errors:\n      ${row.pageErrors.slice(0, 5).join('\n      ')}`);
  return row;
}

// ---------------------------------------------------------------- interactions

const click = (sel) => (p) => p.click(sel, { timeout: CLICK_MS });
const I = {
  button: { kind: 'button (try/catch)', act: click('#action-button'), done: (s) => s.oldTab === false || s.errorScreen || ['resolved', 'rejected', 'resolved-undefined'].includes(s.actionStatus) },
  jsform: { kind: 'JS form', act: click('#form-submit'), done: (s) => s.oldTab === false || s.errorScreen || s.formResult || s.boundaryError !== null },
  hform: { kind: 'hydrated form', act: click('#hform-submit'), done: (s) => s.oldTab === false || s.errorScreen || s.hformResult || s.boundaryError !== null },
  kept: { kind: 'kept function', act: click('#kept-button'), done: (s) => s.oldTab === false || s.errorScreen || ['resolved', 'rejected'].includes(s.keptStatus) },
  nav: { kind: 'navigation', act: click('#link-second'), done: (s) => s.secondPage || s.errorScreen || s.oldTab === false },
  nojs: {
    kind: 'no-JS form',
    act: async (p) => { await p.click('#nojs-submit', { timeout: CLICK_MS }); await p.waitForLoadState('load', { timeout: 15_000 }); },
    done: (s) => s.renderedBy || s.errorScreen,
  },
};

const want = (s, cond, msg) => (cond ? [] : [`${msg} (saw ${JSON.stringify(s).slice(0, 300)})`]);
const noError = (s) => want(s, !s.errorScreen && !s.actionError && s.boundaryError === null, 'no error should show');
const servedByA = {
  button: (s) => [...want(s, s.actionResult === 'server function served by build A', 'the catch-free result should come from A'), ...want(s, s.oldTab === true && s.renderedBy === 'A', 'page still A, no reload'), ...noError(s)],
  jsform: (s) => [...want(s, s.formResult === 'JS form served by build A', 'A should have run the JS form'), ...want(s, s.oldTab === true && s.renderedBy === 'A', 'page still A, no reload'), ...noError(s)],
  hform: (s) => [...want(s, s.hformResult === 'hydrated form served by build A', 'the hydrated form result should come from A'), ...want(s, s.oldTab === true && s.renderedBy === 'A', 'page still A, no reload'), ...noError(s)],
  kept: (s) => [...want(s, /^kept function served by build [AB]$/.test(s.keptResult ?? ''), 'the kept function should answer (either build)'), ...want(s, s.oldTab === true, 'no reload'), ...noError(s)],
};
const nojsOn = (build, tab) => (s) => [...want(s, s.renderedBy === build, `the page should be rendered by ${build}`),
  ...want(s, !s.errorScreen, 'no error screen'),
  ...(build === 'A' ? want(s, Number(s.nojsCount) > Number(tab.atLoad.nojsCount), 'A should have handled the no-JS post') : [])];
const reloadedOntoB = (pathWanted) => (s) => [
  ...want(s, s.oldTab === false, 'the page should have been reloaded'),
  ...want(s, s.renderedBy === 'B', 'the reloaded page should be rendered by B'),
  ...want(s, s.url === pathWanted, `the page should be ${pathWanted}`),
  ...noError(s),
];

// ---------------------------------------------------------------- scenarios

// Opens tabs four at a time (each waits for hydration; one by one they took ~3 s each).
async function openTabs(context, url, names, opts) {
  const tabs = {};
  for (let i = 0; i < names.length; i += 4) {
    await Promise.all(names.slice(i, i + 4).map(async (k) => { tabs[k] = await openTab(context, url, k, opts); }));
  }
  return tabs;
}

async function baseline(browser) {
  const port = await freePort();
  let server = await startReactServer({ variant: 'A', port, logFile: path.join(RESULTS, 'baseline-A.log') });
  const ctx = await browser.newContext();
  const nojsCtx = await browser.newContext({ javaScriptEnabled: false });
  try {
    const url = `http://127.0.0.1:${port}/`;
    const tabs = await openTabs(ctx, url, ['button', 'jsform', 'hform', 'kept', 'nav']);
    tabs.nojs = await openTab(nojsCtx, url, 'baseline nojs', { js: false });
    await stopProcess(server);
    server = await startReactServer({ variant: 'B', port, logFile: path.join(RESULTS, 'baseline-B.log') });
    const phase = 'no skewgate, A replaced by B';
    const base = { scenario: 'baseline', phase, shot: 'stale' };
    await check({ ...base, ...I.button, tab: tabs.button, expected: 'the bug: the framework\'s "Server Function Not Found" screen replaces the page; the catch never runs',
      expect: (s) => [...want(s, s.errorScreen !== null, 'the framework error screen should show'), ...want(s, !s.actionError, 'the app\'s catch should not run')] });
    for (const k of ['jsform', 'hform', 'kept', 'nav', 'nojs']) {
      await check({ ...base, ...I[k], tab: tabs[k], assert: false, expected: '(recorded)', expect: () => [],
        settleOpts: { timeoutMs: 8000, allowTimeout: true } });
    }
  } finally {
    await ctx.close();
    await nojsCtx.close();
    await stopProcess(server);
  }
}

async function startBuilds() {
  const ports = {};
  const procs = [];
  const builds = { ports, async stop() { for (const p of procs) await stopProcess(p); } };
  try {
    for (const v of Object.keys(VARIANTS)) {
      ports[v] = await freePort();
      procs.push(await startReactServer({ variant: v, port: ports[v], logFile: path.join(RESULTS, `react-server-${v}.log`) }));
    }
  } catch (e) {
    await builds.stop();
    throw e;
  }
  return builds;
}

async function startSkewgate(name, builds, functionsFrom) {
  const dir = path.join(RESULTS, `skewgate-${name}`);
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  const sg = new Skewgate({ dir, port: await freePort(), adminPort: await freePort(), policy: 'reload', message: ERROR_MESSAGE });
  sg.deployBuild = (v) => sg.cli('deploy', '--app', 'e2e', '--build', `rs-${v.toLowerCase()}`, '--upstream', `127.0.0.1:${builds.ports[v]}`,
    ...(functionsFrom ? ['--functions-from', outDir(v)] : []), '--health-timeout', '30s');
  await sg.start();
  return sg;
}

async function skewScenario(browser, builds, functionsFrom) {
  const sg = await startSkewgate('skew', builds, functionsFrom);
  const ctx = await browser.newContext();
  const nojsCtx = await browser.newContext({ javaScriptEnabled: false });
  const freshCtx = await browser.newContext();
  try {
    sg.deployBuild('A');
    const tabs = {
      ...await openTabs(ctx, `${sg.url}/`, ['deploy-button', 'deploy-jsform', 'deploy-hform', 'deploy-kept', 'retire-button',
        'retire-jsform', 'retire-hform', 'retire-nav', 'error-button', 'error-hform']),
      ...await openTabs(nojsCtx, `${sg.url}/`, ['deploy-nojs', 'retire-nojs'], { js: false }),
    };
    for (const [k, tab] of Object.entries(tabs)) {
      if (tab.atLoad.renderedBy !== 'A') throw new Error(`tab ${k} loaded before the deploy says ${tab.atLoad.renderedBy}, not A`);
    }

    sg.deployBuild('B');
    const phase = 'deploy (A retained)';
    const base = { scenario: 'skew', phase, shot: 'deploy', sg };
    const fresh = await openTab(freshCtx, `${sg.url}/`, 'new tab after deploy', { old: false });
    fresh.fresh = true;
    await check({ ...base, kind: 'new tab (document)', tab: fresh, act: async () => {}, done: (s) => s.renderedBy,
      expected: 'a new visitor gets B', expect: (s) => want(s, s.renderedBy === 'B', 'a new tab should get B') });
    await check({ ...base, ...I.kept, kind: 'kept function', shot: 'deploy-newtab', tab: fresh,
      expected: 'the kept function works on B (new tab)', expect: (s) => [...want(s, s.keptResult === 'kept function served by build B', 'B should answer the kept function'), ...noError(s)] });
    for (const k of ['button', 'jsform', 'hform']) {
      await check({ ...base, ...I[k], tab: tabs[`deploy-${k}`], expected: 'served by A, page still A, no error', expect: servedByA[k] });
    }
    await check({ ...base, ...I.kept, tab: tabs['deploy-kept'], expected: 'the kept function works (old tab)', expect: servedByA.kept });
    await check({ ...base, ...I.nojs, tab: tabs['deploy-nojs'], expected: 'the no-JS post is handled by A: the page says A, its count went up',
      expect: nojsOn('A', tabs['deploy-nojs']) });

    sg.retire('rs-a');
    const rphase = 'retire (A retired), action_policy reload';
    const rbase = { scenario: 'skew', phase: rphase, shot: 'retire-reload', sg };
    for (const k of ['button', 'jsform', 'hform']) {
      await check({ ...rbase, ...I[k], tab: tabs[`retire-${k}`], expected: 'flight reload answer: the page reloads onto B, no error screen, no hang',
        expect: reloadedOntoB('/') });
    }
    await check({ ...rbase, ...I.nav, tab: tabs['retire-nav'], expected: 'ends on /second rendered by B, no error, no hang',
      expect: (s) => [...want(s, s.secondPage && s.renderedBy === 'B', '/second should be rendered by B'), ...want(s, s.url === '/second', 'the URL should be /second'), ...noError(s)] });
    await check({ ...rbase, ...I.nojs, tab: tabs['retire-nojs'], expected: "303 to the page: lands on B's /, no error screen",
      expect: (s) => [...nojsOn('B', tabs['retire-nojs'])(s), ...want(s, s.url === '/', 'the page should be /')] });

    await sg.setPolicy('error');
    const ephase = 'retire (A retired), action_policy error';
    const ebase = { scenario: 'skew', phase: ephase, shot: 'retire-error', sg };
    await check({ ...ebase, ...I.button, tab: tabs['error-button'], expected: "the button's catch shows the configured message (error.digest)",
      expect: (s) => [...want(s, s.actionError === ERROR_MESSAGE, 'the catch should show the configured message'), ...want(s, s.oldTab === true && !s.errorScreen, 'no reload, no error screen')] });
    await check({ ...ebase, ...I.hform, tab: tabs['error-hform'], expected: 'the error boundary shows the configured message',
      expect: (s) => [...want(s, s.boundaryError === ERROR_MESSAGE, 'the boundary should show the configured message'), ...want(s, s.oldTab === true && !s.errorScreen, 'no reload, no error screen')] });
  } finally {
    await ctx.close();
    await nojsCtx.close();
    await freshCtx.close();
    await sg.stop();
  }
}

async function multiTabScenario(browser, builds, functionsFrom) {
  const sg = await startSkewgate('multitab', builds, functionsFrom);
  const ctx = await browser.newContext();
  try {
    sg.deployBuild('A');
    const tabs = await openTabs(ctx, `${sg.url}/`, ['button', 'jsform', 'hform', 'kept', 'nav']);
    tabs.nojs = await openTab(ctx, `${sg.url}/`, 'nojs', { js: false });
    for (const [k, tab] of Object.entries(tabs)) {
      if (tab.atLoad.renderedBy !== 'A') throw new Error(`multitab tab ${k} says ${tab.atLoad.renderedBy}, not A`);
    }
    sg.deployBuild('B');
    const tab2 = await openTab(ctx, `${sg.url}/`, 'tab 2', { old: false });
    tab2.fresh = true;
    const phase = 'deploy (A retained), tab 2 on B (pin B for every tab)';
    const base = { scenario: 'multitab', phase, shot: 'deploy', sg };
    await check({ ...base, kind: 'new tab (document)', tab: tab2, act: async () => {}, done: (s) => s.renderedBy,
      expected: 'tab 2 gets B (and pin B)', expect: (s) => want(s, s.renderedBy === 'B', 'tab 2 should get B') });
    for (const k of ['button', 'jsform', 'hform', 'kept']) {
      await check({ ...base, ...I[k], tab: tabs[k],
        expected: k === 'kept' ? 'the kept function works (B has its id too)' : 'served by A (the id is only on A: routed or replayed there), page still A, no error',
        expect: servedByA[k] });
    }
    // Without --functions-from skewgate knows no ids: pin B sends the post to B, whose answer
    // (200 text/html, the GlobalError page) carries no not-found signal to replay on, so the
    // row is recorded only then.
    await check({ ...base, ...I.nojs, tab: tabs.nojs, assert: functionsFrom,
      expected: functionsFrom ? 'the no-JS post is handled by A ($ACTION_ID_ names an id only A has)'
        : "(recorded: no ids known without --functions-from; B's 200 text/html GlobalError page cannot be told from a page)",
      expect: nojsOn('A', tabs.nojs) });
    await check({ ...base, ...I.nav, tab: tabs.nav, expected: 'navigation goes to current (B): ends on /second, no error, no hang',
      expect: (s) => [...want(s, s.secondPage && s.url === '/second', 'should end on /second'), ...noError(s)] });
  } finally {
    await ctx.close();
    await sg.stop();
  }
}

// ---------------------------------------------------------------- report

function writeSummary(functionsFrom) {
  const esc = (t) => String(t ?? '').replace(/\|/g, '\\|').replace(/\n/g, ' ');
  const lines = ['# skewgate e2e results: @lazarv/react-server', '', `Run ${new Date().toISOString()}, skewgate ${SKEWGATE_BIN}` +
    ` (deploy ${functionsFrom ? 'with' : 'without'} --functions-from).`, '',
    '| scenario / phase | interaction | what the user saw | expected | verdict | screenshot |', '|---|---|---|---|---|---|'];
  for (const r of rows) {
    const verdict = r.assert ? (r.ok ? 'pass' : `**FAIL**: ${esc(r.problems?.join('; '))}`) : 'recorded';
    lines.push(`| ${r.scenario} / ${r.phase} | ${r.kind} | ${esc(r.saw)} | ${esc(r.expected)} | ${verdict} | ${r.screenshot.replace(/^results\/react-server\//, '')} |`);
  }
  if (notes.length) lines.push('', '## Notes', '', ...notes.map((n) => `- ${n}`));
  lines.push('', '## Timings (s)', '', '| step | seconds |', '|---|---|');
  for (const [k, v] of Object.entries(timings)) lines.push(`| ${k} | ${v.toFixed(1)} |`);
  lines.push('', '## Wire (requests each check made) and skewgate access log', '');
  for (const r of rows) {
    lines.push(`- ${r.scenario} / ${r.phase} / ${r.kind}:`);
    for (const w of r.wire ?? []) lines.push(`  - \`${w}\``);
    for (const a of r.access ?? []) lines.push(`  - skewgate: \`${a}\``);
  }
  fs.writeFileSync(path.join(RESULTS, 'summary.md'), `${lines.join('\n')}\n`);
  fs.writeFileSync(path.join(RESULTS, 'results.json'), JSON.stringify({ rows, timings, notes }, null, 2));
}

async function main() {
  fs.rmSync(RESULTS, { recursive: true, force: true });
  fs.mkdirSync(RESULTS, { recursive: true });
  const started = Date.now();
  buildReactServer(timings);
  timings['install + builds (total)'] = (Date.now() - started) / 1000;

  // The premise of the app: B renamed four functions and kept one, whose id is the same.
  const ids = { A: serverReferenceIds(outDir('A')), B: serverReferenceIds(outDir('B')) };
  const shared = ids.A.filter((id) => ids.B.includes(id));
  notes.push(`ids in A's client chunks: ${ids.A.join(', ')}`, `ids in B's client chunks: ${ids.B.join(', ')}`);
  if (ids.A.length !== 5 || ids.B.length !== 5 || shared.length !== 1 || !shared[0].endsWith('/kept.mjs#kept')) {
    throw new Error(`the builds' ids are not as designed (5 each, only kept.mjs#kept shared): ${JSON.stringify(ids)}`);
  }
  const functionsFrom = cliHasFunctionsFrom();
  log(`skewgate ${SKEWGATE_BIN}; deploy ${functionsFrom ? 'with' : 'without'} --functions-from`);

  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS, timeout: 60_000 });
  let builds = null;
  try {
    for (const [name, fn] of [['baseline', baseline], ['skew', skewScenario], ['multitab', multiTabScenario]]) {
      if (ONLY && !ONLY.includes(name)) continue;
      const t0 = Date.now();
      log(`scenario ${name}`);
      try {
        if (name !== 'baseline' && !builds) builds = await startBuilds();
        await fn(browser, builds, functionsFrom);
      } catch (e) {
        rows.push({ scenario: name, phase: '(setup)', kind: '-', assert: true, ok: false, saw: e.message, problems: [e.message], screenshot: '-' });
        log(`FAIL ${name}: ${e.stack}`);
      }
      timings[`scenario ${name}`] = (Date.now() - t0) / 1000;
    }
  } finally {
    await browser.close();
    if (builds) await builds.stop();
  }
  timings['whole run'] = (Date.now() - started) / 1000;
  writeSummary(functionsFrom);
  const asserted = rows.filter((r) => r.assert);
  const passed = asserted.filter((r) => r.ok).length;
  log(`summary: results/react-server/summary.md; timings: ${Object.entries(timings).map(([k, s]) => `${k} ${s.toFixed(0)}s`).join(', ')}`);
  console.log(`react-server: ${passed} passed, ${asserted.length - passed} failed`);
  return asserted.length > 0 && passed === asserted.length ? 0 : 1;
}

const watchdog = setTimeout(() => {
  console.error(`e2e react-server: the run exceeded ${RUN_TIMEOUT_MS / 1000} s; stopping every process it started`);
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
