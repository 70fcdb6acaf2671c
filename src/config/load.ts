import { readFile as fsReadFile } from 'node:fs/promises';
import { parseDocument } from 'yaml';
import { ProberError } from '../errors.js';
import { DEFAULTS } from './defaults.js';
import { isMapping, validateConfig, type ConfigProblem, type ConfigResult } from './schema.js';
import { Secret } from './secret.js';
import type { Role } from './types.js';

export interface LoadOptions {
  /** YAML file; without it the configuration is defaults plus environment. */
  file?: string;
  env?: NodeJS.ProcessEnv;
  /** Reads the config file and secret files; injected so tests need no disk. */
  readFile?: ReadFile;
  /** False for commands that never talk to the inventory: inventory.url may then be unset. */
  requireInventory?: boolean;
  /** The role to run (`run --role`): a site worker without the reporter needs no inventory.url. */
  role?: Role;
}

/** Plain (non-secret) settings the environment may override; secrets are resolved separately. */
const ENV_OVERRIDES = {
  INVENTORY_URL: 'inventory.url',
  REDIS_URL: 'redis.url',
  REDIS_SENTINELS: 'redis.sentinels',
  REDIS_SENTINEL_NAME: 'redis.sentinel_name',
  METRICS_PORT: 'metrics.port',
  LOG_LEVEL: 'log.level',
  // A comma-separated list (`WORKER_GROUPS=site-a,site-b`): one image, one config, per-site env.
  WORKER_GROUPS: 'worker.groups',
} as const;

interface SecretSpec {
  key: string;
  fileKey: string;
  env: string;
  /** Communities like `public` are routinely written in config; keys and tokens are not. */
  inlineAllowed: boolean;
}

const SECRETS: SecretSpec[] = [
  { key: 'inventory.token', fileKey: 'inventory.token_file', env: 'INVENTORY_TOKEN', inlineAllowed: false },
  { key: 'redis.password', fileKey: 'redis.password_file', env: 'REDIS_PASSWORD', inlineAllowed: false },
  { key: 'redis.sentinel_password', fileKey: 'redis.sentinel_password_file', env: 'REDIS_SENTINEL_PASSWORD', inlineAllowed: false },
  { key: 'probes.snmp.community', fileKey: 'probes.snmp.community_file', env: 'SNMP_COMMUNITY', inlineAllowed: true },
  { key: 'probes.snmp.v3.auth_key', fileKey: 'probes.snmp.v3.auth_key_file', env: 'SNMP_V3_AUTH_KEY', inlineAllowed: false },
  { key: 'probes.snmp.v3.priv_key', fileKey: 'probes.snmp.v3.priv_key_file', env: 'SNMP_V3_PRIV_KEY', inlineAllowed: false },
];

type ReadFile = (path: string) => Promise<string>;

/** Thrown by callers that cannot go on with a bad configuration; the CLI exits with `exitCode`. */
export class ConfigError extends ProberError {
  readonly kind = 'config';
  readonly retryable = false;
  readonly exitCode = 2;

  constructor(readonly problems: ConfigProblem[]) {
    super(`invalid configuration: ${problems.map((p) => `${p.key}: ${p.message}`).join('; ')}`);
  }
}

/**
 * Builds the effective configuration: DEFAULTS ← YAML file ← environment, with secrets taken
 * from env variables or files (never echoed). Returns every problem at once, never throws.
 */
export async function loadConfig(options: LoadOptions = {}): Promise<ConfigResult> {
  const env = options.env ?? {};
  const readFile = options.readFile ?? ((path: string) => fsReadFile(path, 'utf8'));
  const file = options.file === undefined ? { layer: {}, problems: [] } : await readYamlFile(options.file, readFile);
  // A file that does not parse would only add noise below (every key of it "missing").
  if (file.problems.length > 0) return { ok: false, problems: file.problems };

  const secrets = await resolveSecrets(file.layer, env, readFile);
  const merged = [cadenceLayer(file.layer), redisLayer(file.layer, env), envLayer(env), secrets.layer].reduce((acc: unknown, layer) => merge(acc, layer), overDefaults(DEFAULTS, file.layer));
  const result = validateConfig(merged, { requireInventory: options.requireInventory, role: options.role });
  const problems = [...secrets.problems, ...(result.ok ? [] : result.problems.map((p) => withEnvSource(p, env)))];
  return problems.length > 0 || !result.ok ? { ok: false, problems } : result;
}

