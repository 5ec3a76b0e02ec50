// Installs the pinned @lazarv/react-server and builds the test app twice, A then B, from the
// same directory (ids are "<absolute source path>#<export>", so a function B keeps has the
// same id in both builds, as in a real redeploy from one checkout path).
//
//   node tests/e2e/react-server/build.mjs
//
// Layout (under tests/e2e/.work/react-server/, gitignored):
//   app/{package.json,package-lock.json,node_modules}   the install (keyed by the lockfile's hash)
//   app/*.jsx|mjs                                       app/ of this folder, variant A then B laid over it
//   app/.react-server-a/, app/.react-server-b/          the two outDirs (each keyed by its source hash)
// node_modules sits inside the project: with it one level up, `react-server start` cannot
// find its own client entry ("Module not found: /client/index.<hash>.mjs", measured).

import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { hashOf as hashFiles, listFiles, runTimed as run } from '../build_cache.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
// Paths hash relative to this folder, as they always have (the caches stay valid).
const hashOf = (files) => hashFiles(files, here);
export const WORK = path.join(here, '..', '.work', 'react-server');
export const APP_DIR = path.join(WORK, 'app');
export const VARIANTS = { A: '.react-server-a', B: '.react-server-b' };
export const outDir = (variant) => path.join(APP_DIR, VARIANTS[variant]);
export const reactServerBin = () => path.join(APP_DIR, 'node_modules/@lazarv/react-server/bin/cli.mjs');
const NPM_TIMEOUT_MS = 6 * 60_000;
const BUILD_TIMEOUT_MS = 4 * 60_000;

// The ids in a build's client chunks, as React's client has them:
// `(0,n.createServerReference)(\`<id>\`,…)` (a template literal, measured on this version).
export function serverReferenceIds(dir) {
  const ids = new Set();
  for (const f of listFiles(path.join(dir, 'client')).filter((f) => f.endsWith('.mjs'))) {
    for (const m of fs.readFileSync(f, 'utf8').matchAll(/createServerReference\)?\(\s*[`"']([^`"']+)[`"']/g)) ids.add(m[1]);
  }
  return [...ids].sort();
}

export function buildReactServer(timings = {}) {
  fs.mkdirSync(APP_DIR, { recursive: true });
  const pkg = [path.join(here, 'package.json'), path.join(here, 'package-lock.json')];

  // 1. The install, keyed by package.json + lockfile. `npm install --no-save` rather than
  // `npm ci`: npm 11 writes this lockfile without the other platforms' optional
  // @oxc-parser/binding-* entries and `npm ci` then refuses it as out of sync; install with
  // the lockfile present installs the locked versions and leaves the lockfile alone.
  const lockHash = hashOf(pkg);
  const installStamp = path.join(WORK, '.install-stamp');
  if (!fs.existsSync(installStamp) || fs.readFileSync(installStamp, 'utf8') !== lockHash || !fs.existsSync(reactServerBin())) {
    fs.rmSync(path.join(APP_DIR, 'node_modules'), { recursive: true, force: true });
    fs.rmSync(installStamp, { force: true });
    for (const f of pkg) fs.copyFileSync(f, path.join(APP_DIR, path.basename(f)));
    console.log('[build] react-server: npm install (locked)');
    timings['react-server npm install'] = run('npm', ['install', '--no-save', '--no-audit', '--no-fund', '--prefer-offline'],
      { cwd: APP_DIR, timeout: NPM_TIMEOUT_MS });
    fs.writeFileSync(installStamp, lockHash);
  } else {
    console.log(`[build] react-server: node_modules up to date (lockfile ${lockHash.slice(0, 12)})`);
  }

  // 2. A, then B over it, each keyed by lockfile + app/ + its variant + this script.
  const common = [path.join(here, 'package-lock.json'), fileURLToPath(import.meta.url), ...listFiles(path.join(here, 'app'))];
  for (const variant of Object.keys(VARIANTS)) {
    const dir = outDir(variant);
    const sourceHash = hashOf([...common, ...listFiles(path.join(here, 'variants', variant))]);
    // The sources always follow the variant, so the next one overlays the right files.
    fs.cpSync(path.join(here, 'app'), APP_DIR, { recursive: true });
    fs.cpSync(path.join(here, 'variants', variant), APP_DIR, { recursive: true });
    const stamp = path.join(dir, '.build-stamp');
    if (fs.existsSync(stamp) && fs.readFileSync(stamp, 'utf8') === sourceHash) {
      console.log(`[build] react-server ${variant}: up to date`);
      continue;
    }
    fs.rmSync(dir, { recursive: true, force: true });
    console.log(`[build] react-server ${variant}: react-server build --outDir ${VARIANTS[variant]}`);
    timings[`react-server build ${variant}`] = run(process.execPath,
      [reactServerBin(), 'build', './App.jsx', '--outDir', VARIANTS[variant], '--no-color'],
      { cwd: APP_DIR, timeout: BUILD_TIMEOUT_MS, env: { ...process.env, NODE_ENV: 'production' } });
    fs.writeFileSync(stamp, sourceHash);
  }
  return timings;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const timings = buildReactServer();
  for (const [k, s] of Object.entries(timings)) console.log(`[build] ${k}: ${s.toFixed(1)} s`);
  for (const v of Object.keys(VARIANTS)) console.log(`[build] ${v} ids:\n  ${serverReferenceIds(outDir(v)).join('\n  ')}`);
}
