export { DEFAULTS, SECRET_KEYS, type RawConfig } from './defaults.js';
export { ConfigError, loadConfig, type LoadOptions } from './load.js';
export { redactRedisUrl, renderEffectiveConfig } from './print.js';
export { validateConfig, type ConfigProblem, type ConfigResult, type ValidateOptions } from './schema.js';
export { isSecret, Secret } from './secret.js';
export type * from './types.js';
