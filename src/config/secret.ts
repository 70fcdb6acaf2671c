import { inspect } from 'node:util';

const REDACTED = '<secret>';

/**
 * A value that must never reach a log line, a metric label or `check-config` output.
 * Every implicit way of printing it yields `<secret>`; only `reveal()` gives the value,
 * so each place that needs the real thing is explicit and greppable.
 */
export class Secret {
  readonly #value: string;

  constructor(value: string) {
    this.#value = value;
  }

  reveal(): string {
    return this.#value;
  }

  toString(): string {
    return REDACTED;
  }

  toJSON(): string {
    return REDACTED;
  }

  [inspect.custom](): string {
    return REDACTED;
  }
}

export const isSecret = (value: unknown): value is Secret => value instanceof Secret;
