// Helpers for the e2e driver: free ports, tracked child processes (stopped by PID),
// bounded waits, the skewgate process, its CLI, and Next.js servers.

import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const here = path.dirname(fileURLToPath(import.meta.url));
export const repoRoot = path.resolve(here, '..', '..');
export const SKEWGATE_BIN = process.env.SKEWGATE_BIN || path.join(repoRoot, 'build', 'skewgate');
export const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
export const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

// Polls fn() until it returns a truthy value or the deadline passes.
export async function waitFor(what, fn, timeoutMs = 30_000, everyMs = 100) {
  const deadline = Date.now() + timeoutMs;
  let last;
  while (Date.now() < deadline) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    await sleep(everyMs);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? ` (last error: ${last.message})` : ''}`);
}

// Every process this driver starts, so that all of them are stopped (by PID) on exit.
const children = new Set();

export function startProcess(name, cmd, args, { cwd, env, logFile }) {
  const out = fs.openSync(logFile, 'a');
  const child = spawn(cmd, args, { cwd, env, stdio: ['ignore', out, out], detached: true });
  fs.closeSync(out);
  const entry = { name, child, pid: child.pid, exited: false, code: null };
  child.on('exit', (code, signal) => {
    entry.exited = true;
    entry.code = code ?? signal;
  });
  children.add(entry);
  return entry;
}

// SIGTERM to the process group we created (its id is the child's PID), SIGKILL after graceMs.
export async function stopProcess(entry, graceMs = 5000) {
  if (!entry || !children.has(entry)) return;
  if (!entry.exited) {
    try { process.kill(-entry.pid, 'SIGTERM'); } catch { /* already gone */ }
    const deadline = Date.now() + graceMs;
    while (!entry.exited && Date.now() < deadline) await sleep(50);
    if (!entry.exited) {
      try { process.kill(-entry.pid, 'SIGKILL'); } catch { /* already gone */ }
      const hard = Date.now() + 2000;
      while (!entry.exited && Date.now() < hard) await sleep(50);
    }
  }
  children.delete(entry);
}

export function stopAllSync() {
  for (const entry of children) {
    if (!entry.exited) {
      try { process.kill(-entry.pid, 'SIGKILL'); } catch { /* already gone */ }
    }
  }
  children.clear();
}

async function httpGet(url, timeoutMs = 2000) {
  const ctl = new AbortController();
  const t = setTimeout(() => ctl.abort(), timeoutMs);
  try {
    const r = await fetch(url, { signal: ctl.signal, redirect: 'manual' });
    const body = await r.text();
    return { status: r.status, body, headers: r.headers };
  } finally {
    clearTimeout(t);
  }
}

// A Next.js build served by `next start` on 127.0.0.1:port.
export async function startNext({ version, variantDir, port, logFile, label }) {
  const nextBin = path.join(here, '.work', version, 'node_modules/next/dist/bin/next');
  const env = { ...process.env, NEXT_TELEMETRY_DISABLED: '1', NODE_ENV: 'production' };
  delete env.NEXT_DEPLOYMENT_ID;
  delete env.NEXT_SERVER_ACTIONS_ENCRYPTION_KEY;
  const entry = startProcess(`next ${label}`, process.execPath, [nextBin, 'start', '-p', String(port), '-H', '127.0.0.1'],
    { cwd: variantDir, env, logFile });
  entry.port = port;
  await waitFor(`next start (${label}) on port ${port}`, async () => {
    if (entry.exited) throw new Error(`next start exited with ${entry.code}; see ${logFile}`);
    const r = await httpGet(`http://127.0.0.1:${port}/second`);
    return r.status === 200;
  }, 60_000, 200);
  return entry;
}

// A test CA and a server certificate it signed (ECDSA P-256, for 127.0.0.1 and localhost),
// made with the openssl CLI in dir. spki: base64 of the SHA-256 of the leaf's
// SubjectPublicKeyInfo, what Chromium's --ignore-certificate-errors-spki-list takes.
export function makeTestCertificate(dir) {
  fs.mkdirSync(dir, { recursive: true });
  const openssl = (...args) => {
    const r = spawnSync('openssl', args, { cwd: dir, encoding: 'utf8', timeout: 30_000 });
    if (r.status !== 0) throw new Error(`openssl ${args.join(' ')} failed: ${r.stderr}`);
    return r.stdout;
  };
  openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '30',
    '-subj', '/CN=skewgate e2e CA', '-keyout', 'ca.key', '-out', 'ca.pem');
  openssl('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-subj', '/CN=localhost',
    '-keyout', 'key.pem', '-out', 'leaf.csr');
  fs.writeFileSync(path.join(dir, 'leaf.ext'), 'subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n' +
    'keyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n');
  openssl('x509', '-req', '-in', 'leaf.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '30',
    '-extfile', 'leaf.ext', '-out', 'leaf.pem');
  const chain = path.join(dir, 'chain.pem');
  fs.writeFileSync(chain, fs.readFileSync(path.join(dir, 'leaf.pem')) + fs.readFileSync(path.join(dir, 'ca.pem')));
  // The public key in DER (openssl pkey -pubin -outform der), hashed here.
  const pub = openssl('x509', '-in', 'leaf.pem', '-pubkey', '-noout');
  const der = spawnSync('openssl', ['pkey', '-pubin', '-outform', 'der'], { cwd: dir, input: pub, timeout: 30_000 });
  if (der.status !== 0) throw new Error(`openssl pkey failed: ${der.stderr}`);
  const spki = createHash('sha256').update(der.stdout).digest('base64');
  return { ca: path.join(dir, 'ca.pem'), chain, key: path.join(dir, 'key.pem'), spki };
}

