// next.config for docker/next-app/Dockerfile: the settings tests/e2e/build.mjs writes
// for its dpl-a / dpl-b variants, from the environment the Dockerfile sets
// (DEPLOYMENT_ID, BUILD_LABEL), read at `next build` and again at `next start`.
import fs from 'node:fs';

const nextVersion = JSON.parse(fs.readFileSync(new URL('./node_modules/next/package.json', import.meta.url), 'utf8')).version;
const deploymentId = process.env.DEPLOYMENT_ID;
if (!deploymentId) throw new Error('DEPLOYMENT_ID is not set (docker/next-app/Dockerfile sets it)');

const config = {
  deploymentId,
  env: { BUILD_LABEL: process.env.BUILD_LABEL ?? '?', BUILD_DPL: deploymentId, NEXT_VERSION_SHOWN: nextVersion },
};
if (nextVersion.startsWith('15.')) config.eslint = { ignoreDuringBuilds: true };
export default config;
