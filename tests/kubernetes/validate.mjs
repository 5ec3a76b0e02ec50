// Validates the Kubernetes manifests of docker/kubernetes/ (issue 17 section 4) and the
// product facts they must keep. Run by run.sh (scripts/test.sh's "kubernetes" stage):
//
//   1. kustomization.yaml lists every manifest in the directory, and only those;
//      `kubectl kustomize` builds it when kubectl is installed (else said, not failed).
//   2. Every object passes its kubernetes-models validate() (the Kubernetes OpenAPI
//      schema: types, required fields, enums, formats) and has no field the schema does
//      not know: the OpenAPI schema allows unknown fields but the API server's strict
//      field validation (kubectl's default) refuses them, so a misspelt key is caught
//      here (the field lists come from the package's type definitions).
//   3. Product facts: 3 replicas with anti-affinity on the node; readiness on /readyz and
//      liveness on /healthz at the port the config's admin.address names; the Service
//      targets the config's listener port; terminationGracePeriodSeconds covers the
//      preStop sleep plus timeouts.drain; non-root, read-only root, no capabilities,
//      seccomp RuntimeDefault, resources, no service-account token and no service links
//      (SKEWGATE_* variables); the ConfigMap mounted as a directory (no
//      subPath, so the kubelet's updates reach the pod) where -c reads it, with
//      `registry: config` and `watch: true`; the pin secret and admin token files the
//      config names come from the Secret; state_dir is a writable volume; the PDB covers
//      the skewgate pods; every upstream name is a Service of this directory with that
//      port, selecting a Deployment of it.
//   4. `skewgate --check` accepts the ConfigMap's skewgate.yaml ($SKEWGATE_BIN, else
//      build/skewgate). A binary that does not take upstream names yet (issue 17
//      section 1) is told apart by its own words and the file is checked again with
//      numeric stand-ins for the names (printed as a NOTE).
//
// Exit 0 when everything holds, else 1 with one line per problem.

import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import YAML from "yaml";

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, "..", "..");
const manifestDir = path.join(root, "docker", "kubernetes");
const skewgateBin = process.env.SKEWGATE_BIN || path.join(root, "build", "skewgate");
const modelsDir = path.join(here, "node_modules", "kubernetes-models");

const problems = [];
let checks = 0;
function expect(condition, what) {
  checks += 1;
  if (!condition) problems.push(what);
  return Boolean(condition);
}

// kubectl reads manifests as YAML 1.1 (sigs.k8s.io/yaml): `defaultMode: 0440` is octal.
const parseAll = (text) => YAML.parseAllDocuments(text, { version: "1.1" }).map((d) => {
  if (d.errors.length) throw new Error(d.errors.map((e) => e.message).join("; "));
  return d.toJS();
});

// ---------------------------------------------------------------------------
// 1. The kustomization and the files.

const kustomization = YAML.parse(readFileSync(path.join(manifestDir, "kustomization.yaml"), "utf8"));
const files = readdirSync(manifestDir).filter((f) => /\.ya?ml$/.test(f) && f !== "kustomization.yaml").sort();
expect(kustomization.kind === "Kustomization", "kustomization.yaml: kind is not Kustomization");
expect(JSON.stringify([...kustomization.resources].sort()) === JSON.stringify(files),
  `kustomization.yaml resources ${JSON.stringify(kustomization.resources)} != the manifests ${JSON.stringify(files)}`);

const objects = [];
for (const file of files) {
  for (const object of parseAll(readFileSync(path.join(manifestDir, file), "utf8"))) {
    if (object) objects.push({ file, object });
  }
}

