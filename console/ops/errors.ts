/**
 * What the operations layer refuses, as the project's error classes: the CLI maps them to exit
 * codes, the HTTP API to statuses (400 a bad parameter, 404 an unknown id, 409 a conflict).
 */
import { UsageError } from '../../lib/errors.js';

/** A parameter out of range or malformed; names the parameter. */
export class ParameterError extends UsageError {
  constructor(
    readonly parameter: string,
    detail: string,
  ) {
    super(`${parameter}: ${detail}`);
  }
}

/** An id nobody knows (a command, a query, a table). */
export class NotFoundError extends UsageError {}

/** A request that does not fit the current state (a command no longer waiting for approval). */
export class ConflictError extends UsageError {}
