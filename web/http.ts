// The pages' one way to call the API: JSON in and out, the bearer token on every call given
// one (the public ledger routes take none), and every refusal as an ApiError carrying the
// server's {error, field?, reason, issues?}.
/// <reference lib="dom" />

/** One field the server refused, and why. */
export interface Issue {
  field: string;
  reason: string;
}

export class ApiError extends Error {
  override name = 'ApiError';
  constructor(
    readonly status: number,
    readonly code: string,
    readonly reason: string,
    readonly field?: string,
    /** Every field refused (a form marks each), the first being `field`; empty when none named. */
    readonly issues: readonly Issue[] = [],
  ) {
    super(`${reason}${field ? ` (field: ${field})` : ''}`);
  }
}

async function refusal(response: Response): Promise<ApiError> {
  let body: { error?: unknown; field?: unknown; reason?: unknown; issues?: unknown } = {};
  try {
    body = (await response.json()) as typeof body;
  } catch {
    // Not JSON (a proxy's page, a dropped connection): the status says enough.
  }
  return new ApiError(
    response.status,
    typeof body.error === 'string' ? body.error : `http_${response.status}`,
    typeof body.reason === 'string' ? body.reason : `${response.status} ${response.statusText}`,
    typeof body.field === 'string' ? body.field : undefined,
    Array.isArray(body.issues) ? body.issues.filter(isIssue) : [],
  );
}

function isIssue(value: unknown): value is Issue {
  const issue = value as Partial<Record<keyof Issue, unknown>> | null;
  return typeof issue?.field === 'string' && typeof issue.reason === 'string';
}

/** The window event of a call whose token the API refused (401); its detail is that token. */
export const TOKEN_REFUSED = 'onewindow:token-refused';

export interface RequestOptions {
  token?: string | null;
  method?: 'GET' | 'POST';
  body?: unknown;
}

async function call(path: string, options: RequestOptions, accept: string): Promise<Response> {
  const headers: Record<string, string> = { accept };
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  if (options.body !== undefined) headers['content-type'] = 'application/json';
  const response = await fetch(path, {
    method: options.method ?? (options.body === undefined ? 'GET' : 'POST'),
    headers,
    ...(options.body === undefined ? {} : { body: JSON.stringify(options.body) }),
    credentials: 'omit',
  });
  // The token itself refused (expired, or not valid): the session panel offers to sign in
  // again in place, so the page keeps what was typed.
  if (response.status === 401 && options.token)
    window.dispatchEvent(new CustomEvent(TOKEN_REFUSED, { detail: options.token }));
  if (!response.ok) throw await refusal(response);
  return response;
}

/** GET or POST `path` and read the JSON answer. @throws ApiError for any non-2xx answer. */
export async function json<T>(path: string, options: RequestOptions = {}): Promise<T> {
  return (await (await call(path, options, 'application/json')).json()) as T;
}

/** GET `path` as text (the checkpoint note). @throws ApiError. */
export async function text(path: string, options: RequestOptions = {}): Promise<string> {
  return (await call(path, options, 'text/plain')).text();
}

/** GET `path` as bytes (an entry's leaf bytes, exactly as served). @throws ApiError. */
export async function bytes(
  path: string,
  options: RequestOptions = {},
): Promise<Uint8Array<ArrayBuffer>> {
  return new Uint8Array(await (await call(path, options, '*/*')).arrayBuffer());
}

/** A query string from the defined, non-empty values. */
export function query(values: Record<string, string | number | boolean | null | undefined>) {
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(values))
    if (value !== undefined && value !== null && value !== '') params.set(name, String(value));
  const text = params.toString();
  return text ? `?${text}` : '';
}
