import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { posix } from 'node:path';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { DEFAULTS } from '../../src/config/defaults.js';
import { startHttpServer } from '../../src/http/server.js';
import { freePort } from '../support/redis-server.js';

// What can be proved about the image without a Docker engine: every file the build copies exists
// (or is what `npm run build` produces, which `npm test` runs first), the entrypoint is the CLI the
// build emits and it runs, and the runtime stage keeps the promises the deployments rely on.

interface Instruction {
  keyword: string;
  args: string;
}
interface Stage {
  base: string;
  name: string | undefined;
  steps: Instruction[];
}

const root = new URL('../../', import.meta.url);
const read = (file: string) => readFileSync(new URL(file, root), 'utf8');

/** Joins `\` continuations and drops comments, as the Dockerfile frontend does. */
function parseDockerfile(text: string): Stage[] {
  const steps: Instruction[] = [];
  let pending = '';
  for (const raw of text.split('\n')) {
    const line = raw.trimEnd();
    if (/^\s*#/.test(line) || (pending === '' && line.trim() === '')) continue;
    if (line.endsWith('\\')) {
      pending += `${line.slice(0, -1)} `;
      continue;
    }
    const [, keyword = '', args = ''] = /^\s*(\S+)\s*(.*)$/s.exec(pending + line) ?? [];
    steps.push({ keyword: keyword.toUpperCase(), args: args.trim() });
    pending = '';
  }
  const stages: Stage[] = [];
  for (const step of steps) {
    if (step.keyword === 'FROM') {
      const [base = '', as, name] = step.args.split(/\s+/);
      stages.push({ base, name: as?.toUpperCase() === 'AS' ? name : undefined, steps: [] });
    } else stages.at(-1)?.steps.push(step);
  }
  return stages;
}

/** `["a", "b"]` → ['a', 'b']; anything else (shell form) → undefined. */
function execForm(args: string): string[] | undefined {
  if (!args.startsWith('[')) return undefined;
  const parsed: unknown = JSON.parse(args);
  return Array.isArray(parsed) && parsed.every((a) => typeof a === 'string') ? parsed : undefined;
}

function parseCopy(args: string): { from: string | undefined; sources: string[]; dest: string } {
  const tokens = args.split(/\s+/);
  const flags = tokens.filter((t) => t.startsWith('--'));
  const rest = tokens.filter((t) => !t.startsWith('--'));
  const paths = execForm(rest.join(' ')) ?? rest;
  const from = flags.find((f) => f.startsWith('--from='))?.slice('--from='.length);
  return { from, sources: paths.slice(0, -1), dest: paths.at(-1) ?? '' };
}

/** The stage's working directory after its last WORKDIR (absolute paths only, as ours are). */
const workdir = (stage: Stage) => stage.steps.filter((s) => s.keyword === 'WORKDIR').at(-1)?.args ?? '/';
const all = (stage: Stage, keyword: string) => stage.steps.filter((s) => s.keyword === keyword);

const stages = parseDockerfile(read('Dockerfile'));
const final = stages.at(-1) as Stage;
const ignored = read('.dockerignore')
  .split('\n')
  .map((l) => l.trim().replace(/^\/|\/$/g, ''))
  .filter((l) => l !== '' && !l.startsWith('#') && !l.startsWith('!'));
const isIgnored = (path: string) =>
  ignored.some((pattern) => new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*')}(/|$)`).test(path));
const outDir = (JSON.parse(read('tsconfig.build.json')) as { compilerOptions: { outDir: string } }).compilerOptions.outDir;

describe('Dockerfile', () => {
  it('copies from the build context only files that exist and that .dockerignore lets through', () => {
    const sources = stages.flatMap((s) => all(s, 'COPY').map((c) => parseCopy(c.args))).filter((c) => c.from === undefined).flatMap((c) => c.sources);
    expect(sources.length).toBeGreaterThan(0);
    for (const source of sources.map((s) => posix.normalize(s).replace(/\/$/, ''))) {
      expect(existsSync(new URL(source, root)), `COPY source ${source} is missing from the repo`).toBe(true);
      expect(isIgnored(source), `COPY source ${source} is excluded by .dockerignore`).toBe(false);
    }
  });

  it('installs dependencies from the lock file: all of them to build, production ones to run', () => {
    const [build] = stages;
    const runs = (stage: Stage) => all(stage, 'RUN').map((r) => r.args);
    const copiesLock = (stage: Stage) => all(stage, 'COPY').some((c) => parseCopy(c.args).sources.includes('package-lock.json'));
    expect(build && copiesLock(build) && copiesLock(final)).toBe(true);
    expect(runs(build as Stage).some((r) => /\bnpm ci\b/.test(r))).toBe(true);
    expect(runs(build as Stage).some((r) => /\bnpm run build\b/.test(r))).toBe(true);
    expect(runs(final).some((r) => /\bnpm ci\b.*--omit=dev/.test(r))).toBe(true);
    expect(runs(final).some((r) => /npm run build/.test(r))).toBe(false);
  });

  it('starts the CLI that `npm run build` emits, copied from the build stage, and it runs', () => {
    const entrypoint = execForm(all(final, 'ENTRYPOINT').at(-1)?.args ?? '');
    expect(entrypoint?.[0]).toBe('node');
    const script = posix.resolve(workdir(final), entrypoint?.[1] ?? '');
    const fromBuild = all(final, 'COPY').map((c) => parseCopy(c.args)).filter((c) => c.from !== undefined);
    const copy = fromBuild.find((c) => script.startsWith(`${posix.resolve(workdir(final), c.dest)}/`));
    expect(copy, `no COPY --from puts ${script} into the image`).toBeDefined();
    const builder = stages.find((s) => s.name === copy?.from) as Stage;
    expect(copy?.sources).toEqual([posix.join(workdir(builder), outDir)]);

    const inRepo = posix.join(outDir, posix.relative(posix.resolve(workdir(final), copy?.dest ?? ''), script));
    const pkg = JSON.parse(read('package.json')) as { bin: Record<string, string> };
    expect(Object.values(pkg.bin)).toContain(inRepo);
    expect(existsSync(new URL(inRepo, root)), `${inRepo} missing: run \`npm run build\` first`).toBe(true);
    // `<CMD's command> --help`: proves the modules load and the image's command exists.
    const command = execForm(all(final, 'CMD').at(-1)?.args ?? '')?.[0] ?? '';
    const help = spawnSync(process.execPath, [inRepo, command, '--help'], { cwd: root, encoding: 'utf8', timeout: 20_000 });
    expect(help.status).toBe(0);
    expect(help.stdout).toContain('Usage: inventory-prober');
  });

  it('runs the daemon in exec form (node is PID 1 and gets SIGTERM) with the mounted config', () => {
    expect(execForm(all(final, 'CMD').at(-1)?.args ?? '')).toEqual(['run', '--config', '/etc/inventory-prober/config.yaml']);
  });

  it('runs as a numeric, non-root user in a Node 24 production image', () => {
    expect(final.base).toMatch(/^node:24[.-]/);
    const [uid, gid] = (all(final, 'USER').at(-1)?.args ?? '').split(':');
    expect(uid).toMatch(/^\d+$/);
    expect(Number(uid)).toBeGreaterThan(0);
    if (gid !== undefined) expect(gid).toMatch(/^\d+$/);
    expect(all(final, 'ENV').map((e) => e.args)).toContain('NODE_ENV=production');
  });

  it('compiles the native ICMP engine in the build stage with `npm run build`, and ships it without ping or fping', () => {
    const [build] = stages;
    const runs = (stage: Stage) => all(stage, 'RUN').map((r) => r.args);
    const install = runs(build as Stage).find((r) => /apt-get install/.test(r)) ?? '';
    expect(install).toMatch(/\bgcc\b/);
    expect(install).toContain('--no-install-recommends');
    expect(install).toContain('rm -rf /var/lib/apt/lists');
    const copied = all(build as Stage, 'COPY').flatMap((c) => parseCopy(c.args).sources.map((s) => posix.normalize(s).replace(/\/$/, '')));
    expect(copied).toEqual(expect.arrayContaining(['native', 'scripts/build-native.mjs']));
    // dist/, copied whole into the runtime stage, holds the addon `npm run build` compiled.
    expect(existsSync(new URL(`${outDir}/native/icmp_echo.node`, root)), 'run `npm run build` first').toBe(true);
    expect(runs(final).join('\n')).not.toMatch(/\b(fping|iputils-ping)\b/);
  });

  it('exposes the default metrics port and checks health with node against it', async () => {
    expect(all(final, 'EXPOSE').map((e) => e.args)).toContain(String(DEFAULTS.metrics.port));
    const healthcheck = all(final, 'HEALTHCHECK').at(-1)?.args ?? 'NONE';
    const command = execForm(healthcheck.slice(healthcheck.indexOf('CMD') + 3).trim());
    expect(command?.slice(0, 2)).toEqual(['node', '-e']);
    const script = command?.[2] ?? '';
    expect(script).toContain(`127.0.0.1:${DEFAULTS.metrics.port}/healthz`);

    // Run the very command against the daemon's HTTP server (on a free port) and against nothing.
    // Asynchronously: this process serves the request the child makes.
    const port = await freePort();
    const probe = () =>
      new Promise<number | null>((resolve, reject) => {
        const child = spawn(process.execPath, ['-e', script.replace(`:${DEFAULTS.metrics.port}/`, `:${port}/`)], { stdio: 'ignore', timeout: 20_000 });
        child.once('error', reject);
        child.once('close', resolve);
      });
    const http = await startHttpServer({ registry: new Registry(), readiness: async () => ({ ready: false, checks: {} }) }, '127.0.0.1', port);
    try {
      expect(await probe()).toBe(0);
    } finally {
      await http.close();
    }
    expect(await probe()).toBe(1);
  });
});

describe('.dockerignore', () => {
  it('keeps local dependencies and build output out of the build context', () => {
    expect(ignored).toContain('node_modules');
    expect(ignored).toContain('dist');
  });
});