const kubectl = spawnSync("kubectl", ["kustomize", manifestDir], { encoding: "utf8", timeout: 60_000 });
if (kubectl.error && kubectl.error.code === "ENOENT") {
  console.log("kubernetes: kubectl not installed: `kubectl kustomize` not tried");
} else if (expect(kubectl.status === 0, `kubectl kustomize failed: ${kubectl.stderr || kubectl.error}`)) {
  const built = parseAll(kubectl.stdout).filter(Boolean).map((o) => `${o.kind}/${o.metadata.name}`).sort();
  const ours = objects.map(({ object: o }) => `${o.kind}/${o.metadata.name}`).sort();
  expect(JSON.stringify(built) === JSON.stringify(ours), `kubectl kustomize built ${built} instead of ${ours}`);
}

// ---------------------------------------------------------------------------
// 2. The schema, and no unknown fields.

function modelPath(apiVersion, kind) {
  return apiVersion.includes("/") ? `${apiVersion}/${kind}` : `v1/${kind}`;
}

// Property names and types of the interface a .d.ts file declares (null: a type alias).
const declarations = new Map();
function declarationOf(file) {
  if (declarations.has(file)) return declarations.get(file);
  const text = readFileSync(file, "utf8").replace(/\/\*\*[\s\S]*?\*\//g, "");
  const imports = new Map();
  for (const [, name, from] of text.matchAll(/import \{ (\w+) \} from "([^"]+)";/g)) {
    imports.set(name, from.startsWith(".") ? path.resolve(path.dirname(file), `${from}.d.ts`)
      : path.join(here, "node_modules", `${from}.d.ts`));
  }
  const block = /export interface I\w+(?: extends [\w, ]+)? \{\n([\s\S]*?)\n\}/.exec(text);
  let result = null;
  if (block) {
    const props = new Map();
    // One property per chunk that starts at four spaces and a quote; a type may span lines.
    for (const chunk of block[1].split(/\n(?= {4}")/)) {
      const m = /^\s*"([^"]+)"\??: ([\s\S]*);\s*$/.exec(chunk);
      if (m) props.set(m[1], m[2].replace(/\s+/g, " ").trim());
    }
    result = { props, imports };
  }
  declarations.set(file, result);
  return result;
}

function unknownFields(value, file, where, out) {
  const declaration = declarationOf(file);
  if (!declaration || !value || typeof value !== "object" || Array.isArray(value)) return;
  for (const [key, child] of Object.entries(value)) {
    const type = declaration.props.get(key);
    if (type === undefined) {
      out.push(`${where}.${key}: unknown field (not in the ${path.basename(file, ".d.ts")} schema)`);
      continue;
    }
    walkType(child, type, declaration, `${where}.${key}`, out);
  }
}

function walkType(value, type, declaration, where, out) {
  const array = /^Array<(.+)>$/.exec(type);
  if (array) {
    if (Array.isArray(value)) value.forEach((v, i) => walkType(v, array[1], declaration, `${where}[${i}]`, out));
    return;
  }
  const map = /^\{ \[key: string\]: (.+); \}$/.exec(type);
  if (map) {
    if (value && typeof value === "object") {
      for (const [k, v] of Object.entries(value)) walkType(v, map[1], declaration, `${where}.${k}`, out);
    }
    return;
  }
  if (declaration.imports.has(type)) unknownFields(value, declaration.imports.get(type), where, out);
}

for (const { file, object } of objects) {
  const name = `${file}: ${object.kind}/${object.metadata?.name}`;
  const modulePath = path.join(modelsDir, `${modelPath(object.apiVersion, object.kind)}.js`);
  if (!expect(existsSync(modulePath), `${name}: no kubernetes-models model for ${object.apiVersion} ${object.kind}`)) continue;
  const module = await import(`kubernetes-models/${modelPath(object.apiVersion, object.kind)}`);
  try {
    new module[object.kind](object).validate();
    expect(true, "");
  } catch (error) {
    expect(false, `${name}: ${error.message}`);
  }
  const unknown = [];
  unknownFields(object, path.join(modelsDir, `${modelPath(object.apiVersion, object.kind)}.d.ts`), name, unknown);
  expect(unknown.length === 0, unknown.join("\n"));
}

// ---------------------------------------------------------------------------
// 3. Product facts.

