#!/usr/bin/env node
/* global process, console */
/**
 * Compiles the native ICMP engine (native/*.c) into dist/native/icmp_echo.node.
 *
 * A direct compiler call, not node-gyp: three C files need no build system, and this never
 * downloads anything. Node's headers come from the running Node's own prefix (`include/node`
 * next to `bin/node`: /usr here, /usr/local in the node Docker images). Run by `npm run build`,
 * not by an `install` script: npm runs a root package's install script on every `npm ci`,
 * `--omit=dev` included, which would need a compiler in the runtime image.
 *
 *   node scripts/build-native.mjs [--sanitize address] [--out path]
 * Environment: CC (default cc), NODE_INCLUDE_DIR (override the headers' directory).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';

const { values } = parseArgs({ options: { sanitize: { type: 'string' }, out: { type: 'string' } } });
const root = resolve(import.meta.dirname, '..');
const out = resolve(values.out ?? join(root, 'dist/native/icmp_echo.node'));
const include = process.env.NODE_INCLUDE_DIR ?? resolve(dirname(process.execPath), '../include/node');
if (!existsSync(join(include, 'node_api.h'))) {
  console.error(`build-native: Node's headers are not in ${include} (node_api.h); set NODE_INCLUDE_DIR`);
  process.exit(1);
}
const cc = process.env.CC ?? 'cc';
const flags = [
  '-std=gnu11', '-O2', '-g', '-Wall', '-Wextra', '-Werror', '-fPIC', '-shared', '-fvisibility=hidden',
  '-D_FORTIFY_SOURCE=2', '-fstack-protector-strong', '-DNAPI_VERSION=8', '-DNODE_GYP_MODULE_NAME=icmp_echo',
  // Node-API symbols resolve against the running node binary at load time.
  '-Wl,--unresolved-symbols=ignore-all', '-Wl,-z,relro,-z,now',
];
if (values.sanitize) flags.push(`-fsanitize=${values.sanitize}`, '-fno-omit-frame-pointer');
mkdirSync(dirname(out), { recursive: true });
try {
  const sources = readdirSync(join(root, 'native')).filter((f) => f.endsWith('.c')).map((f) => join(root, 'native', f));
  execFileSync(cc, [...flags, '-I', include, ...sources, '-o', out], { stdio: 'inherit' });
} catch {
  console.error(`build-native: ${cc} failed (see above); the worker would fall back to fping or ping without the addon`);
  process.exit(1);
}
console.log(`build-native: ${out}${values.sanitize ? ` (-fsanitize=${values.sanitize})` : ''}`);
