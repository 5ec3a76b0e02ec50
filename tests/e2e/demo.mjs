// The README's first command, proved: runs scripts/demo.sh as a user would and follows the
// script it prints, in Chromium.
//
//   node tests/e2e/demo.mjs            (tests/e2e/run.sh runs it after the main suite)
//
// demo.sh runs in its own process group with a time limit. Once its banner is out: open the
// page (rendered by A); run the deploy command the banner printed; a new tab gets B while the
// old tab's button is still served by A; run the printed retire command; the old tab's button
// reloads the page onto B with no error. The commands are parsed from demo.sh's output (never
// duplicated here) and run through bash from another directory, as pasted into another
// terminal. Then demo.sh is stopped by its process group (as Ctrl-C would) and ports
// 3001/3002/8080/9901 must be free again. The demo's ports are fixed: when one is taken the
// check is skipped (exit 0), not failed. Screenshots and logs: tests/e2e/results/demo/.
// Ends with "demo: N passed, N failed" (exit 0 only when every check passed).

import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { CHROMIUM, CHROMIUM_ARGS, here, repoRoot, sleep, waitFor } from './lib.mjs';

const OUT = path.join(here, 'results', 'demo');
const PORTS = [3001, 3002, 8080, 9901];
const TIMEOUT_MS = Number(process.env.DEMO_TIMEOUT_MS || 8 * 60_000);
const BANNER_TIMEOUT_MS = Number(process.env.DEMO_BANNER_TIMEOUT_MS || 5 * 60_000);
const BANNER_END = 'Ctrl-C stops everything the demo started.';

const started = Date.now();
const results = [];
let demo = null;          // { child, pid, exited, code }
const nextGroups = [];    // the Next.js process groups demo.sh reported: a safety net only
let output = '';

function log(...args) {
  console.log(`[demo ${((Date.now() - started) / 1000).toFixed(1).padStart(6)}s]`, ...args);
}

function record(name, ok, detail) {
  results.push({ name, ok, detail });
  log(`${ok ? 'PASS' : 'FAIL'} ${name}${detail ? `: ${detail}` : ''}`);
  return ok;
}

