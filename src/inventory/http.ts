import { setTimeout as delay } from 'node:timers/promises';
import type { Counter, Gauge, Histogram } from 'prom-client';
import { Pool, type Dispatcher } from 'undici';
import type { Secret } from '../config/secret.js';
import { DEFAULTS } from '../config/defaults.js';
import type { Config } from '../config/types.js';
import type { Logger } from '../log/logger.js';
import {
  InventoryError,
  InventoryHttpError,
  InventoryNetworkError,
  MalformedResponseError,
  type InventoryNetworkErrorKind,
} from './errors.js';
import { RequestGate, type Endpoint } from './gate.js';

export interface InventoryHttp {
  /** GET `<base path><pathAndQuery>` and parse the JSON body; `endpoint` picks the bound and the metric series. */
  getJson(pathAndQuery: string, signal?: AbortSignal, endpoint?: Endpoint): Promise<unknown>;
  /** PATCH a JSON body; resolves on 2xx, throws InventoryHttpError otherwise. */
  patchJson(path: string, body: unknown, signal?: AbortSignal): Promise<{ status: number }>;
  /** Requests started so far, per endpoint kind (retries included). */
  requestsStarted(): Readonly<Record<Endpoint, number>>;
  close(): Promise<void>;
}

/**
 * The request metrics the client records (defined with every other metric in metrics/metrics.ts).
 * Declared here, not imported, because metrics/ sits above inventory/ in the layering.
 */
export interface InventoryRequestMetrics {
  inventoryRequestsTotal: Counter<'method' | 'endpoint' | 'code'>;
  inventoryRequestDurationSeconds: Histogram<'method' | 'endpoint'>;
  inventoryRequestsInFlight: Gauge<'endpoint'>;
}

export interface InventoryHttpOptions {
  /** API base, path prefix kept: `https://host/api/v1`. */
  url: string;
  token: Secret | undefined;
  /** Budget of one attempt, connect to last body byte. */
  timeoutMs: number;
  /** Extra attempts after the first, for network errors, 5xx, 408 and 429. */
  retries: number;
  metrics?: InventoryRequestMetrics;
  logger?: Logger;
  /** Replaces the built-in Pool (tests, proxies); the caller then owns closing it. */
  dispatcher?: Dispatcher;
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  random?: () => number;
  /** Wall clock for Retry-After HTTP-dates. */
  now?: () => number;
  /** Cap on a server's Retry-After, so one header cannot stall a sweep for an hour. */
  maxRetryAfterMs?: number;
  baseBackoffMs?: number;
  maxBackoffMs?: number;
  /**
   * Requests in flight at once per endpoint kind (list: inventory.page_concurrency, detail:
   * inventory.detail_concurrency); the Pool opens as many connections as they add up to.
   */
  concurrency?: Partial<Record<Endpoint, number>>;
}

const DEFAULT_CONCURRENCY: Record<Endpoint, number> = {
  list: DEFAULTS.inventory.page_concurrency,
  detail: DEFAULTS.inventory.detail_concurrency,
  // The reporter paces PATCHes itself (reporter.patches_per_second); this only caps a burst.
  patch: 16,
};

/** What the `inventory` section of the config says about talking to the API. */
export function inventoryHttpSettings(inventory: Config['inventory']): Pick<InventoryHttpOptions, 'url' | 'token' | 'timeoutMs' | 'retries' | 'concurrency'> {
  return {
    url: inventory.url,
    token: inventory.token,
    timeoutMs: inventory.timeout_ms,
    retries: inventory.retries,
    concurrency: { list: inventory.page_concurrency, detail: inventory.detail_concurrency },
  };
}

/** No inventory page is anywhere near this; a bigger body is a broken server or proxy. */
const MAX_BODY_BYTES = 32 * 1024 * 1024;

const defaultSleep = (ms: number, signal?: AbortSignal) => delay(ms, undefined, { signal, ref: false }).catch(() => undefined);

