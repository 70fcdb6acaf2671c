import { ProberError } from '../errors.js';

/** Base of every failure talking to the inventory API. */
export abstract class InventoryError extends ProberError {}

export type InventoryHttpErrorKind =
  | 'unauthorized'
  | 'forbidden'
  | 'bad_request'
  | 'not_found'
  | 'rate_limited'
  | 'server_error'
  | 'redirect'
  | 'rejected';

export interface HttpFailure {
  status: number;
  method: string;
  /** Path and query as sent (base path included); never holds the token. */
  path: string;
  /** Short excerpt of the server's own explanation, when it gave one. */
  detail?: string;
  /** From a 429/503 `Retry-After`, already capped; read by the reporter's backoff. */
  retryAfterMs?: number;
  /** From a 3xx `Location`. */
  location?: string;
}

/** The inventory answered with a status that is not 2xx. */
export class InventoryHttpError extends InventoryError {
  readonly kind: InventoryHttpErrorKind;
  readonly retryable: boolean;
  readonly status: number;
  readonly method: string;
  readonly path: string;
  readonly detail: string | undefined;
  readonly retryAfterMs: number | undefined;

  constructor(f: HttpFailure) {
    super(describeHttpFailure(f));
    this.kind = httpKind(f.status);
    this.retryable = f.status === 429 || f.status === 408 || f.status >= 500;
    this.status = f.status;
    this.method = f.method;
    this.path = f.path;
    this.detail = f.detail;
    this.retryAfterMs = f.retryAfterMs;
  }
}

function httpKind(status: number): InventoryHttpErrorKind {
  if (status === 401) return 'unauthorized';
  if (status === 403) return 'forbidden';
  if (status === 400) return 'bad_request';
  if (status === 404) return 'not_found';
  if (status === 429) return 'rate_limited';
  if (status >= 500) return 'server_error';
  if (status >= 300 && status < 400) return 'redirect';
  return 'rejected';
}

/** Each message names the setting to fix, because that is what the operator can act on. */
function describeHttpFailure(f: HttpFailure): string {
  const where = `${f.method} ${f.path}`;
  const detail = f.detail ? ` (server said: ${f.detail})` : '';
  switch (httpKind(f.status)) {
    case 'unauthorized':
      return `inventory refused the token (401 on ${where}): check INVENTORY_TOKEN / inventory.token_file`;
    case 'forbidden':
      return `the token lacks permission for ${organizationOf(f.path)} (403 on ${where}): grant it access or remove that id from inventory.filters.organization`;
    case 'bad_request':
      return `inventory rejected the request (400 on ${where}): a filter in inventory.filters is invalid or inventory.page_size is above the API's maximum of 100${detail}`;
    case 'not_found':
      return `not found (404 on ${where}): the device no longer exists, or inventory.url does not point at the API base (e.g. https://host/api/v1)`;
    case 'rate_limited':
      return `inventory is rate limiting us (429 on ${where})`;
    case 'server_error':
      return `inventory server error (${f.status} on ${where})${detail}`;
    case 'redirect':
      return `inventory answered ${f.status} on ${where} redirecting to ${f.location ?? '(no Location)'}: set inventory.url to the final URL (redirects are not followed so the token never leaves the configured origin)`;
    default:
      return `inventory rejected the request (${f.status} on ${where})${detail}`;
  }
}

function organizationOf(path: string): string {
  const query = path.includes('?') ? path.slice(path.indexOf('?') + 1) : '';
  const org = new URLSearchParams(query).get('organization');
  return org ? `organization ${org}` : 'this resource';
}

export type InventoryNetworkErrorKind = 'timeout' | 'connect' | 'reset' | 'truncated' | 'aborted' | 'network';

/** No usable HTTP response: the request timed out, could not connect, or the body was cut off. */
export class InventoryNetworkError extends InventoryError {
  readonly kind: InventoryNetworkErrorKind;
  /** An abort is the caller's decision (shutdown, sweep budget); every other kind may pass. */
  readonly retryable: boolean;
  readonly method: string;
  readonly path: string;

  constructor(kind: InventoryNetworkErrorKind, method: string, path: string, options?: { cause?: unknown }) {
    super(`inventory ${kind} on ${method} ${path}${kind === 'connect' ? ': check inventory.url and that the API is reachable' : ''}`, options);
    this.kind = kind;
    this.retryable = kind !== 'aborted';
    this.method = method;
    this.path = path;
  }
}

/** A 2xx whose body is not JSON (or is absurdly large): the server or a proxy in front is broken. */
export class MalformedResponseError extends InventoryError {
  readonly kind = 'malformed_response';
  readonly retryable = false;

  constructor(
    readonly method: string,
    readonly path: string,
    readonly problem: string,
    options?: { cause?: unknown },
  ) {
    super(`inventory sent a malformed response to ${method} ${path}: ${problem}`, options);
  }
}

/** A list page whose shape breaks the spec: that page is not read (never retried); the sweep reads the others and retires nothing. */
export class MalformedPageError extends InventoryError {
  readonly kind = 'malformed_page';
  readonly retryable = false;

  constructor(
    readonly offset: number,
    readonly problem: string,
    options?: { cause?: unknown },
  ) {
    super(`inventory list page at offset ${offset} is malformed: ${problem}`, options);
  }
}
