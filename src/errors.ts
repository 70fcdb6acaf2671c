/**
 * Base of every error the prober raises on purpose. `kind` is what callers branch on
 * (never `message`); `retryable` says whether trying again can help.
 */
export abstract class ProberError extends Error {
  abstract readonly kind: string;
  abstract readonly retryable: boolean;

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}