/**
 * The one door to the inventory API. A Pool pinned to the configured origin keeps sockets alive
 * across pages; redirects are never followed, so the bearer token is only ever sent to that
 * origin. Every failure leaves as an InventoryError whose `retryable` drove the retries here.
 */
export function createInventoryHttp(opts: InventoryHttpOptions): InventoryHttp {
  const base = new URL(opts.url);
  const origin = base.origin;
  const prefix = base.pathname.replace(/\/+$/, '');
  const limits = { ...DEFAULT_CONCURRENCY, ...opts.concurrency };
  const dispatcher =
    opts.dispatcher ??
    new Pool(origin, { connections: limits.list + limits.detail + limits.patch, connectTimeout: opts.timeoutMs, maxResponseSize: MAX_BODY_BYTES });
  const log = opts.logger?.child({ component: 'inventory-http' });
  const sleep = opts.sleep ?? defaultSleep;
  const random = opts.random ?? Math.random;
  const now = opts.now ?? Date.now;
  const gate = new RequestGate({ limits, sleep, now, onInFlight: (endpoint, n) => opts.metrics?.inventoryRequestsInFlight.set({ endpoint }, n) });
  const backoff = { baseMs: opts.baseBackoffMs ?? 250, maxMs: opts.maxBackoffMs ?? 10_000 };

  const headers = (json: boolean): Record<string, string> => ({
    accept: 'application/json',
    ...(json ? { 'content-type': 'application/json' } : {}),
    ...(opts.token ? { authorization: `Bearer ${opts.token.reveal()}` } : {}),
  });

  async function attempt(endpoint: Endpoint, method: 'GET' | 'PATCH', path: string, body: string | undefined, signal?: AbortSignal) {
    try {
      return await gate.run(endpoint, signal, () => attemptNow(endpoint, method, path, body, signal));
    } catch (err) {
      if (err instanceof InventoryError) throw err;
      // Only an abort ends a wait for the gate.
      throw new InventoryNetworkError('aborted', method, path, { cause: err });
    }
  }

  async function attemptNow(endpoint: Endpoint, method: 'GET' | 'PATCH', path: string, body: string | undefined, signal?: AbortSignal) {
    const timeout = AbortSignal.timeout(opts.timeoutMs);
    const combined = signal ? AbortSignal.any([signal, timeout]) : timeout;
    const stopTimer = opts.metrics?.inventoryRequestDurationSeconds.startTimer({ method, endpoint });
    let code = 'network';
    let phase: 'headers' | 'body' = 'headers';
    try {
      const res = await dispatcher.request({
        origin,
        path,
        method,
        headers: headers(body !== undefined),
        body,
        signal: combined,
        headersTimeout: opts.timeoutMs,
        bodyTimeout: opts.timeoutMs,
      });
      phase = 'body';
      const text = await res.body.text();
      code = String(res.statusCode);
      if (res.statusCode < 200 || res.statusCode >= 300) {
        throw new InventoryHttpError({
          status: res.statusCode,
          method,
          path,
          detail: errorDetail(text),
          retryAfterMs: parseRetryAfterMs(headerValue(res.headers['retry-after']), now(), opts.maxRetryAfterMs ?? 60_000),
          location: headerValue(res.headers.location),
        });
      }
      return { status: res.statusCode, text };
    } catch (err) {
      if (err instanceof InventoryError) throw err;
      const wrapped = wrapFailure(err, method, path, phase, signal, timeout);
      code = wrapped.kind;
      throw wrapped;
    } finally {
      opts.metrics?.inventoryRequestsTotal.inc({ method, endpoint, code });
      stopTimer?.();
    }
  }

  async function send(endpoint: Endpoint, method: 'GET' | 'PATCH', pathAndQuery: string, body: string | undefined, signal?: AbortSignal) {
    const path = prefix + pathAndQuery;
    for (let n = 0; ; n++) {
      try {
        return await attempt(endpoint, method, path, body, signal);
      } catch (err) {
        if (!(err instanceof InventoryError) || !err.retryable || n >= opts.retries || signal?.aborted) throw err;
        const retryAfterMs = err instanceof InventoryHttpError ? err.retryAfterMs : undefined;
        const delayMs = retryAfterMs ?? backoffDelayMs(n, backoff.baseMs, backoff.maxMs, random);
        log?.debug({ method, path, kind: err.kind, retry: n + 1, delayMs }, 'inventory request failed; retrying');
        // The server itself pushed back: every request of this process waits, not only this one.
        // A network error may be this one request's bad luck, so only it waits.
        if (err instanceof InventoryHttpError) gate.slowDown(delayMs);
        else await sleep(delayMs, signal);
      }
    }
  }

  return {
    async getJson(pathAndQuery, signal, endpoint = 'list') {
      const { text } = await send(endpoint, 'GET', pathAndQuery, undefined, signal);
      try {
        return JSON.parse(text) as unknown;
      } catch (err) {
        const problem = text.length === 0 ? 'empty body' : 'body is not valid JSON';
        throw new MalformedResponseError('GET', prefix + pathAndQuery, problem, { cause: err });
      }
    },
    async patchJson(path, body, signal) {
      const { status } = await send('patch', 'PATCH', path, JSON.stringify(body), signal);
      return { status };
    },
    requestsStarted: () => gate.requestsStarted,
    async close() {
      if (!opts.dispatcher) await dispatcher.close();
    },
  };
}

