import { execFileSync, spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { CLI, waitFor } from '../support/daemon.js';

/** Every descendant pid of `root`, from ps. */
function descendants(root: number): number[] {
  const rows = execFileSync('ps', ['-eo', 'pid=,ppid='], { encoding: 'utf8' })
    .trim()
    .split('\n')
    .map((l) => l.trim().split(/\s+/).map(Number) as [number, number]);
  const found: number[] = [];
  const walk = (pid: number) => {
    for (const [child, parent] of rows) {
      if (parent !== pid) continue;
      found.push(child);
      walk(child);
    }
  };
  walk(root);
  return found;
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe('inventory-prober demo', () => {
  it('flips devices, PATCHes the demo inventory, serves its URLs, and leaves no process behind on Ctrl-C', async () => {
    const env = { PATH: process.env.PATH ?? '', DEMO_FLIP_SECONDS: '2', DEMO_INTERVAL_SECONDS: '1', DEMO_DEVICES: '6' };
    const demo = spawn(process.execPath, [CLI, 'demo'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    demo.stdout.setEncoding('utf8').on('data', (c: string) => (out += c));
    demo.stderr.setEncoding('utf8').on('data', (c: string) => (out += c));
    const exited = new Promise<number | null>((r) => demo.once('exit', (code) => r(code)));
    try {
      await waitFor('a PATCH {"status":false}', () => out.includes('{"status":false}'), 45_000);
      await waitFor('a PATCH {"status":true}', () => out.includes('{"status":true}'), 45_000);
      expect(out).toMatch(/"msg":"device flipped"/);
      const metricsUrl = /metrics\s+(http:\/\/127\.0\.0\.1:\d+\/metrics)/.exec(out)?.[1];
      expect(metricsUrl).toBeDefined();
      expect(await (await fetch(metricsUrl as string)).text()).toContain('inventory_prober_flips_total');
      const children = descendants(demo.pid as number);
      expect(children.length).toBeGreaterThan(0); // the throw-away redis-server at least
      demo.kill('SIGINT');
      expect(await exited).toBe(0);
      await waitFor('every child process to be gone', () => children.every((pid) => !alive(pid)), 10_000);
    } finally {
      if (demo.exitCode === null) demo.kill('SIGKILL');
    }
  }, 120_000);
});