const find = (kind, name) => objects.find(({ object: o }) => o.kind === kind && o.metadata.name === name)?.object;
const matches = (selector, labels) =>
  Object.entries(selector || {}).every(([k, v]) => (labels || {})[k] === v) && Object.keys(selector || {}).length > 0;

// "30s" -> 30 (design.md section 8 units).
function seconds(text) {
  const m = /^(\d+)(ms|s|m|h|d)$/.exec(String(text));
  if (!m) return NaN;
  return Number(m[1]) * { ms: 0.001, s: 1, m: 60, h: 3600, d: 86400 }[m[2]];
}
const portOf = (address) => Number(/:(\d+)$/.exec(address)?.[1]);

const deployment = find("Deployment", "skewgate");
const configMap = find("ConfigMap", "skewgate-config");
const secret = find("Secret", "skewgate-secrets");
const service = find("Service", "skewgate");
const pdb = find("PodDisruptionBudget", "skewgate");
expect(deployment && configMap && secret && service && pdb,
  "missing one of Deployment/skewgate, ConfigMap/skewgate-config, Secret/skewgate-secrets, Service/skewgate, " +
  "PodDisruptionBudget/skewgate");

const configText = configMap?.data?.["skewgate.yaml"];
let config = {};
if (expect(typeof configText === "string", "ConfigMap skewgate-config has no skewgate.yaml")) {
  config = YAML.parse(configText);
}