function wrapFailure(
  err: unknown,
  method: string,
  path: string,
  phase: 'headers' | 'body',
  signal: AbortSignal | undefined,
  timeout: AbortSignal,
): InventoryError {
  if (signal?.aborted) return new InventoryNetworkError('aborted', method, path, { cause: err });
  if (timeout.aborted) return new InventoryNetworkError('timeout', method, path, { cause: err });
  const kind = classifyNetworkError(err, phase);
  if (kind === 'too_large') return new MalformedResponseError(method, path, `body larger than ${MAX_BODY_BYTES} bytes`, { cause: err });
  return new InventoryNetworkError(kind, method, path, { cause: err });
}

type FailureClass = InventoryNetworkErrorKind | 'too_large';

/** Maps undici and socket codes to what the operator can act on; never reads `message`. */
function classifyNetworkError(err: unknown, phase: 'headers' | 'body'): FailureClass {
  const code = (err as { code?: unknown } | null)?.code;
  switch (code) {
    case 'UND_ERR_HEADERS_TIMEOUT':
    case 'UND_ERR_BODY_TIMEOUT':
      return 'timeout';
    case 'UND_ERR_CONNECT_TIMEOUT':
    case 'ECONNREFUSED':
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return 'connect';
    case 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH':
      return 'truncated';
    case 'UND_ERR_RES_EXCEEDED_MAX_SIZE':
      return 'too_large';
    default:
      // A socket that dies after the headers arrived cut the body short.
      return phase === 'body' ? 'truncated' : code === 'UND_ERR_SOCKET' || code === 'ECONNRESET' || code === 'EPIPE' ? 'reset' : 'network';
  }
}

/** Full jitter (AWS architecture blog): spreads the retries of many sweepers evenly. */
export function backoffDelayMs(retry: number, baseMs: number, maxMs: number, random: () => number): number {
  return Math.floor(random() * Math.min(maxMs, baseMs * 2 ** retry));
}

/** `Retry-After` as delta-seconds or HTTP-date, capped; undefined when absent or unreadable. */
export function parseRetryAfterMs(value: string | undefined, nowMs: number, capMs: number): number | undefined {
  if (value === undefined) return undefined;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Math.min(Number(trimmed) * 1000, capMs);
  const at = Date.parse(trimmed);
  return Number.isNaN(at) ? undefined : Math.min(Math.max(0, at - nowMs), capMs);
}

function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/** A short, single-line excerpt of an error body, so a 400 can say which filter was wrong. */
function errorDetail(text: string): string | undefined {
  // eslint-disable-next-line no-control-regex
  const line = text.replace(/[\u0000-\u001f\u007f]+/g, ' ').trim();
  return line ? line.slice(0, 200) : undefined;
}
