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

export function createLogger(level: LogLevel, destination?: NodeJS.WritableStream): Logger {
  const options = {
    level,
    base: { service: 'inventory-prober' },
    redact: { paths: REDACT_PATHS, censor: '<secret>' },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label: string) => ({ level: label }) },
  };
  return destination ? pino(options, destination as pino.DestinationStream) : pino(options);
}
