import { pino, type Logger } from 'pino';
import type { LogLevel } from '../config/types.js';

export type { Logger } from 'pino';

/**
 * Paths pino censors wherever they appear, as a second line of defence behind the Secret type:
 * a raw community or token that slips into a log object still prints as `<secret>`.
 */
const REDACT_PATHS = [
  'token',
  'authorization',
  'headers.authorization',
  '*.token',
  '*.authorization',
  'community',
  'snmpCommunity',
  '*.community',
  '*.snmpCommunity',
  '*.*.snmpCommunity',
  'authKey',
  'privKey',
  '*.authKey',
  '*.privKey',
];

/**
 * `err` fields print the error's type, kind, code, HTTP status, message and stack, each cause's
 * message and stack appended (pino's own serializer), and no other property: a library error can
 * carry what it failed on (an ioredis error keeps the command's arguments, which for the details
 * cache include a community), and that must not reach a log line.
 */
function serializeError(err: unknown): unknown {
  if (!(err instanceof Error)) return err;
  const { type, message, stack } = pino.stdSerializers.err(err);
  const { kind, code, status } = err as { kind?: unknown; code?: unknown; status?: unknown };
  return { type, message, stack, ...(kind !== undefined && { kind }), ...(code !== undefined && { code }), ...(status !== undefined && { status }) };
}

export function createLogger(level: LogLevel, destination?: NodeJS.WritableStream): Logger {
  const options = {
    level,
    base: { service: 'inventory-prober' },
    redact: { paths: REDACT_PATHS, censor: '<secret>' },
    serializers: { err: serializeError },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label: string) => ({ level: label }) },
  };
  return destination ? pino(options, destination as pino.DestinationStream) : pino(options);
}
