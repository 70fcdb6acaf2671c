import js from '@eslint/js';
import path from 'node:path';
import tseslint from 'typescript-eslint';
import layering from './eslint/layering.js';

/**
 * The layers of src/, top to bottom: a folder (or top-level file, by name without extension)
 * imports only from folders on lower lines. Folders on one line are peers and do not import each
 * other. docs/architecture.md draws the same map; docs/development.md says how to change it.
 */
export const LAYERS = [
  ['cli'], //               cli.ts and cli/: commands, argument parsing
  ['demo'], //              the loopback demo (runs the daemon)
  ['main'], //              composition root
  ['roles'], //             scheduler and worker roles wired from their parts
  ['http'], //              /metrics, /healthz, /readyz, /-/reload, the status page
  ['lifecycle'], //         readiness, reload, shutdown
  ['scheduler', 'worker'], // the sweep; the probe job processor
  ['reporter'], //          the PATCH job processor
  ['queue', 'metrics'], //  BullMQ queues and job shapes; every metric, per-device series
  ['status'], //            hysteresis state machine and its Redis stores
  ['probes'], //            ICMP and SNMP probes and their vendor adapters
  ['inventory'], //         the inventory API client, device parsing and validation
  ['redis'], //             every Redis key and Lua script, the connection factory
  ['log'],
  ['config'],
  ['errors'], //            the ProberError base
];

export default tseslint.config(
  { ignores: ['dist/', 'dist-bench/', 'node_modules/', 'coverage/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-console': 'off',
    },
  },
  {
    files: ['src/**/*.ts'],
    plugins: { layering },
    rules: {
      'layering/downward-only': ['error', { root: path.join(import.meta.dirname, 'src'), layers: LAYERS }],
    },
  },
);