async function readYamlFile(path: string, readFile: ReadFile): Promise<{ layer: object; problems: ConfigProblem[] }> {
  let text: string;
  try {
    text = await readFile(path);
  } catch (err) {
    return { layer: {}, problems: [{ key: path, message: `cannot read the config file (${errorCode(err)})` }] };
  }
  const doc = parseDocument(text);
  if (doc.errors.length > 0) {
    // Only the first line of yaml's message: the rest quotes the file, which may hold a secret.
    const problems = doc.errors.map((e) => {
      const at = e.linePos?.[0];
      const what = e.message.split('\n')[0]?.replace(/ at line \d+, column \d+:?$/, '');
      return { key: path, message: `YAML syntax error${at ? ` at line ${at.line}, column ${at.col}` : ''}: ${what}` };
    });
    return { layer: {}, problems };
  }
  const value = nullsToUndefined(doc.toJS());
  if (value === undefined) return { layer: {}, problems: [] };
  if (!isMapping(value)) {
    return { layer: {}, problems: [{ key: path, message: `must be a YAML mapping of sections (${Object.keys(DEFAULTS).join(', ')})` }] };
  }
  return { layer: value, problems: [] };
}

/**
 * Picks each secret from the first source that has it: env value, env `_FILE`, the file's
 * `*_file` path, then (community only) the inline value. The result layer sets both the secret
 * and its path key, so an inline token from the file never reaches validation.
 */
async function resolveSecrets(fileLayer: object, env: NodeJS.ProcessEnv, readFile: ReadFile): Promise<{ layer: object; problems: ConfigProblem[] }> {
  const layer: Record<string, unknown> = {};
  const problems: ConfigProblem[] = [];
  for (const spec of SECRETS) {
    const found = await resolveSecret(spec, fileLayer, env, readFile, problems);
    setPath(layer, spec.key, found.secret);
    setPath(layer, spec.fileKey, found.path);
  }
  return { layer, problems };
}

async function resolveSecret(spec: SecretSpec, fileLayer: object, env: NodeJS.ProcessEnv, readFile: ReadFile, problems: ConfigProblem[]): Promise<{ secret?: Secret; path?: string }> {
  const envValue = env[spec.env] || undefined;
  const envPath = env[`${spec.env}_FILE`] || undefined;
  const inline = getPath(fileLayer, spec.key);
  const filePath = getPath(fileLayer, spec.fileKey);
  const report = (key: string, message: string) => problems.push({ key, message });
  if (inline !== undefined && !spec.inlineAllowed) {
    report(spec.key, `must not be written in the config file: put it in a file only the prober can read and set ${spec.fileKey} (or ${spec.env}_FILE), or set ${spec.env}`);
  }
  if (envValue && envPath) report(spec.key, `set only one of ${spec.env} and ${spec.env}_FILE`);
  if (spec.inlineAllowed && inline !== undefined && filePath !== undefined) report(spec.key, `set only one of ${spec.key} and ${spec.fileKey}`);
  if (envValue) return { secret: new Secret(envValue) };
  if (envPath) return readSecretFile(envPath, { key: spec.fileKey, from: ` (from ${spec.env}_FILE)` }, readFile, problems);
  if (filePath !== undefined) {
    if (typeof filePath === 'string' && filePath !== '') return readSecretFile(filePath, { key: spec.fileKey, from: '' }, readFile, problems);
    report(spec.fileKey, 'must be the path of a file holding the secret');
    return {};
  }
  if (inline === undefined || !spec.inlineAllowed) return {};
  if (typeof inline === 'string' && inline !== '') return { secret: new Secret(inline) };
  report(spec.key, 'must be a non-empty string (quote it in YAML)');
  return {};
}

/** The file's content minus its trailing newline (editors and `echo` add one). Never echoed. */
async function readSecretFile(path: string, at: { key: string; from: string }, readFile: ReadFile, problems: ConfigProblem[]): Promise<{ secret?: Secret; path?: string }> {
  try {
    const value = (await readFile(path)).replace(/\r?\n$/, '');
    if (value !== '') return { secret: new Secret(value), path };
    problems.push({ key: at.key, message: `file "${path}"${at.from} is empty; it must hold the secret` });
  } catch (err) {
    problems.push({ key: at.key, message: `cannot read file "${path}"${at.from} (${errorCode(err)}); it must be readable by the prober` });
  }
  return { path };
}

