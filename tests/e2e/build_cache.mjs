// What both e2e build scripts (build.mjs for Next.js, react-server/build.mjs) use to decide
// whether an install or a build is still current, and to run one with its time measured.

import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

// Every file under dir, depth first, in name order (so the hash is stable).
export function listFiles(dir) {
  const out = [];
  for (const entry of fs.readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...listFiles(full));
    else out.push(full);
  }
  return out;
}

// sha256 over each file's path (relative to base: moving the checkout keeps the caches) and
// content.
export function hashOf(files, base) {
  const h = createHash('sha256');
  for (const f of files) {
    h.update(path.relative(base, f));
    h.update('\0');
    h.update(fs.readFileSync(f));
    h.update('\0');
  }
  return h.digest('hex');
}

// Runs a command to completion (output inherited); throws on failure; returns its seconds.
export function runTimed(cmd, args, opts) {
  const started = Date.now();
  const r = spawnSync(cmd, args, { stdio: 'inherit', ...opts });
  if (r.error) throw new Error(`${cmd} ${args.join(' ')}: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status ?? r.signal}`);
  return (Date.now() - started) / 1000;
}
