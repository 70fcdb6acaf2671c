import { SECRET_KEYS } from './defaults.js';
import { isSecret, Secret } from './secret.js';

export interface ConfigProblem {
  /** Dotted snake_case path as written in YAML, e.g. `probes.snmp.version`. */
  key: string;
  /** What is wrong, stating the expected form. Never contains a secret's value. */
  message: string;
}

/** Reads one raw value at a time and collects every problem instead of stopping at the first. */
export class Reader {
  readonly problems: ConfigProblem[] = [];
  /** Sections that are not mappings: their keys are not reported again one by one. */
  private readonly broken: string[] = [];

  constructor(private readonly raw: unknown) {}

  get(key: string): unknown {
    let node = this.raw;
    for (const part of key.split('.')) node = isMapping(node) ? node[part] : undefined;
    return node;
  }

  problem(key: string, message: string): void {
    if (!this.broken.some((section) => key.startsWith(`${section}.`))) this.problems.push({ key, message });
  }

  /** Reports that `key` must have `expected` form, echoing what was given unless it is a secret. */
  private fail(key: string, expected: string): undefined {
    const value = this.get(key);
    const got = value === undefined ? 'not set' : SECRET_KEYS.has(key) ? 'got <secret>' : `got ${JSON.stringify(value)?.slice(0, 60)}`;
    this.problem(key, `${expected} (${got})`);
    return undefined;
  }

  int(key: string, min: number, max?: number): number | undefined {
    const v = this.get(key);
    if (Number.isInteger(v) && (v as number) >= min && (max === undefined || (v as number) <= max)) return v as number;
    return this.fail(key, max === undefined ? `must be a whole number ≥ ${min}` : `must be a whole number from ${min} to ${max}`);
  }

  number(key: string, min: number, max: number): number | undefined {
    const v = this.get(key);
    return typeof v === 'number' && v >= min && v <= max ? v : this.fail(key, `must be a number from ${min} to ${max}`);
  }

  positiveNumber(key: string): number | undefined {
    const v = this.get(key);
    return typeof v === 'number' && Number.isFinite(v) && v > 0 ? v : this.fail(key, 'must be a number > 0');
  }

  bool(key: string): boolean | undefined {
    const v = this.get(key);
    return typeof v === 'boolean' ? v : this.fail(key, 'must be true or false');
  }

  oneOf<T extends string>(key: string, allowed: readonly T[]): T | undefined {
    const v = this.get(key);
    return allowed.includes(v as T) ? (v as T) : this.fail(key, `must be one of ${allowed.map((a) => `"${a}"`).join(', ')}`);
  }

  string(key: string): string | undefined {
    const v = this.get(key);
    return typeof v === 'string' && v.trim() !== '' ? v : this.fail(key, 'must be a non-empty string');
  }

  optionalString(key: string): string | undefined {
    return this.get(key) === undefined ? undefined : this.string(key);
  }

  idList(key: string): number[] | undefined {
    const v = this.get(key);
    const ok = Array.isArray(v) && v.every((id) => Number.isInteger(id) && id >= 1);
    return ok ? [...(v as number[])] : this.fail(key, 'must be a list of whole numbers ≥ 1, e.g. [12, 40]');
  }

  /** `["10.0.0.1:26379", "sentinel-b:26379"]`; the environment's comma-separated form is split by the loader. */
  hostPortList(key: string): string[] | undefined {
    const v = this.get(key);
    const ok = Array.isArray(v) && v.every((item) => typeof item === 'string' && parseHostPort(item) !== undefined);
    return ok ? [...(v as string[])] : this.fail(key, 'must be a list of host:port, e.g. ["10.0.0.1:26379", "sentinel-b:26379"]');
  }

  httpUrl(key: string): string | undefined {
    const v = this.get(key);
    return typeof v === 'string' && hasProtocol(v, ['http:', 'https:']) ? v : this.fail(key, 'must be a URL starting with http:// or https://');
  }

  redisUrl(key: string): Secret | undefined {
    const secret = this.secret(key);
    if (secret && hasProtocol(secret.reveal(), ['redis:', 'rediss:'])) return secret;
    return this.fail(key, 'must be a URL starting with redis:// or rediss://');
  }

  /** Secrets arrive wrapped by the loader; a plain string from a direct caller is wrapped here. */
  secret(key: string): Secret | undefined {
    const v = this.get(key);
    if (v === undefined || isSecret(v)) return v;
    return typeof v === 'string' && v !== '' ? new Secret(v) : this.fail(key, 'must be a non-empty string');
  }

  /** Every key must be one the prober knows: a typo like `down_afer` would otherwise be ignored. */
  checkKeys(shape: object, node: unknown = this.raw, prefix = ''): void {
    if (!isMapping(node)) {
      if (node === undefined && prefix !== '') return;
      this.problem(prefix || '(top level)', `must be a mapping with keys ${Object.keys(shape).join(', ')}`);
      if (prefix) this.broken.push(prefix);
      return;
    }
    for (const [name, value] of Object.entries(node)) {
      const key = prefix ? `${prefix}.${name}` : name;
      if (!Object.hasOwn(shape, name)) {
        this.problem(key, `is not a known key${suggest(name, Object.keys(shape))}; expected one of ${Object.keys(shape).join(', ')}`);
        continue;
      }
      const inner: unknown = (shape as Record<string, unknown>)[name];
      if (isMapping(inner)) this.checkKeys(inner, value, key);
    }
  }
}

export const isMapping = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && Object.getPrototypeOf(v) === Object.prototype;

/** `host:port` or `[v6]:port`, port 1–65535; undefined when it is neither. */
export function parseHostPort(value: string): { host: string; port: number } | undefined {
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|([^\s:/[\]]+)):(\d{1,5})$/.exec(value.trim());
  const port = Number(match?.[3]);
  const host = match?.[1] ?? match?.[2];
  return host && port >= 1 && port <= 65535 ? { host, port } : undefined;
}

function hasProtocol(value: string, protocols: string[]): boolean {
  try {
    return protocols.includes(new URL(value).protocol);
  } catch {
    return false;
  }
}

/** ` (did you mean "down_after"?)` when a known key is within two edits of the typo. */
function suggest(name: string, known: string[]): string {
  const best = known.map((k) => ({ k, d: editDistance(name, k) })).sort((a, b) => a.d - b.d)[0];
  return best && best.d <= 2 ? ` (did you mean "${best.k}"?)` : '';
}

function editDistance(a: string, b: string): number {
  let row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const next = [i];
    for (let j = 1; j <= b.length; j++) {
      next[j] = Math.min((row[j] as number) + 1, (next[j - 1] as number) + 1, (row[j - 1] as number) + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    row = next;
  }
  return row[b.length] as number;
}
