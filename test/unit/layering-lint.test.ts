import { ESLint } from 'eslint';
import { describe, expect, it } from 'vitest';

// The repository's own eslint.config.js, as `npm run lint` in CI runs it.
const eslint = new ESLint({ cwd: new URL('../..', import.meta.url).pathname });

async function layeringErrors(filePath: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath });
  return (result?.messages ?? []).filter((m) => m.ruleId === 'layering/downward-only').map((m) => m.message);
}

describe('lint: src/ folders import only downward', () => {
  it('fails an import from a folder above (queue → scheduler)', async () => {
    const errors = await layeringErrors('src/queue/x.ts', "import { slotDelayMs } from '../scheduler/phase.js';\nexport const f = slotDelayMs;\n");
    expect(errors).toEqual([expect.stringContaining('queue may not import from scheduler (above it)')]);
  });

  it('fails an import between peers on one layer (scheduler → worker) and a re-export upward', async () => {
    expect(await layeringErrors('src/scheduler/x.ts', "export { checkDevice } from '../worker/check-device.js';\n")).toEqual([
      expect.stringContaining('scheduler may not import from worker (on the same layer)'),
    ]);
    expect(await layeringErrors('src/metrics/x.ts', "export * from '../http/server.js';\n")).toHaveLength(1);
  });

  it('judges an import by where it lands, from a sub-folder too', async () => {
    expect(await layeringErrors('src/probes/native/x.ts', "import { x } from '../../worker/probe-worker.js';\nexport const y = x;\n")).toHaveLength(1);
    expect(await layeringErrors('src/probes/native/x.ts', "import { x } from '../errors.js';\nexport const y = x;\n")).toEqual([]);
  });

  it('lets a folder import from lower layers, its own folder and packages', async () => {
    const code = "import type { Config } from '../config/types.js';\nimport { redisKeys } from '../redis/keys.js';\nimport { x } from './y.js';\nimport { Queue } from 'bullmq';\nexport type T = [Config, typeof redisKeys, typeof x, Queue];\n";
    expect(await layeringErrors('src/scheduler/x.ts', code)).toEqual([]);
  });

  it('asks a new folder to be placed in the layer order before it imports or is imported', async () => {
    expect(await layeringErrors('src/groups/x.ts', "import type { Config } from '../config/types.js';\nexport type T = Config;\n")).toEqual([
      expect.stringContaining('src/groups has no place in the layer order'),
    ]);
  });
});