/** A YAML `key:` with no value (null) explicitly unsets the default, like leaving it out of Config. */
function nullsToUndefined(value: unknown): unknown {
  if (value === null) return undefined;
  if (Array.isArray(value)) return value.map(nullsToUndefined);
  if (isMapping(value)) return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, nullsToUndefined(v)]));
  return value;
}

/** Writing `cron:` replaces the default interval; writing both is reported by validation. */
function cadenceLayer(fileLayer: object): object {
  const schedule = (fileLayer as { schedule?: unknown }).schedule;
  if (!isMapping(schedule) || schedule.cron === undefined || Object.hasOwn(schedule, 'interval_seconds')) return {};
  return { schedule: { interval_seconds: undefined } };
}

/** Naming sentinels replaces the default single-server URL; a URL written beside them is reported by validation. */
function redisLayer(fileLayer: object, env: NodeJS.ProcessEnv): object {
  const listed = getPath(fileLayer, 'redis.sentinels');
  const sentinelsGiven = Boolean(env.REDIS_SENTINELS) || (listed !== undefined && !(Array.isArray(listed) && listed.length === 0));
  const urlGiven = Boolean(env.REDIS_URL) || getPath(fileLayer, 'redis.url') !== undefined;
  return sentinelsGiven && !urlGiven ? { redis: { url: undefined } } : {};
}

function envLayer(env: NodeJS.ProcessEnv): object {
  const layer: Record<string, unknown> = {};
  for (const [name, key] of Object.entries(ENV_OVERRIDES)) {
    const value = env[name];
    // Empty means unset: orchestrators often template `FOO=` for an absent value.
    if (value === undefined || value === '') continue;
    setPath(layer, key, envValue(name, value));
  }
  return layer;
}

/** Env values are strings; a port becomes a number and `h1:p1,h2:p2` a list, as in YAML. */
function envValue(name: string, value: string): unknown {
  if (name === 'METRICS_PORT' && /^\d+$/.test(value)) return Number(value);
  if (name === 'REDIS_SENTINELS') return value.split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (name === 'WORKER_GROUPS') return value.split(',').map((g) => g.trim()).filter((g) => g !== '');
  return value;
}

/** Names the variable behind a bad value, so the operator looks in the right place. */
function withEnvSource(problem: ConfigProblem, env: NodeJS.ProcessEnv): ConfigProblem {
  const name = Object.entries(ENV_OVERRIDES).find(([n, key]) => key === problem.key && env[n])?.[0];
  return name ? { ...problem, message: `${problem.message} (from ${name})` } : problem;
}

/**
 * The file over the defaults: as `merge`, except that whatever the file wrote replaces a default
 * that is not a mapping. `organization: {acme: 12}` where the default is a list must reach
 * validation ("must be a list"), not quietly leave the default list (no filter) in force.
 */
const overDefaults = (defaults: unknown, file: unknown): unknown => merge(defaults, file, false);

/**
 * Deep merge of mappings; anything else (lists, scalars, Secrets, undefined) replaces. A section
 * the file broke (`inventory: [1, 2]`) stays broken so validation reports it, rather than being
 * papered over by an env override for one of its keys (`keepBrokenBase`).
 */
function merge(base: unknown, override: unknown, keepBrokenBase = true): unknown {
  if (keepBrokenBase && isMapping(override) && base !== undefined && !isMapping(base)) return base;
  // `status:` with every key commented out is YAML null: the section keeps its defaults.
  if (override === undefined && isMapping(base)) return base;
  if (!isMapping(base) || !isMapping(override)) return override;
  const out: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(override)) out[key] = merge(base[key], value, keepBrokenBase);
  return out;
}

function getPath(source: object, key: string): unknown {
  let node: unknown = source;
  for (const part of key.split('.')) node = isMapping(node) ? node[part] : undefined;
  return node;
}

function setPath(target: Record<string, unknown>, key: string, value: unknown): void {
  const parts = key.split('.');
  let node = target;
  for (const part of parts.slice(0, -1)) {
    if (!isMapping(node[part])) node[part] = {};
    node = node[part] as Record<string, unknown>;
  }
  node[parts[parts.length - 1] as string] = value;
}

const errorCode = (err: unknown): string =>
  typeof err === 'object' && err !== null && typeof (err as { code?: unknown }).code === 'string' ? (err as { code: string }).code : 'unreadable';