if (deployment) {
  const spec = deployment.spec;
  const pod = spec.template.spec;
  const podLabels = spec.template.metadata.labels;
  const container = pod.containers.find((c) => c.name === "skewgate");
  expect(spec.replicas === 3, `skewgate replicas ${JSON.stringify(spec.replicas)}, expected 3`);
  expect(matches(spec.selector.matchLabels, podLabels), "skewgate selector does not select its own pods");
  const anti = [
    ...(pod.affinity?.podAntiAffinity?.requiredDuringSchedulingIgnoredDuringExecution || []),
    ...(pod.affinity?.podAntiAffinity?.preferredDuringSchedulingIgnoredDuringExecution || []).map((p) => p.podAffinityTerm),
  ];
  expect(anti.some((t) => t.topologyKey === "kubernetes.io/hostname" && matches(t.labelSelector?.matchLabels, podLabels)),
    "skewgate has no podAntiAffinity on kubernetes.io/hostname against its own pods");
  expect(container, "the skewgate Deployment has no container named skewgate");
  if (container) {
    expect(container.image === "skewgate:latest", `skewgate image ${container.image}, expected skewgate:latest`);
    expect(container.imagePullPolicy === "IfNotPresent",
      "skewgate:latest without imagePullPolicy IfNotPresent is pulled from a registry (Always), never the local build");
    const namedPort = (port) => (typeof port === "number" ? port
      : container.ports.find((p) => p.name === port)?.containerPort);
    const adminPort = portOf(String(config.admin?.address ?? "127.0.0.1:9901"));
    const listenerPort = portOf(String(config.listeners?.[0]?.address));
    expect(container.readinessProbe?.httpGet?.path === "/readyz", "readiness probe is not GET /readyz");
    expect(container.livenessProbe?.httpGet?.path === "/healthz", "liveness probe is not GET /healthz");
    for (const [probe, what] of [[container.readinessProbe, "readiness"], [container.livenessProbe, "liveness"]]) {
      expect(namedPort(probe?.httpGet?.port) === adminPort,
        `${what} probe port ${probe?.httpGet?.port} is not the admin port ${adminPort} of admin.address`);
    }
    expect(!/^127\.|^\[::1\]|^localhost/.test(String(config.admin?.address)),
      `admin.address ${config.admin?.address} is loopback: the kubelet's probes cannot reach it`);
    expect(config.admin?.token_file, "admin.address is not loopback, so admin.token_file must be set");

    // Service -> the listener.
    const target = service?.spec?.ports?.[0]?.targetPort;
    expect(matches(service?.spec?.selector, podLabels), "Service skewgate does not select the skewgate pods");
    expect(namedPort(target) === listenerPort, `Service targetPort ${target} is not listeners[0]'s port ${listenerPort}`);

    // Drain: preStop, then SIGTERM, then timeouts.drain, all inside the grace period.
    const sleep = container.lifecycle?.preStop?.exec?.command;
    const sleepSeconds = Array.isArray(sleep) && /(^|\/)sleep$/.test(sleep[0]) ? Number(sleep[1])
      : Number(container.lifecycle?.preStop?.sleep?.seconds);
    expect(sleepSeconds > 0, "skewgate has no preStop sleep");
    const drain = seconds(config.timeouts?.drain ?? "30s");
    expect(pod.terminationGracePeriodSeconds > sleepSeconds + drain,
      `terminationGracePeriodSeconds ${pod.terminationGracePeriodSeconds} does not cover preStop ${sleepSeconds}s + ` +
      `timeouts.drain ${drain}s`);

    // Non-root, read-only, nothing extra.
    const sc = { ...pod.securityContext, ...container.securityContext };
    expect(sc.runAsNonRoot === true, "runAsNonRoot is not true");
    expect(sc.runAsUser !== 0, "runAsUser is 0");
    expect(container.securityContext?.readOnlyRootFilesystem === true, "readOnlyRootFilesystem is not true");
    expect(container.securityContext?.allowPrivilegeEscalation === false, "allowPrivilegeEscalation is not false");
    expect(container.securityContext?.capabilities?.drop?.includes("ALL"), "capabilities do not drop ALL");
    expect(sc.seccompProfile?.type === "RuntimeDefault", "seccompProfile is not RuntimeDefault");
    expect(container.resources?.requests?.cpu && container.resources?.requests?.memory &&
      container.resources?.limits?.memory, "skewgate resources lack cpu/memory requests or a memory limit");
    expect(pod.automountServiceAccountToken === false, "skewgate needs no service account token: do not mount it");
    expect(pod.enableServiceLinks === false,
      "service links would put SKEWGATE_SERVICE_HOST, SKEWGATE_PORT... into skewgate's SKEWGATE_ environment");

    // Config mounted as a directory where -c reads it; secrets and state where the config says.
    const mountOf = (volume) => container.volumeMounts?.find((m) => m.name === volume);
    const volumeWith = (pred) => pod.volumes?.find(pred);
    const configVolume = volumeWith((v) => v.configMap?.name === configMap?.metadata.name);
    const configMount = configVolume && mountOf(configVolume.name);
    const args = container.args || [];
    const configPath = args[args.indexOf("-c") + 1];
    expect(configMount && !configMount.subPath,
      "the ConfigMap is not mounted as a directory (a subPath mount never sees an update)");
    expect(configMount && configPath === path.posix.join(configMount.mountPath, "skewgate.yaml"),
      `-c ${configPath} is not the ConfigMap's skewgate.yaml under ${configMount?.mountPath}`);
    const secretVolume = volumeWith((v) => v.secret?.secretName === secret?.metadata.name);
    const secretMount = secretVolume && mountOf(secretVolume.name);
    for (const [key, file] of [["pin-secret", config.pins?.secret_file], ["admin-token", config.admin?.token_file]]) {
      expect(secret && key in (secret.stringData || secret.data || {}), `Secret skewgate-secrets has no ${key}`);
      expect(secretMount && file === path.posix.join(secretMount.mountPath, key),
        `the config reads ${file}, not the Secret's ${key} at ${secretMount?.mountPath}`);
    }
    expect((secretVolume?.secret?.defaultMode ?? 0o644) & 0o007 ? false : true,
      `the secret files are readable by others (defaultMode ${secretVolume?.secret?.defaultMode?.toString(8)})`);
    const stateMount = container.volumeMounts?.find((m) => m.mountPath === config.state_dir);
    expect(stateMount && !stateMount.readOnly, `state_dir ${config.state_dir} is not a writable volume`);
    expect(pdb && matches(pdb.spec.selector?.matchLabels, podLabels), "the PDB does not select the skewgate pods");
    expect(pdb && (pdb.spec.maxUnavailable ?? 0) >= 1 && pdb.spec.maxUnavailable < spec.replicas,
      "the PDB's maxUnavailable must let one replica go and keep the others");
  }
}