// skewgate with one app (`registry: api`), its admin listener and a fresh state_dir.
// tls {cert, key}: the listener terminates TLS with that certificate (url is https).
export class Skewgate {
  constructor({ dir, port, adminPort, policy = 'reload', message, tls = null }) {
    Object.assign(this, { dir, port, adminPort, policy, message, tls });
    this.configPath = path.join(dir, 'skewgate.yaml');
    this.stateDir = path.join(dir, 'state');
    this.logFile = path.join(dir, 'skewgate.log');
    this.cliLog = path.join(dir, 'cli.log');
    this.accessLog = path.join(dir, 'access.log');
    fs.mkdirSync(this.stateDir, { recursive: true });
    this.writeConfig();
  }

  get admin() { return `http://127.0.0.1:${this.adminPort}`; }
  get url() { return `${this.tls ? 'https' : 'http'}://127.0.0.1:${this.port}`; }

  writeConfig() {
    const yaml = [
      this.tls
        ? `listeners: [{address: 127.0.0.1:${this.port}, tls: {cert: ${JSON.stringify(this.tls.cert)}, key: ${JSON.stringify(this.tls.key)}}}]`
        : `listeners: [{address: 127.0.0.1:${this.port}}]`,
      'workers: 2',
      `admin: {address: 127.0.0.1:${this.adminPort}}`,
      `state_dir: ${JSON.stringify(this.stateDir)}`,
      `access_log: {path: ${JSON.stringify(this.accessLog)}, format: json}`,
      'timeouts: {upstream_connect: 2s, upstream_response: 30s, drain: 5s}',
      'apps:',
      '  - name: e2e',
      '    hosts: [127.0.0.1]',
      '    default: true',
      '    registry: api',
      `    skew: {action_policy: ${this.policy}, message: ${JSON.stringify(this.message)}}`,
      '',
    ].join('\n');
    const tmp = `${this.configPath}.tmp`;
    fs.writeFileSync(tmp, yaml);
    fs.renameSync(tmp, this.configPath);
  }

  async start() {
    this.proc = startProcess('skewgate', SKEWGATE_BIN, ['-c', this.configPath], { cwd: this.dir, env: process.env, logFile: this.logFile });
    await waitFor('skewgate admin /readyz', async () => {
      if (this.proc.exited) throw new Error(`skewgate exited with ${this.proc.code}; see ${this.logFile}`);
      return (await httpGet(`${this.admin}/readyz`)).status === 200;
    }, 20_000);
  }

  async stop() { await stopProcess(this.proc); }

  // The CLI (same binary); throws unless it exits 0.
  cli(...args) {
    const started = Date.now();
    const r = spawnSync(SKEWGATE_BIN, [...args, '--admin', this.admin], { encoding: 'utf8', timeout: 90_000 });
    const line = `$ skewgate ${[...args, '--admin', this.admin].join(' ')}\n${r.stdout ?? ''}${r.stderr ?? ''}` +
      `[exit ${r.status ?? r.signal} in ${Date.now() - started} ms]\n`;
    fs.appendFileSync(this.cliLog, line);
    if (r.status !== 0) throw new Error(`skewgate ${args[0]} failed:\n${line}`);
    return r.stdout;
  }

  // manifest null: the build is registered without one (zero-config: skewgate learns
  // nothing about its actions but what the build answers).
  deploy(build, upstreamPort, manifest) {
    return this.cli('deploy', '--app', 'e2e', '--build', build, '--upstream', `127.0.0.1:${upstreamPort}`,
      ...(manifest ? ['--manifest', manifest] : []), '--health-timeout', '30s');
  }

  // The access log's byte length now, and its JSON lines written after such a mark (the
  // workers flush every few ms, so callers read after the page has settled).
  accessMark() {
    try { return fs.statSync(this.accessLog).size; } catch { return 0; }
  }

  accessSince(mark) {
    let text;
    try { text = fs.readFileSync(this.accessLog).subarray(mark).toString('utf8'); } catch { return []; }
    return text.split('\n').filter(Boolean).map((l) => { try { return JSON.parse(l); } catch { return { raw: l }; } });
  }

  retire(build) { return this.cli('retire', '--app', 'e2e', '--build', build); }

  async setPolicy(policy) {
    this.policy = policy;
    this.writeConfig();
    this.cli('reload');
    const cfg = await httpGet(`${this.admin}/api/v1/config`);
    if (!cfg.body.includes(policy)) throw new Error(`after reload, /api/v1/config does not show action_policy ${policy}: ${cfg.body.slice(0, 400)}`);
  }

  async app() {
    return JSON.parse((await httpGet(`${this.admin}/api/v1/apps/e2e`)).body);
  }
}
