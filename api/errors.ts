// One place maps typed errors to HTTP: every 4xx is JSON naming the field and the reason,
// and nothing of a stack trace leaves the server.
import { maxHeaderSize } from 'node:http';
import type { Socket } from 'node:net';
import type {
  ConnectionError,
  FastifyError,
  FastifyInstance,
  FastifyReply,
  FastifyRequest,
} from 'fastify';
import type { z } from 'zod';
import {
  ActivityFailure,
  ApplicationFailure,
  ServiceError,
  TemporalFailure,
  TimeoutFailure,
  WorkflowFailedError,
  WorkflowNotFoundError,
  WorkflowUpdateFailedError,
  WorkflowUpdateRPCTimeoutOrCancelledError,
} from '@temporalio/client';
import { hasZodFastifySchemaValidationErrors } from 'fastify-type-provider-zod';
import {
  CaseConflictError,
  INSPECTION_REFUSED,
  NotFoundError,
  NotYetPublishedError,
} from '../domain/errors.ts';
import { ForbiddenError, UnauthorizedError } from './auth.ts';
import { CorruptTreeError } from '../ledger/pg/logReader.ts';

export interface ErrorBody {
  error: string;
  field?: string;
  reason: string;
  issues?: { field: string; reason: string }[];
}

export class RequestValidationError extends Error {
  override name = 'RequestValidationError';
  constructor(readonly issues: { field: string; reason: string }[]) {
    super(issues.map((i) => `${i.field}: ${i.reason}`).join('; '));
  }
}

/** Parses `value` with `schema`, or throws a RequestValidationError naming each bad field. */
export function parseRequest<S extends z.ZodType>(
  schema: S,
  value: unknown,
  prefix: string,
): z.infer<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  throw new RequestValidationError(
    result.error.issues.map((issue) => ({
      field: [prefix, ...issue.path.map(String)].filter(Boolean).join('.'),
      reason: issue.message,
    })),
  );
}

/**
 * A request body in a media type the API does not take (it takes JSON in UTF-8 only,
 * api/jsonBody.ts): HTTP 415 naming `content-type` (RFC 9110 §15.5.16).
 */
export class UnsupportedMediaTypeError extends Error {
  override name = 'UnsupportedMediaTypeError';
}

/** A running case refused a message (validator or handler): 422 naming the field, nothing changed. */
export class UpdateRefusedError extends Error {
  override name = 'UpdateRefusedError';
  constructor(
    readonly field: string,
    reason: string,
  ) {
    super(reason);
  }
}

/** The case cannot take this action in the state it is in: 409 naming the field, nothing changed. */
export class StateConflictError extends Error {
  override name = 'StateConflictError';
  constructor(
    readonly field: string,
    reason: string,
  ) {
    super(reason);
  }
}

/**
 * A client asked more than a limit allows: `max` requests a minute from one address on the
 * public routes (@fastify/rate-limit's `errorResponseBuilder`), or from one signed-in caller
 * (`CallerLimits`): HTTP 429 naming the limit, with when to retry (also as `Retry-After`).
 */
