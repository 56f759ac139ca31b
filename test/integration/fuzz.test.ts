// Bad input against every route (issue 5, item 9): fast-check throws malformed requests at the
// API — wrong types, missing and extra fields, huge bodies, unicode, SQL and visibility-query
// injection, path traversal, wrong content types, expired and forged tokens — and checks that
// nothing breaks: no 5xx, every refusal a JSON 4xx naming the error and the reason, and no
// change of state (case rows, ledger size, workflow ids) across the whole run.
//
// The generators never produce a request that would rightly change state: no valid
// application, no valid payment of the open duty, no valid purpose for a personal-data read
// (every such read is itself a ledger entry). Each is filtered with the API's own schema.
import fc from 'fast-check';
import type { InjectOptions, LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { issueToken, type Principal } from '../../api/auth.ts';
import { InspectionRequest, PaymentRequest, PurposeQuery } from '../../api/schemas.ts';
import { CaseApplication } from '../../domain/application.ts';
import { agencyKeyName, generateSigningKey } from '../../ledger/keys.ts';
import { submit, signedDecision, waitForStep } from './caseDriver.ts';
import { sampleApplication, startStack, type Stack } from './stack.ts';

let stack: Stack;
let caseId: string;
let unitId: string;
/** A decision for the open payment step, well formed, signed by a key the ledger does not know. */
let forgedDecision: unknown;
/** Authorization headers by caller name (malformed headers are generated). */
let tokens: Record<string, Record<string, string>>;

const VALID_CALLERS = ['owner', 'citizen-2', 'registry', 'tax', 'gas', 'supervisor'] as const;
const BAD_CALLERS = ['none', 'expired', 'forged', 'forged-alg-none'] as const;

interface State {
  cases: number;
  ledger: number;
  workflows: string[];
}

async function state(): Promise<State> {
  const count = async (table: string) =>
    (await stack.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${table}`)).rows[0]!.n;
  const workflows: string[] = [];
  // Only this file's: the test server's namespace also holds other files' workflows, whose
  // payloads (memos) are encrypted under keys this stack does not have (bench smoke's).
  const query = `StartTime >= '${startedAt.toISOString()}'`;
  for await (const w of stack.client.workflow.list({ query }))
    workflows.push(`${w.workflowId}/${w.runId}`);
  return {
    cases: await count('cases'),
    ledger: await count('ledger_entries'),
    workflows: workflows.sort(),
  };
}

let before: State;
let startedAt: Date;

beforeAll(async () => {
  startedAt = new Date();
  stack = await startStack(['housing', 'tax', 'registry', 'electricity']);
  const application = sampleApplication({ utilities: [] });
  unitId = application.unitId;
  caseId = await submit(stack, application);
  await waitForStep(stack, caseId, 'confirmPayment', 'waiting');
  const impostor = generateSigningKey(agencyKeyName('tax'));
  forgedDecision = signedDecision(impostor, 'tax', caseId, 'confirmPayment', 'paid');

  const hourAgo = new Date(Date.now() - 3_600_000);
  const supervisor: Principal = { role: 'supervisor', sub: 'supervisor-1' };
  const header = (token: string) => ({ authorization: `Bearer ${token}` });
  const unsigned = (claims: object) => Buffer.from(JSON.stringify(claims)).toString('base64url');
  tokens = {
    none: {},
    expired: await stack.as(supervisor, { now: hourAgo, seconds: 60 }),
    forged: header(await issueToken(generateSigningKey('forger').seed, supervisor, 3600)),
    // The classic: an unsigned token claiming to be a supervisor.
    'forged-alg-none': header(
      `${unsigned({ alg: 'none', typ: 'JWT' })}.${unsigned({ role: 'supervisor', sub: 's', iss: 'onewindow', aud: 'onewindow-api', exp: 4e9, iat: 1 })}.x`,
    ),
    owner: stack.citizen,
    'citizen-2': await stack.as({ role: 'citizen', sub: 'citizen-2' }),
    registry: stack.officer.registry,
    tax: stack.officer.tax,
    gas: stack.officer.gas,
    supervisor: stack.supervisor,
  };

  // Visibility lags: wait until the new case is listed, and the ledger has settled.
  const listed = async () => (await state()).workflows.some((w) => w.startsWith(`case:${unitId}/`));
  for (let i = 0; !(await listed()); i++) {
    if (i > 60) throw new Error(`case:${unitId} never appeared in the visibility store`);
    await new Promise((r) => setTimeout(r, 250));
  }
  let previous = -1;
  for (;;) {
    before = await state();
    if (before.ledger === previous) break;
    previous = before.ledger;
    await new Promise((r) => setTimeout(r, 500));
  }
});

afterAll(async () => {
  await stack?.client.workflow
    .getHandle(`case:${unitId}`)
    .terminate('fuzz finished')
    .catch(() => undefined);
  await stack?.stop();
});

// --- generators --------------------------------------------------------------------------------

/** Strings that have broken APIs before: SQL, visibility-query quotes, traversal, control bytes. */
const NASTY = [
  "' OR 1=1 --",
  "' OR '1'='1",
  "running' OR WorkflowType != '",
  "tax') OR ('1'='1",
  '" OR ""="',
  '"; DROP TABLE cases; --',
  "'; SELECT pg_sleep(5); --",
  '1; DELETE FROM ledger_entries',
  '../../../../etc/passwd',
  '..\\..\\windows\\win.ini',
  '%2e%2e%2f%2e%2e%2f',
  '${jndi:ldap://x/a}',
  '{{7*7}}',
  '<script>alert(1)</script>',
  '\u0000',
  '\u202e\u0645\u0631\u062d\u0628\u0627',
  '𝕆𝕟𝕖𝕎𝕚𝕟𝕕𝕠𝕨 🏠',
  'Ａ'.repeat(300),
  '-1',
  '1e309',
  'NaN',
  'null',
  'true',
  '[]',
  '{}',
  '__proto__',
  'constructor',
  'x'.repeat(5000),
];

const nasty = fc.constantFrom(...NASTY);
const anyText = fc.oneof(
  nasty,
  fc.string({ unit: 'grapheme', maxLength: 40 }),
  fc.string({ unit: 'grapheme-ascii', maxLength: 40 }),
);
/** Any JSON value, weighted towards the wrong type for whatever field it lands in. */
const anyJson: fc.Arbitrary<unknown> = fc.oneof(
  anyText,
  fc.string({ unit: 'binary', maxLength: 20 }),
  fc.integer(),
  fc.double(),
  fc.boolean(),
  fc.constant(null),
  fc.array(fc.oneof(fc.integer(), anyText), { maxLength: 4 }),
  fc.jsonValue({ maxDepth: 3 }),
);

/** The placeholder for the real case, so requests reach deep into the open case's handlers. */
const REAL_CASE = '@case';
const caseIds = fc.oneof(
  { weight: 4, arbitrary: fc.constant(REAL_CASE) },
  { weight: 2, arbitrary: fc.uuid() },
  { weight: 3, arbitrary: anyText },
);

/** A valid application's field names, each mutated or dropped, and extra fields added. */
const applicationBodies = fc
  .oneof(
    fc
      .record({
        field: fc.constantFrom(
          ...Object.keys(sampleApplication()),
          'buyer.idNumber',
          'seller.name',
          'utilities.0',
        ),
        mutation: fc.oneof(
          fc.constant<'drop'>('drop'),
          anyJson.map((value) => ({ value })),
        ),
        extra: fc.option(fc.dictionary(anyText, anyJson, { maxKeys: 3 }), { nil: undefined }),
      })
      .map(({ field, mutation, extra }) => {
        const body = structuredClone(sampleApplication()) as Record<string, unknown>;
        const path = field.split('.');
        let parent: Record<string, unknown> = body;
        for (const key of path.slice(0, -1)) parent = parent[key] as Record<string, unknown>;
        const last = path[path.length - 1]!;
        if (mutation === 'drop') delete parent[last];
        else parent[last] = mutation.value;
        return { ...body, ...extra };
      }),
    fc.dictionary(anyText, anyJson, { maxKeys: 6 }),
    anyJson,
  )
  // Never a valid application: that would open a case.
  .filter((body) => !CaseApplication.safeParse(body).success);

const STEP_IDS = [
  'confirmPayment',
  'review',
  'settleArrears.gas',
  'settleArrears.electricity',
  'settleArrears.telephone',
  'assessTax',
  'close',
];
const stepIds = fc.oneof(
  { weight: 2, arbitrary: fc.constantFrom(...STEP_IDS) },
  { weight: 1, arbitrary: anyText },
  { weight: 1, arbitrary: anyJson },
);

// Each POST body: well formed (so it reaches the case, which refuses it), or anything at all.
const paymentBodies = fc
  .oneof(
    fc.record({ stepId: fc.constantFrom(...STEP_IDS) }),
    fc.record({ stepId: stepIds }, { requiredKeys: [] }),
    fc.record({ stepId: stepIds, extra: anyJson }),
    anyJson,
  )
  // Paying the open duty is the one valid payment: it would sign and log a payment.
  .filter(
    (body) =>
      !(
        PaymentRequest.safeParse(body).success &&
        (body as { stepId: string }).stepId === 'confirmPayment'
      ),
  );

const decisionBodies = fc.oneof(
  fc.record({
    stepId: fc.constantFrom(...STEP_IDS),
    outcome: fc.constantFrom('approved', 'rejected'),
    reason: fc.oneof(fc.constant('a reason that reads fine'), nasty),
  }),
  // '@signed' becomes a well-formed decision for the open step, signed by an unknown key.
  fc.record({ stepId: fc.constantFrom(...STEP_IDS), signed: fc.constant('@signed') }),
  fc.record(
    {
      stepId: stepIds,
      outcome: fc.oneof(fc.constantFrom('approved', 'rejected', 'paid'), anyJson),
      reason: fc.oneof(fc.constant('a reason that reads fine'), anyJson),
      signed: fc.oneof(fc.constant('@signed'), anyJson),
      extra: anyJson,
    },
    { requiredKeys: [] },
  ),
  anyJson,
);

// The case has no gas account, so even a well-formed record is refused (404); still, the one
// that names the case's unit is left out, as it would be recorded on a case that had one.
const inspectionBodies = fc
  .oneof(
    fc.record({
      unitId: fc.oneof(fc.constant('U-SOMEWHERE-ELSE'), nasty),
      outcome: fc.oneof(fc.constant('passed'), nasty),
    }),
    fc.record({ unitId: anyJson, outcome: anyJson, extra: anyJson }, { requiredKeys: [] }),
    anyJson,
  )
  .filter(
    (body) =>
      !(
        InspectionRequest.safeParse(body).success && (body as { unitId: string }).unitId === unitId
      ),
  );

const escalationBodies = fc.oneof(
  fc.record({
    stepId: fc.oneof(fc.constantFrom(...STEP_IDS), nasty),
    action: fc.constantFrom('retry', 'resolve'),
    reason: fc.oneof(fc.constant('done by hand'), nasty),
  }),
  fc.record(
    {
      stepId: stepIds,
      action: fc.oneof(fc.constantFrom('retry', 'resolve', 'delete'), anyJson),
      reason: fc.oneof(fc.constant('done by hand'), anyJson),
      supervisor: anyJson,
    },
    { requiredKeys: [] },
  ),
  anyJson,
);

/** Query values: valid words, injections, unicode, and repeated keys (arrays). */
const queryValue = fc.oneof(
  fc.constantFrom('running', 'completed', 'tax', 'review', 'true', '1', '20', '2025-01-01'),
  anyText,
  fc.array(anyText, { minLength: 2, maxLength: 3 }),
);
const listQueries = fc.oneof(
  // A page token of the right alphabet that no earlier page gave out.
  fc.record({ pageToken: fc.stringMatching(/^[A-Za-z0-9_-]{1,60}$/) }),
  fc.dictionary(
    fc.oneof(
      fc.constantFrom(
        'status',
        'agency',
        'step',
        'overdue',
        'submittedFrom',
        'submittedTo',
        'pageSize',
        'pageToken',
      ),
      anyText,
    ),
    queryValue,
    { maxKeys: 4 },
  ),
);
const purposeQueries = fc
  .dictionary(fc.oneof(fc.constant('purpose'), anyText), queryValue, { maxKeys: 3 })
  // A valid purpose on the real case is a logged read: a ledger entry.
  .filter((query) => !PurposeQuery.safeParse(query).success);
const ledgerQueries = fc.dictionary(
  fc.oneof(fc.constantFrom('index', 'size', 'from', 'to'), anyText),
  fc.oneof(fc.integer({ min: -5, max: 1e6 }).map(String), queryValue),
  { maxKeys: 3 },
);

type Body =
  { kind: 'json'; value: unknown } | { kind: 'raw'; contentType: string | undefined; text: string };

const rawBodies: fc.Arbitrary<Body> = fc.record({
  kind: fc.constant<'raw'>('raw'),
  contentType: fc.constantFrom(
    undefined,
    'text/plain',
    'application/xml',
    'application/x-www-form-urlencoded',
    'multipart/form-data; boundary=xyz',
    'application/json',
    'application/json; charset=utf-16',
    'application/octet-stream',
    'image/png',
    '*/*',
  ),
  text: fc.oneof(
    anyText,
    fc.constantFrom('{"unitId": ', '{"a":1}{"b":2}', '<case/>', 'a=1&b=2', '\u0000\u0001', ''),
    anyJson.map((v) => JSON.stringify(v) ?? ''),
  ),
});
const jsonBody = (value: fc.Arbitrary<unknown>): fc.Arbitrary<Body> =>
  fc.oneof(
    { weight: 4, arbitrary: value.map((v): Body => ({ kind: 'json', value: v })) },
    { weight: 1, arbitrary: rawBodies },
  );

const anyCaller = fc.oneof(
  fc.constantFrom<string>(...VALID_CALLERS, ...BAD_CALLERS),
  fc.string({ unit: 'grapheme-ascii', maxLength: 60 }).map((h) => `malformed:${h}`),
);

interface FuzzRequest {
  method: string;
  /** Path segments, the case id as REAL_CASE or any text (encoded when sent). */
  path: (string | { id: string })[];
  query: Record<string, unknown>;
  body?: Body;
  caller: string;
  /** A route whose GETs are public. */
  isPublic: boolean;
}

/**
 * One route's requests. Most come from a caller the route admits, so they get past
 * authorisation into validation and the handlers; the rest from anyone, bad tokens included.
 */
const route = (
  admitted: readonly string[],
  method: string,
  path: FuzzRequest['path'] | fc.Arbitrary<FuzzRequest['path']>,
  query: fc.Arbitrary<Record<string, unknown>> = fc.constant({}),
  body?: fc.Arbitrary<Body>,
  isPublic = false,
): fc.Arbitrary<FuzzRequest> =>
  fc.record({
    method: fc.constant(method),
    path: Array.isArray(path) ? fc.constant(path) : path,
    query,
    body: body ?? fc.constant(undefined),
    caller: fc.oneof(
      { weight: 3, arbitrary: fc.constantFrom(...admitted) },
      { weight: 2, arbitrary: anyCaller },
    ),
    isPublic: fc.constant(isPublic),
  });

const withCase = (...rest: string[]) =>
  caseIds.map((id): FuzzRequest['path'] => ['cases', { id }, ...rest]);

const CITIZENS = ['owner', 'citizen-2'];
const OFFICERS = ['registry', 'tax'];
const EVERYONE = [...VALID_CALLERS, ...BAD_CALLERS];
const ledger = (path: FuzzRequest['path'] | fc.Arbitrary<FuzzRequest['path']>) =>
  route(EVERYONE, 'GET', path, ledgerQueries, undefined, true);

const requests: fc.Arbitrary<FuzzRequest> = fc.oneof(
  route(CITIZENS, 'POST', ['cases'], fc.constant({}), jsonBody(applicationBodies)),
  route([...CITIZENS, 'supervisor'], 'GET', ['cases'], listQueries),
  route([...CITIZENS, 'supervisor'], 'GET', withCase()),
  route(['supervisor'], 'GET', withCase('timeline'), purposeQueries),
  route([...CITIZENS, 'supervisor'], 'GET', withCase('access-log'), listQueries),
  route(CITIZENS, 'POST', withCase('payments'), fc.constant({}), jsonBody(paymentBodies)),
  route(OFFICERS, 'GET', ['inbox'], listQueries),
  route(OFFICERS, 'GET', withCase('view'), purposeQueries),
  route(OFFICERS, 'POST', withCase('decisions'), fc.constant({}), jsonBody(decisionBodies)),
  route(
    ['gas', ...OFFICERS],
    'POST',
    withCase('inspections'),
    fc.constant({}),
    jsonBody(inspectionBodies),
  ),
  route(['supervisor'], 'GET', withCase('evidence'), listQueries),
  route(
    ['supervisor'],
    'POST',
    withCase('escalations'),
    fc.constant({}),
    jsonBody(escalationBodies),
  ),
  route(['supervisor'], 'GET', ['escalations'], listQueries),
  // Methods no route has: still a JSON 404, never a handler.
  route(EVERYONE, 'DELETE', withCase(), fc.constant({}), jsonBody(anyJson)),
  route(EVERYONE, 'PUT', ['cases'], fc.constant({}), jsonBody(anyJson)),
  ledger(['ledger', 'checkpoint']),
  ledger(['ledger', 'trust']),
  ledger(
    fc
      .oneof(fc.integer({ min: -1, max: 1e7 }).map(String), anyText)
      .map((i) => ['ledger', 'entries', { id: i }]),
  ),
  ledger(['ledger', 'proof', 'inclusion']),
  ledger(['ledger', 'proof', 'consistency']),
  ledger(
    fc
      .oneof(
        fc.constantFrom(
          '0/000',
          '0/000.p/1',
          'entries/000.p/1',
          '1/000',
          '0/x001/000',
          '9/999.p/300',
        ),
        anyText,
      )
      .map((rest) => ['ledger', 'tile', ...rest.split('/').map((id) => ({ id }))]),
  ),
);

/** Well-formed requests from admitted callers on the real case: the case itself must refuse them. */
const wellFormed: fc.Arbitrary<FuzzRequest> = fc.oneof(
  fc.record({
    method: fc.constant('POST'),
    path: fc.constant<FuzzRequest['path']>(['cases', { id: REAL_CASE }, 'payments']),
    query: fc.constant({}),
    body: fc
      .constantFrom(...STEP_IDS.filter((s) => s !== 'confirmPayment'), 'settleArrears.water')
      .map((stepId): Body => ({ kind: 'json', value: { stepId } })),
    caller: fc.constantFrom(...CITIZENS),
    isPublic: fc.constant(false),
  }),
  fc.record({
    method: fc.constant('POST'),
    path: fc.constant<FuzzRequest['path']>(['cases', { id: REAL_CASE }, 'decisions']),
    query: fc.constant({}),
    body: fc
      .oneof(
        fc.record({
          stepId: fc.constantFrom('review', 'confirmPayment', 'settleArrears.electricity'),
          outcome: fc.constantFrom('approved', 'rejected'),
          reason: fc.oneof(fc.constant('a reason that reads fine'), nasty),
        }),
        fc.record({
          stepId: fc.constantFrom('review', 'confirmPayment'),
          signed: fc.constant('@signed'),
        }),
      )
      .map((value): Body => ({ kind: 'json', value })),
    caller: fc.constantFrom(...OFFICERS),
    isPublic: fc.constant(false),
  }),
  fc.record({
    method: fc.constant('POST'),
    path: fc.constant<FuzzRequest['path']>(['cases', { id: REAL_CASE }, 'escalations']),
    query: fc.constant({}),
    body: fc
      .record({
        stepId: fc.oneof(fc.constantFrom(...STEP_IDS), nasty),
        action: fc.constantFrom('retry', 'resolve'),
        reason: fc.oneof(fc.constant('done by hand'), nasty),
      })
      .map((value): Body => ({ kind: 'json', value })),
    caller: fc.constant('supervisor'),
    isPublic: fc.constant(false),
  }),
);

// --- sending -----------------------------------------------------------------------------------

/** What is sent: inject options with the method and URL as plain strings. */
type Sent = InjectOptions & { method: string; url: string };

function injectOptions(request: FuzzRequest): Sent {
  const segment = (part: FuzzRequest['path'][number]) =>
    typeof part === 'string' ? part : part.id === REAL_CASE ? caseId : encodeURIComponent(part.id);
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(request.query))
    for (const v of Array.isArray(value) ? value : [value]) search.append(key, String(v));
  const query = search.toString();
  const url = `/${request.path.map(segment).join('/')}${query ? `?${query}` : ''}`;
  const headers: Record<string, string> = request.caller.startsWith('malformed:')
    ? { authorization: request.caller.slice('malformed:'.length) }
    : { ...tokens[request.caller] };
  const options: Sent = { method: request.method, url, headers };
  if (request.body?.kind === 'json') {
    const text = JSON.stringify(request.body.value, (_key, value: unknown) =>
      value === '@signed' ? forgedDecision : value,
    );
    headers['content-type'] = 'application/json';
    options.payload = text ?? 'null';
  } else if (request.body?.kind === 'raw') {
    if (request.body.contentType) headers['content-type'] = request.body.contentType;
    options.payload = request.body.text;
  }
  return options;
}

/** Every answer of the API to bad input: a 4xx with a JSON body naming error and reason. */
function expectCleanRefusal(response: LightMyRequestResponse, what: string): void {
  expect(response.statusCode, what).toBeGreaterThanOrEqual(400);
  expect(response.statusCode, what).toBeLessThan(500);
  expect(response.headers['content-type'], what).toMatch(/^application\/json/);
  const body = response.json<Record<string, unknown>>();
  expect(typeof body.error, what).toBe('string');
  expect(typeof body.reason, what).toBe('string');
  expect(response.body, what).not.toMatch(/\n\s+at .+:\d+:\d+/);
}

const isBadCaller = (caller: string) =>
  caller.startsWith('malformed:') || (BAD_CALLERS as readonly string[]).includes(caller);

describe('malformed requests against every route', () => {
  it('never answer 5xx; every refusal is a JSON 4xx with error and reason; 2xx only for valid reads', async () => {
    await fc.assert(
      fc.asyncProperty(requests, async (request) => {
        const options = injectOptions(request);
        const what = `${options.method} ${options.url} as ${request.caller}`;
        const response = await stack.app.inject(options);
        expect(response.statusCode, `${what}: ${response.body}`).toBeLessThan(500);
        if (response.statusCode < 400) {
          // Only reads answer 2xx: nothing the generators make may change anything.
          expect(options.method, what).toBe('GET');
          expect(response.statusCode, what).toBe(200);
          if (!request.isPublic) expect(isBadCaller(request.caller), what).toBe(false);
          return;
        }
        expectCleanRefusal(response, what);
        // A bad token never reaches a handler: 401, or the route is unknown, the URL broken, or
        // the body refused as it is read (Fastify reads it for an unknown route too: 400 or 415).
        if (isBadCaller(request.caller) && !request.isPublic)
          expect([400, 401, 404, 414, 415], `${what}: ${response.body}`).toContain(
            response.statusCode,
          );
      }),
      { numRuns: 200 },
    );
  });

  it('reach the open case well formed and are refused by it with a 4xx, never signed', async () => {
    await fc.assert(
      fc.asyncProperty(wellFormed, async (request) => {
        const options = injectOptions(request);
        const response = await stack.app.inject(options);
        const what = `${options.method} ${options.url} as ${request.caller}: ${response.body}`;
        expectCleanRefusal(response, what);
        expect([400, 403, 404, 422], what).toContain(response.statusCode);
      }),
      { numRuns: 60 },
    );
  });

  it('answer bodies over 64 KiB with 413 for every admitted caller (415 for one not JSON, before it is read), 401 without a token', async () => {
    const admitted: Record<string, string> = {
      '/cases': 'owner',
      payments: 'owner',
      decisions: 'registry',
      inspections: 'gas',
      escalations: 'supervisor',
    };
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom('/cases', 'payments', 'decisions', 'inspections', 'escalations'),
        fc.boolean(),
        fc.integer({ min: 64 * 1024 + 1, max: 256 * 1024 }),
        fc.constantFrom('application/json', 'text/plain'),
        async (target, authenticated, size, contentType) => {
          const url = target === '/cases' ? '/cases' : `/cases/${caseId}/${target}`;
          const filler = 'é'.repeat(Math.ceil(size / 2));
          const payload =
            contentType === 'application/json' ? JSON.stringify({ stepId: filler }) : filler;
          const response = await stack.app.inject({
            method: 'POST',
            url,
            headers: {
              ...(authenticated ? tokens[admitted[target]!] : {}),
              'content-type': contentType,
            },
            payload,
          });
          expectCleanRefusal(response, `${url} ${size} bytes`);
          const refused = contentType === 'application/json' ? 413 : 415;
          expect(response.statusCode).toBe(authenticated ? refused : 401);
        },
      ),
      { numRuns: 30 },
    );
  });

  it('changed nothing: the same case rows, ledger size and workflow ids as before the run', async () => {
    // Let visibility catch up with anything the run might have started.
    await new Promise((r) => setTimeout(r, 2000));
    const after = await state();
    expect(after.cases).toBe(before.cases);
    expect(after.ledger).toBe(before.ledger);
    expect(after.workflows).toEqual(before.workflows);
    const open = await stack.app.inject({
      method: 'GET',
      url: `/cases/${caseId}`,
      headers: stack.citizen,
    });
    expect(
      open
        .json<{ steps: { stepId: string; status: string }[] }>()
        .steps.find((s) => s.stepId === 'confirmPayment')?.status,
    ).toBe('waiting');
  });
});