// The config's routing facts.
expect(config.watch === true, "skewgate.yaml: watch is not true (replicas would not follow ConfigMap updates)");
expect(Array.isArray(config.apps) && config.apps.length > 0, "skewgate.yaml has no apps");
const upstreams = [];
for (const app of config.apps || []) {
  expect(app.registry === "config", `app ${app.name}: registry is not config`);
  expect(app.builds?.some((b) => b.id === app.current), `app ${app.name}: current ${app.current} is not a build`);
  for (const build of app.builds || []) upstreams.push(...build.upstreams.map((u) => ({ build: build.id, u })));
}
for (const { build, u } of upstreams) {
  const m = /^([a-z0-9-]+)\.([a-z0-9-]+)\.svc\.cluster\.local:(\d+)$/.exec(u);
  if (!expect(m, `build ${build}: upstream ${u} is not <service>.<namespace>.svc.cluster.local:<port>`)) continue;
  const svc = find("Service", m[1]);
  expect(svc?.spec?.ports?.some((p) => p.port === Number(m[3])), `build ${build}: no Service ${m[1]} with port ${m[3]}`);
  const app = objects.map(({ object }) => object)
    .find((o) => o.kind === "Deployment" && matches(svc?.spec?.selector, o.spec.template.metadata.labels));
  expect(app, `build ${build}: Service ${m[1]} selects no Deployment of this directory`);
}

// ---------------------------------------------------------------------------
// 4. skewgate --check on the ConfigMap's file.

function check(text) {
  const dir = mkdtempSync(path.join(tmpdir(), "skewgate-k8s-"));
  try {
    writeFileSync(path.join(dir, "skewgate.yaml"), text);
    const env = { ...process.env };
    delete env.SKEWGATE_ADMIN_TOKEN;
    const run = spawnSync(skewgateBin, ["--check", "-c", path.join(dir, "skewgate.yaml")],
      { encoding: "utf8", timeout: 30_000, env });
    return { status: run.status, output: `${run.stdout}${run.stderr}`, error: run.error };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (expect(existsSync(skewgateBin), `no skewgate binary at ${skewgateBin} (build it or set SKEWGATE_BIN)`) && configText) {
  let result = check(configText);
  const errorLines = result.output.split("\n").filter((l) => l.trim() && !l.startsWith("warning:"));
  const namesRefused = result.status === 1 && errorLines.length > 0 &&
    errorLines.every((l) => /\.upstreams\[\d+\]: expected host:port/.test(l));
  if (namesRefused) {
    // TODO(issue 17 section 1): goes away once upstream names land; then the file is
    // checked as it is, above.
    console.log("kubernetes: NOTE: this skewgate does not take upstream names yet; checking skewgate.yaml with " +
      "numeric stand-ins for them");
    let n = 0;
    const standIns = configText.replace(/[a-z0-9-]+\.[a-z0-9-]+\.svc\.cluster\.local:(\d+)/g,
      (_, port) => `127.0.0.${++n}:${port}`);
    result = check(standIns);
  }
  expect(result.status === 0, `skewgate --check refused the ConfigMap's skewgate.yaml: ${result.error || result.output}`);
}

// ---------------------------------------------------------------------------

for (const problem of problems) console.error(`kubernetes: FAIL: ${problem}`);
console.log(`kubernetes: ${objects.length} objects in ${files.length} files, ${checks} checks, ` +
  `${problems.length} failed`);
process.exit(problems.length ? 1 : 0);