export class RateLimitedError extends Error {
  override name = 'RateLimitedError';
  readonly statusCode = 429;
  readonly retryAfterSeconds: number;
  constructor(max: number, ttlMs: number, what = 'requests from this address', per = 'a minute') {
    const retryAfterSeconds = Math.max(1, Math.ceil(ttlMs / 1000));
    super(`too many ${what}: at most ${max} ${per}; retry in ${duration(retryAfterSeconds)}`);
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

/** `seconds` as a person reads a wait: "42 s", "12 min", "5 h". */
function duration(seconds: number): string {
  if (seconds < 120) return `${seconds} s`;
  if (seconds < 2 * 3600) return `${Math.ceil(seconds / 60)} min`;
  return `${Math.ceil(seconds / 3600)} h`;
}

/** The agency's own worker did not answer in time (it is down or overloaded): HTTP 503. */
export class AgencyUnavailableError extends Error {
  override name = 'AgencyUnavailableError';
  /** `field`: what the request named that the agency could not act on. */
  constructor(
    message: string,
    readonly field = 'stepId',
  ) {
    super(message);
  }
}

/** A dependency (PostgreSQL, Temporal) cannot answer right now: HTTP 503, retry later. */
export class ServiceUnavailableError extends Error {
  override name = 'ServiceUnavailableError';
}

/**
 * The ledger refuses this server's own signing key (revoked or expired before the process
 * restarted with its successor): HTTP 503 that no retry cures until an operator restarts it.
 */
export class SigningKeyRefusedError extends Error {
  override name = 'SigningKeyRefusedError';
}

/**
 * Errors that mean "a dependency is down or restarting", not "this request is wrong": pg's
 * connection and shutdown errors (SQLSTATE classes 08 and 57P), gRPC UNAVAILABLE (14) and
 * DEADLINE_EXCEEDED (4), as thrown or as the cause of a wrapper (the Temporal client throws
 * a ServiceError whose cause is the gRPC error). A TemporalFailure's causes are failures inside a workflow or an
 * activity, not of a dependency of this process: the walk stops there.
 */
export function isUnavailable(error: unknown): boolean {
  for (let cause = error, depth = 0; depth < 8; depth++) {
    if (unavailableItself(cause)) return true;
    if (!(cause instanceof Error) || cause instanceof TemporalFailure) return false;
    cause = cause.cause;
  }
  return false;
}

function unavailableItself(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === 'string')
    return /^(08|57P)/.test(code) || ['ECONNREFUSED', 'ECONNRESET', 'EPIPE'].includes(code);
  // gRPC UNAVAILABLE, and DEADLINE_EXCEEDED: no worker answered a query in time (they are
  // down or busy), which says nothing about the request.
  if (code === 14 || code === 4) return true;
  return (
    error instanceof Error &&
    /Connection terminated|connection (?:is )?(?:closed|ended)/i.test(error.message)
  );
}

/** The failure type the agency's desk gives a decision it will never sign (activities/desk.ts). */
const DECISION_REFUSED = 'DecisionRefused';

/** `error` and its causes, outermost first. */
function failureChain(error: unknown): unknown[] {
  const chain: unknown[] = [];
  for (let cause = error; cause instanceof Error && chain.length < 16; cause = cause.cause)
    chain.push(cause);
  return chain;
}

/** The first ApplicationFailure in `error`'s cause chain, if any. */
function applicationFailureIn(error: unknown): ApplicationFailure | undefined {
  return failureChain(error).find((cause) => cause instanceof ApplicationFailure);
}

/**
 * The messages of the two WorkflowNotReady errors (gRPC FAILED_PRECONDITION) with which the
 * Temporal server refuses an Update for its workflow task, before the case took it: it aborts
 * one the workflow was sent but had not accepted when the server failed the task carrying it
 * (`workflowTaskFailErr` in temporalio/temporal service/history/workflow/update/
 * errors_failures.go, since Server 1.27, #7296; the same in the 1.29.x we run), and refuses
 * one while a workflow task has failed or timed out three times or more
 * (service/history/api/updateworkflow/api.go). Either may pass with the next task (a task timed
 * out under load). The server's other FAILED_PRECONDITION of an Update, the run's limit on
 * Updates in all (update/registry.go: "limit on number of total updates has been reached"),
 * says something else, and sending the Update again within seconds does not cure it.
 */
const UPDATE_REFUSED_FOR_ITS_TASK =
  /Unable to perform workflow execution update due to (unexpected workflow task failure|Workflow Task in failed state)/i;

/**
 * Whether an Update was refused before the case took it because of the case's workflow task
 * (UPDATE_REFUSED_FOR_ITS_TASK; the client throws a ServiceError
 * whose cause is the gRPC error, its message "9 FAILED_PRECONDITION: <the server's>"). Nothing
 * of it was applied (an Update is accepted only when its task completes), so sending it again
 * is safe.
 */
export function updateNotTaken(error: unknown): boolean {
  if (!(error instanceof ServiceError)) return false;
  const cause = error.cause as { code?: unknown; message?: unknown } | undefined;
  return (
    cause?.code === 9 &&
    typeof cause.message === 'string' &&
    UPDATE_REFUSED_FOR_ITS_TASK.test(cause.message)
  );
}

/**
 * Maps a refused workflow update, or a decision the agency's desk refused, to
 * UpdateRefusedError; a desk that never answered to AgencyUnavailableError; an Update its
 * case did not complete by its deadline (caseRoutes' UPDATE_DEADLINE_MS), or one the server
 * aborted as its workflow task failed (updateNotTaken), to ServiceUnavailableError; other
 * errors pass through.
 */
export function refusedUpdate(error: unknown, field: string): unknown {
  // The server holds an Update until the case's worker takes it: one sent while the workers
  // are down, stuck or far behind is not refused, and may still be applied once they go on.
  if (error instanceof WorkflowUpdateRPCTimeoutOrCancelledError)
    return new ServiceUnavailableError(
      'the case did not take this in time (its workers may be down or busy) and may still take it: look at the case before sending it again',
    );
  if (updateNotTaken(error))
    return new ServiceUnavailableError(
      'the case could not take this now (its workflow task failed and is being retried); nothing changed: send it again shortly',
    );
  if (error instanceof WorkflowFailedError) {
    // The agencyDecision workflow failed: the desk refused, or the agency's worker timed out.
    const failure = applicationFailureIn(error);
    if (failure?.type === DECISION_REFUSED)
      return new UpdateRefusedError(field, `${failure.type}: ${failure.message}`);
    return new AgencyUnavailableError(
      "the agency's system did not answer in time; nothing changed, try again later",
    );
  }
  if (error instanceof WorkflowUpdateFailedError) {
    // The validator's own error, or the failure of an activity the handler ran (the ledger
    // refusing the signature): name the innermost failure, not "Activity task failed".
    const failure = applicationFailureIn(error.cause);
    const reason = failure
      ? `${failure.type ?? 'refused'}: ${failure.message}`
      : (error.cause?.message ?? error.message);
    return new UpdateRefusedError(field, reason);
  }
  // The server answers an Update on a closed run with NotFound (temporalio/temporal#6240): the
  // case exists, and is past taking anything.
  if (error instanceof WorkflowNotFoundError)
    return new StateConflictError('caseId', 'the case is no longer running');
  return error;
}

/**
 * Maps a failed `safetyInspection` workflow: the company refusing the officer to
 * ForbiddenError; a company system that did not answer in time (the activity's retries used
 * up or its time out) to AgencyUnavailableError; other errors (a bug: a request the worker
 * cannot read) pass through, and are a 500, not "try again".
 */
export function refusedInspection(error: unknown): unknown {
  if (!(error instanceof WorkflowFailedError)) return error;
  const failure = applicationFailureIn(error);
  if (failure?.type === INSPECTION_REFUSED)
    return new ForbiddenError(`${failure.type}: ${failure.message}`);
  const unanswered = failureChain(error).some(
    (cause) =>
      cause instanceof TimeoutFailure ||
      (cause instanceof ActivityFailure &&
        (cause.retryState === 'MAXIMUM_ATTEMPTS_REACHED' || cause.retryState === 'TIMEOUT')),
  );
  if (!unanswered) return error;
  // Recording is idempotent per unit: sending it again is harmless, whether or not the
  // company's system took it before it stopped answering.
  return new AgencyUnavailableError(
    "the gas company's system did not answer in time; the inspection may not be recorded: send it again later",
    'caseId',
  );
}

/**
 * Fastify's own refusals before any route runs (a path that is not valid percent-encoding, a
 * path parameter over the length limit), in the same JSON shape as every other 4xx. Passed
 * as the `frameworkErrors` option of Fastify().
 */
export function frameworkErrors(
  error: FastifyError,
  _request: FastifyRequest,
  reply: FastifyReply,
): void {
  const status = error.statusCode ?? 500;
  void reply
    .code(status)
    .send(
      (status < 500
        ? { error: error.code, field: 'url', reason: error.message }
        : { error: 'internal', reason: 'internal error' }) satisfies ErrorBody,
    );
}

/**
 * Node's HTTP parser's refusals of a request it cannot read as HTTP/1.1 (RFC 9112), before
 * Fastify sees it, in the same JSON shape as every other 4xx: 431 naming `headers` for headers
 * over Node's limit (RFC 6585 §5), 408 for a request not received in time, 400 naming the
 * header at fault or `request`. Passed as the `clientErrorHandler` option of Fastify().
 */
export function clientErrors(error: ConnectionError, socket: Socket): void {
  // A reset connection has nobody left to answer (Node's `clientError` event).
  if (error.code === 'ECONNRESET' || socket.destroyed) return;
  const [status, text, body] = clientErrorAnswer(error);
  const json = JSON.stringify(body);
  // As Node's own answer (http's socketOnError): only while no response has begun on the
  // socket, whose bytes this would corrupt.
  const inFlight = (socket as Socket & { _httpMessage?: { headersSent?: boolean } })._httpMessage;
  if (socket.writable && !inFlight?.headersSent)
    socket.write(
      `HTTP/1.1 ${status} ${text}\r\nContent-Type: application/json; charset=utf-8\r\n` +
        `Content-Length: ${Buffer.byteLength(json)}\r\nConnection: close\r\n\r\n${json}`,
    );
  socket.destroy(error);
}

/** The status line and body for a request Node's HTTP parser refused (llhttp's codes). */
function clientErrorAnswer(error: ConnectionError): [number, string, ErrorBody] {
  if (error.code === 'HPE_HEADER_OVERFLOW')
    return [
      431,
      'Request Header Fields Too Large',
      {
        error: 'headers_too_large',
        field: 'headers',
        reason: `are too large: at most ${maxHeaderSize} bytes of request line and headers`,
      },
    ];
  if (error.code === 'ERR_HTTP_REQUEST_TIMEOUT')
    return [
      408,
      'Request Timeout',
      { error: 'request_timeout', field: 'request', reason: 'was not received in time' },
    ];
  const field =
    {
      HPE_INVALID_CONTENT_LENGTH: 'content-length',
      HPE_UNEXPECTED_CONTENT_LENGTH: 'content-length',
      HPE_INVALID_TRANSFER_ENCODING: 'transfer-encoding',
      HPE_INVALID_HEADER_TOKEN: 'headers',
      HPE_INVALID_URL: 'url',
    }[error.code] ?? 'request';
  // llhttp's reason is one of its fixed texts ("Invalid character in Content-Length"): it
  // names the fault and echoes nothing of the request.
  const { reason } = error as { reason?: unknown };
  return [
    400,
    'Bad Request',
    {
      error: 'bad_request',
      field,
      reason: `is not valid HTTP/1.1 (RFC 9112)${typeof reason === 'string' ? `: ${reason}` : ''}`,
    },
  ];
}

export function registerErrorHandler(app: FastifyInstance): void {
  app.setErrorHandler((error: FastifyError, request, reply) => {
    if (hasZodFastifySchemaValidationErrors(error)) {
      // A route schema refused the request: name each field as a dotted path.
      const issues = error.validation.map((v) => {
        const path = v.instancePath.replace(/^\//, '').replaceAll('/', '.');
        // An unknown key is named itself (`bogus`), not the object holding it.
        const keys = (v.params as { keys?: unknown }).keys;
        const unknown = Array.isArray(keys) && typeof keys[0] === 'string' ? keys[0] : undefined;
        return {
          field: [path, unknown].filter(Boolean).join('.') || (error.validationContext ?? 'body'),
          reason: v.message ?? 'is invalid',
        };
      });
      return reply.code(400).send({
        error: 'invalid_request',
        field: issues[0]!.field,
        reason: issues[0]!.reason,
        issues,
      } satisfies ErrorBody);
    }
    if (error instanceof UnauthorizedError) {
      return reply
        .code(401)
        .header('www-authenticate', 'Bearer')
        .send({
          error: 'unauthorized',
          field: 'authorization',
          reason: error.message,
        } satisfies ErrorBody);
    }
    if (error instanceof ForbiddenError) {
      return reply.code(403).send({
        error: 'forbidden',
        field: error.field,
        reason: error.message,
      } satisfies ErrorBody);
    }
    if (error instanceof RequestValidationError) {
      const first = error.issues[0]!;
      return reply.code(400).send({
        error: 'invalid_request',
        field: first.field,
        reason: first.reason,
        issues: error.issues,
      } satisfies ErrorBody);
    }
    // Ours (a charset other than UTF-8), or Fastify's for a media type with no parser.
    if (
      error instanceof UnsupportedMediaTypeError ||
      error.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE'
    ) {
      return reply.code(415).send({
        error: 'unsupported_media_type',
        field: 'content-type',
        reason:
          error instanceof UnsupportedMediaTypeError
            ? error.message
            : 'must be application/json: the API takes JSON request bodies only',
      } satisfies ErrorBody);
    }
    if (error instanceof UpdateRefusedError) {
      return reply
        .code(422)
        .send({ error: 'refused', field: error.field, reason: error.message } satisfies ErrorBody);
    }
    if (error instanceof AgencyUnavailableError) {
      return reply
        .code(503)
        .header('retry-after', '30')
        .send({
          error: 'agency_unavailable',
          field: error.field,
          reason: error.message,
        } satisfies ErrorBody);
    }
    if (error instanceof StateConflictError) {
      return reply
        .code(409)
        .send({ error: 'conflict', field: error.field, reason: error.message } satisfies ErrorBody);
    }
    if (error instanceof CaseConflictError) {
      return reply
        .code(409)
        .send({ error: 'conflict', field: 'unitId', reason: error.message } satisfies ErrorBody);
    }
    if (error instanceof NotYetPublishedError) {
      return reply
        .code(409)
        .header('retry-after', '2')
        .send({
          error: 'not_yet_published',
          field: 'caseId',
          reason: error.message,
        } satisfies ErrorBody);
    }
    if (error instanceof NotFoundError) {
      // (NotFoundError's own fields are all optional, so `error` stays a FastifyError here.)
      const { field } = error as NotFoundError;
      return reply.code(404).send({
        error: 'not_found',
        ...(field ? { field } : {}),
        reason: error.message,
      } satisfies ErrorBody);
    }
    if (error instanceof SigningKeyRefusedError) {
      // An operator must act (restart with the key's successor): an error, not a passing outage.
      request.log.error({ err: error }, "the ledger refuses this server's key");
      return reply
        .code(503)
        .send({ error: 'key_refused', reason: error.message } satisfies ErrorBody);
    }
    if (error instanceof ServiceUnavailableError || isUnavailable(error)) {
      request.log.warn({ err: error }, 'a dependency is unavailable');
      return reply
        .code(503)
        .header('retry-after', '5')
        .send({
          error: 'unavailable',
          reason:
            error instanceof ServiceUnavailableError
              ? error.message
              : 'a service this needs is restarting; try again shortly',
        } satisfies ErrorBody);
    }
    if (error instanceof CorruptTreeError) {
      // The store no longer proves what the log signed: say so, never serve the proof.
      request.log.error({ err: error }, 'the ledger store is corrupt');
      return reply
        .code(500)
        .send({ error: 'corrupt_log', reason: error.message } satisfies ErrorBody);
    }
    if (error instanceof RateLimitedError) {
      // @fastify/rate-limit sets its own headers on the public routes; a caller's limit
      // (checked by hand in authorize) sets only this one.
      if (!reply.hasHeader('retry-after')) reply.header('retry-after', error.retryAfterSeconds);
      return reply.code(429).send({
        error: 'rate_limited',
        field: 'request',
        reason: error.message,
      } satisfies ErrorBody);
    }
    const status = error.statusCode ?? 500;
    if (status >= 400 && status < 500) {
      // Fastify's own 4xx (malformed JSON, body too large, a body shorter than its length).
      return reply.code(status).send({
        error: error.code ?? 'bad_request',
        field: error.code === 'FST_ERR_CTP_INVALID_CONTENT_LENGTH' ? 'content-length' : 'body',
        reason: error.message,
      } satisfies ErrorBody);
    }
    request.log.error({ err: error }, 'unhandled error');
    return reply
      .code(500)
      .send({ error: 'internal', reason: 'internal error' } satisfies ErrorBody);
  });
  app.setNotFoundHandler((request, reply) =>
    reply.code(404).send({
      error: 'not_found',
      field: 'url',
      reason: `no route ${request.method} ${request.url.split('?')[0]}`,
    } satisfies ErrorBody),
  );
}
