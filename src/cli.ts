#!/usr/bin/env node
import { parseArgs } from 'node:util';
import { main } from './cli/commands.js';

const { positionals, values } = parseArgs({
  allowPositionals: true,
  strict: false,
  options: {
    config: { type: 'string', short: 'c' },
    role: { type: 'string' },
    community: { type: 'string' },
    'snmp-version': { type: 'string' },
    once: { type: 'boolean' },
    'dry-run': { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  },
});

main(positionals, values as Record<string, string | boolean | undefined>).then(
  (code) => {
    if (code !== undefined) process.exitCode = code;
  },
  (err: Error) => {
    process.stderr.write(`inventory-prober: ${err.message}\n`);
    process.exitCode = 1;
  },
);