function portFree(port) {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

async function takenPorts() {
  const taken = [];
  for (const p of PORTS) if (!(await portFree(p))) taken.push(p);
  return taken;
}

function startDemo() {
  const logFile = path.join(OUT, 'demo.log');
  const child = spawn('bash', [path.join(repoRoot, 'scripts', 'demo.sh')],
    { cwd: repoRoot, env: process.env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  demo = { child, pid: child.pid, exited: false, code: null };
  const onData = (chunk) => {
    const text = chunk.toString();
    output += text;
    fs.appendFileSync(logFile, text);
    for (const m of text.matchAll(/^demo: Next\.js \S+ on \S+ \(pid (\d+), its own process group\)$/gm)) nextGroups.push(Number(m[1]));
  };
  child.stdout.on('data', onData);
  child.stderr.on('data', onData);
  child.on('exit', (code, signal) => { demo.exited = true; demo.code = code ?? signal; });
}

// SIGTERM to demo.sh's process group (what Ctrl-C does in a terminal: demo.sh's trap stops the
// rest); SIGKILL after a bound. Returns how long demo.sh took to exit, or null if it was killed.
async function stopDemo(graceMs = 20_000) {
  if (!demo) return null;
  if (demo.exited) return 0;
  const t0 = Date.now();
  try { process.kill(-demo.pid, 'SIGTERM'); } catch { /* already gone */ }
  const deadline = Date.now() + graceMs;
  while (!demo.exited && Date.now() < deadline) await sleep(50);
  if (demo.exited) return Date.now() - t0;
  try { process.kill(-demo.pid, 'SIGKILL'); } catch { /* already gone */ }
  return null;
}

// Only when demo.sh could not clean up after itself: the Next.js groups it reported.
function killLeftovers() {
  for (const pgid of nextGroups) {
    try { process.kill(-pgid, 0); } catch { continue; }
    log(`Next.js process group ${pgid} outlived demo.sh; killing it`);
    try { process.kill(-pgid, 'SIGKILL'); } catch { /* gone */ }
  }
}

// A printed command, run as pasted into another terminal (bash, from another directory).
function runPrinted(label, command) {
  const t0 = Date.now();
  const r = spawnSync('bash', ['-c', command], { cwd: os.tmpdir(), encoding: 'utf8', timeout: 90_000 });
  const text = `$ ${command}\n${r.stdout ?? ''}${r.stderr ?? ''}[exit ${r.status ?? r.signal} in ${Date.now() - t0} ms]\n`;
  fs.appendFileSync(path.join(OUT, 'commands.log'), text);
  log(`ran the printed ${label} command:\n  ${text.trimEnd().replace(/\n/g, '\n  ')}`);
  return { ok: r.status === 0, text };
}

function parseBanner(text) {
  const cmd = (re, what) => {
    const m = text.match(re);
    if (!m) throw new Error(`the banner prints no ${what} command (looked for ${re}); see results/demo/demo.log`);
    return m[1].trim();
  };
  const url = text.match(/^1\. Open (http:\/\/\S+) :/m)?.[1];
  if (!url) throw new Error('the banner names no URL to open ("1. Open http://… :")');
  return {
    next: /^skewgate demo: Next\.js /m.test(text),
    url,
    deploy: cmd(/^\s+\$ (.*skewgate deploy .*--build dpl-b.*)$/m, 'deploy (dpl-b)'),
    retire: cmd(/^\s+\$ (.*skewgate retire .*--build dpl-a.*)$/m, 'retire (dpl-a)'),
    builds: cmd(/^\s+\$ (.*skewgate builds .*)$/m, 'builds'),
  };
}

// What the user sees in a tab (the e2e app's ids; see tests/e2e/README.md).
function read(page) {
  return page.evaluate(() => {
    const t = (id) => document.getElementById(id)?.textContent ?? null;
    return {
      oldTab: !!window.__demoOldTab, hydrated: document.documentElement.dataset.hydrated === '1',
      renderedBy: t('rendered-by'), actionResult: t('action-result'), actionError: t('action-error'),
      actionCalls: Number(t('action-calls') ?? 0), boundaryError: t('boundary-error'),
    };
  });
}

async function readSettled(page, what, done, timeoutMs = 30_000) {
  return waitFor(what, async () => {
    try {
      const s = await read(page);
      return done(s) ? s : null;
    } catch { return null; } // mid-navigation
  }, timeoutMs, 150);
}

async function shot(page, name) {
  try { await page.screenshot({ path: path.join(OUT, `${name}.png`), fullPage: true, timeout: 15_000 }); } catch (e) { log(`screenshot ${name}: ${e.message}`); }
}

async function openTab(context, url, name) {
  const page = await context.newPage();
  const errors = [];
  const posts = [];   // the answers to this tab's POSTs (server actions)
  page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
  page.on('console', (m) => { if (m.type() === 'error') errors.push(`console: ${m.text()}`); });
  page.on('response', (r) => {
    const req = r.request();
    if (req.method() === 'POST') posts.push({ status: r.status(), reload: r.headers()['x-skewgate-reload'] ?? null });
    if (req.method() === 'POST' || r.headers()['x-skewgate-reload']) {
      fs.appendFileSync(path.join(OUT, 'wire.log'), `${name}: ${req.method()} ${req.url()} ` +
        `[x-deployment-id: ${req.headers()['x-deployment-id'] ?? '-'}] -> ${r.status()} ` +
        `x-skewgate-reload: ${r.headers()['x-skewgate-reload'] ?? '-'} x-action-redirect: ${r.headers()['x-action-redirect'] ?? '-'}\n`);
    }
  });
  await page.goto(url, { waitUntil: 'load', timeout: 30_000 });
  await page.waitForSelector('html[data-hydrated="1"]', { timeout: 30_000, state: 'attached' });
  return { page, errors, posts };
}

async function walkThrough(banner) {
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS, timeout: 60_000 });
  try {
    const context = await browser.newContext();   // one browser: both tabs share its cookies
    // 1. The page, rendered by A.
    const old = await openTab(context, banner.url, 'old tab');
    await old.page.evaluate(() => { window.__demoOldTab = true; });
    let s = await read(old.page);
    await shot(old.page, '1-old-tab-A');
    record('1. the page says it was rendered by A', s.renderedBy === 'A', `rendered by ${s.renderedBy}`);

    // 2. The printed deploy command: a new tab gets B, the old tab's button is served by A.
    const deploy = runPrinted('deploy', banner.deploy);
    if (!record('2. the printed deploy command succeeds', deploy.ok, deploy.ok ? '' : deploy.text)) return;
    const fresh = await openTab(context, banner.url, 'new tab');
    s = await read(fresh.page);
    await shot(fresh.page, '2-new-tab-B');
    record('2. a new tab is rendered by B', s.renderedBy === 'B', `rendered by ${s.renderedBy}`);
    await fresh.page.close();
    await old.page.click('#action-button');
    s = await readSettled(old.page, 'the old tab\'s action', (x) => x.actionCalls > 0 || !x.oldTab).catch((e) => ({ timeout: e.message }));
    await shot(old.page, '2-old-tab-button-A');
    record('2. the old tab\'s button is served by A (no reload, no error)',
      s.actionResult === 'action served by build A' && s.oldTab && s.renderedBy === 'A' && !s.actionError,
      JSON.stringify(s));

    // 3. The printed retire command.
    const retire = runPrinted('retire', banner.retire);
    if (!record('3. the printed retire command succeeds', retire.ok, retire.ok ? '' : retire.text)) return;
    const builds = runPrinted('builds', banner.builds);
    record('3. the printed builds command lists dpl-a retired and dpl-b current',
      builds.ok && /^dpl-a\s+retired/m.test(builds.text) && /^dpl-b\s+current/m.test(builds.text), builds.ok ? '' : builds.text);

    // 4. The old tab's button: the page reloads itself onto B, no error shown.
    const postsBefore = old.posts.length;
    await old.page.click('#action-button');
    s = await readSettled(old.page, 'the old tab reloaded onto B', (x) => !x.oldTab && x.hydrated && x.renderedBy === 'B')
      .catch(async (e) => ({ ...(await read(old.page).catch(() => ({}))), timeout: e.message }));
    await sleep(1000);   // let it settle, then read again: no late error
    s = await read(old.page).catch(() => s);
    await shot(old.page, '4-old-tab-reloaded-B');
    record('4. the old tab\'s button reloads the page onto B with no error',
      !s.oldTab && s.renderedBy === 'B' && !s.actionError && s.boundaryError === null, JSON.stringify(s));
    const answer = old.posts.slice(postsBefore).find((p) => p.reload);
    record('4. that action got skewgate\'s reload answer (build_killed)', /reason=build_killed; build=dpl-a/.test(answer?.reload ?? ''),
      JSON.stringify(old.posts.slice(postsBefore)));
    const errs = old.errors.filter((e) => !/Failed to load resource/.test(e));
    if (errs.length) log(`old tab page errors (recorded):\n  ${errs.join('\n  ')}`);
  } finally {
    await browser.close();
  }
}

async function main() {
  fs.rmSync(OUT, { recursive: true, force: true });
  fs.mkdirSync(OUT, { recursive: true });
  const taken = await takenPorts();
  if (taken.length) {
    console.log(`demo: SKIPPED: the demo's fixed ports are in use on 127.0.0.1: ${taken.join(', ')} (stop whatever listens there)`);
    return 0;
  }
  log('starting scripts/demo.sh');
  startDemo();
  let banner = null;
  try {
    await waitFor('the demo banner', () => {
      if (output.includes(BANNER_END)) return true;
      if (demo.exited) throw new Error(`demo.sh exited with ${demo.code} before its banner; see results/demo/demo.log`);
      return false;
    }, BANNER_TIMEOUT_MS, 200);
    const t = (Date.now() - started) / 1000;
    banner = parseBanner(output);
    record('demo.sh prints its banner', true, `after ${t.toFixed(1)} s`);
    if (record('the demo runs real Next.js (Node.js >= 20.9 is here)', banner.next,
      banner.next ? '' : 'demo.sh fell back to the Python echo builds; see results/demo/demo.log')) {
      await walkThrough(banner);
    }
  } catch (e) {
    record('the demo', false, e.message);
  }
  const stopMs = await stopDemo();
  record('stopping demo.sh\'s process group stops the demo', stopMs !== null,
    stopMs === null ? 'demo.sh did not exit within 20 s of SIGTERM; killed' : `exited ${stopMs} ms after SIGTERM`);
  if (stopMs === null) killLeftovers();
  const busy = await waitFor('the demo ports to be free', async () => ((await takenPorts()).length ? null : []), 5000, 100)
    .catch(async () => takenPorts());
  record(`ports ${PORTS.join('/')} are free again`, busy.length === 0, busy.length ? `still taken: ${busy.join(', ')}` : '');
  if (busy.length) killLeftovers();
  const failed = results.filter((r) => !r.ok).length;
  log(`took ${((Date.now() - started) / 1000).toFixed(1)} s; screenshots and logs in tests/e2e/results/demo/`);
  console.log(`demo: ${results.length - failed} passed, ${failed} failed`);
  return failed === 0 ? 0 : 1;
}

const watchdog = setTimeout(() => {
  console.error(`demo: the check exceeded ${TIMEOUT_MS / 1000} s; stopping demo.sh`);
  if (demo && !demo.exited) { try { process.kill(-demo.pid, 'SIGKILL'); } catch { /* gone */ } }
  killLeftovers();
  process.exit(2);
}, TIMEOUT_MS);
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, async () => { await stopDemo(5000); killLeftovers(); process.exit(130); });
}
main().then(async (code) => {
  clearTimeout(watchdog);
  process.exit(code);
}, async (e) => {
  console.error(e.stack || e);
  await stopDemo(5000);
  killLeftovers();
  process.exit(1);
});
