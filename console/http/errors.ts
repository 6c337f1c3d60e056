/**
 * Errors as HTTP answers: a JSON body `{error, reason}` (with `parameter` for a bad parameter)
 * and the status the error's class means. Anything unexpected is a 500 whose reason is logged,
 * not sent.
 */
import { ConfigError } from '../../lib/config.js';
import { InputError, isRetriable, UsageError } from '../../lib/errors.js';
import { ConflictError, NotFoundError, ParameterError } from '../ops/errors.js';

/** A refusal at the HTTP level (authentication, size, method), with its status. */
export class HttpError extends UsageError {
  constructor(
    readonly status: number,
    readonly code: string,
    reason: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(reason);
  }
}

export interface ErrorBody {
  error: string;
  reason: string;
  parameter?: string;
}

export function errorResponse(err: unknown): { status: number; body: ErrorBody; headers: Record<string, string>; unexpected: boolean } {
  const r = (status: number, error: string, extra: Partial<ErrorBody> = {}, headers: Record<string, string> = {}) => ({
    status,
    body: { error, reason: (err as Error).message, ...extra },
    headers,
    unexpected: false,
  });
  if (err instanceof HttpError) return r(err.status, err.code, {}, err.headers);
  if (err instanceof ParameterError) return r(400, 'bad_parameter', { parameter: err.parameter });
  if (err instanceof NotFoundError) return r(404, 'not_found');
  if (err instanceof ConflictError) return r(409, 'conflict');
  if (err instanceof UsageError || err instanceof InputError || err instanceof ConfigError) return r(400, 'bad_request');
  // a server behind the API that does not answer (our UnavailableError, or a driver's network error)
  if (isRetriable(err)) return r(503, 'unavailable', {}, { 'retry-after': '5' });
  return { status: 500, body: { error: 'internal', reason: 'internal error (see the server log)' }, headers: {}, unexpected: true };
}
