// Every route × every caller, from one table: who may do what (issue 5, "a test walks the full
// matrix of role x route"). Each request is otherwise valid, so the cell shows the
// authentication and authorisation decision; where the role is admitted but the case refuses
// the request itself (a step that is not open), the cell says so with the workflow's 422.
import type { InjectOptions } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { issueToken } from '../../api/auth.ts';
import { generateSigningKey } from '../../ledger/keys.ts';
import { submit, waitForStep } from './caseDriver.ts';
import { sampleApplication, startStack, type Stack } from './stack.ts';

const CALLERS = [
  'no token',
  'malformed header',
  'expired token',
  'forged token',
  'citizen (owner)',
  'citizen (not owner)',
  'officer registry',
  'officer tax',
  'supervisor',
] as const;
type Caller = (typeof CALLERS)[number];

/** What each admitted caller gets, in CALLERS order from 'citizen (owner)'. */
type Admitted = [
  owner: number,
  notOwner: number,
  registry: number,
  tax: number,
  supervisor: number,
];

interface Route {
  /** Method and path as the OpenAPI document names it (`:param` for `{param}`). */
  route: string;
  /** The cell's name, when it differs from the route (a public route's example URL). */
  name?: string;
  /** The request, built per cell (a fresh application for each POST /cases). */
  request: () => Omit<InjectOptions, 'headers'>;
  /** 'public' (the ledger, the API description, health): 200 for every caller; otherwise 401 for the four bad tokens, then these. */
  expected: 'public' | Admitted;
  /** Runs before the cell's request (e.g. publish a checkpoint the request needs). */
  before?: () => Promise<void>;
  /** The field a 403 names for a caller the role admits but the request refuses (default authorization). */
  forbiddenField?: Partial<Record<Caller, string>>;
}

let stack: Stack;
let caseId: string;
let headers: Record<Caller, Record<string, string>>;
/** Units of the cases the matrix itself opens, closed again afterwards. */
const opened: string[] = [];

beforeAll(async () => {
  stack = await startStack(['housing', 'tax', 'registry', 'electricity']);
  const hourAgo = new Date(Date.now() - 3_600_000);
  const supervisor = { role: 'supervisor', sub: 'supervisor-1' } as const;
  headers = {
    'no token': {},
    'malformed header': { authorization: 'Bearer not-a-jwt' },
    // A supervisor's token that lived a minute, an hour ago.
    'expired token': await stack.as(supervisor, { now: hourAgo, seconds: 60 }),
    // Well formed, right claims, signed by a key the API does not trust.
    'forged token': {
      authorization: `Bearer ${await issueToken(generateSigningKey('forger').seed, supervisor, 3600)}`,
    },
    'citizen (owner)': stack.citizen,
    'citizen (not owner)': await stack.as({ role: 'citizen', sub: 'citizen-2' }),
    'officer registry': stack.officer.registry,
    'officer tax': stack.officer.tax,
    supervisor: stack.supervisor,
  };
  // The matrix case waits for the citizen's payment for the whole run: nothing moves it on.
  const application = sampleApplication({ utilities: ['electricity'] });
  opened.push(application.unitId);
  caseId = await submit(stack, application);
  await waitForStep(stack, caseId, 'confirmPayment', 'waiting');
  await stack.publisher.request();
  // A consistency proof needs a signed checkpoint at `from`: the smallest the shared log has.
  const { rows } = await stack.pool.query<{ size: string }>(
    'SELECT min(size) AS size FROM checkpoints',
  );
  firstCheckpointSize = Number(rows[0]!.size);
});

afterAll(async () => {
  for (const unitId of opened)
    await stack?.client.workflow
      .getHandle(`case:${unitId}`)
      .terminate('role matrix finished')
      .catch(() => undefined);
  await stack?.stop();
});

let firstCheckpointSize = 1;
const purpose = 'role matrix check';
const ROUTES: Route[] = [
  {
    route: 'POST /cases',
    request: () => {
      const application = sampleApplication({ utilities: [] });
      opened.push(application.unitId);
      return { method: 'POST', url: '/cases', payload: application };
    },
    expected: [201, 201, 403, 403, 403],
  },
  {
    route: 'GET /cases',
    request: () => ({ method: 'GET', url: '/cases' }),
    expected: [200, 200, 403, 403, 200],
  },
  {
    route: 'GET /cases/:caseId',
    request: () => ({ method: 'GET', url: `/cases/${caseId}` }),
    expected: [200, 404, 403, 403, 200],
  },
  {
    route: 'GET /cases/:caseId/timeline',
    request: () => ({ method: 'GET', url: `/cases/${caseId}/timeline`, query: { purpose } }),
    expected: [403, 403, 403, 403, 200],
  },
  {
    route: 'GET /cases/:caseId/access-log',
    request: () => ({ method: 'GET', url: `/cases/${caseId}/access-log` }),
    expected: [200, 404, 403, 403, 200],
  },
  {
    // The case has no arrears to settle: the owner is admitted and the case refuses (422).
    route: 'POST /cases/:caseId/payments',
    request: () => ({
      method: 'POST',
      url: `/cases/${caseId}/payments`,
      payload: { stepId: 'settleArrears.electricity' },
    }),
    expected: [422, 404, 403, 403, 403],
  },
  {
    route: 'GET /inbox',
    request: () => ({ method: 'GET', url: '/inbox' }),
    expected: [403, 403, 200, 200, 403],
  },
  {
    route: 'GET /cases/:caseId/view',
    request: () => ({ method: 'GET', url: `/cases/${caseId}/view`, query: { purpose } }),
    expected: [403, 403, 200, 200, 403],
  },
  {
    // The review is not open yet: the registry is admitted and the case refuses (422); the
    // tax office does not decide reviews at all (403).
    route: 'POST /cases/:caseId/decisions',
    request: () => ({
      method: 'POST',
      url: `/cases/${caseId}/decisions`,
      payload: { stepId: 'review', outcome: 'approved', reason: 'role matrix check' },
    }),
    expected: [403, 403, 422, 403, 403],
    // The tax officer's role is admitted; the step is what the tax office may not decide.
    forbiddenField: { 'officer tax': 'stepId' },
  },
  {
    // Only the gas company's officers record inspections: none of these callers is one.
    route: 'POST /cases/:caseId/inspections',
    request: () => ({
      method: 'POST',
      url: `/cases/${caseId}/inspections`,
      payload: { unitId: 'U-1', outcome: 'passed' },
    }),
    expected: [403, 403, 403, 403, 403],
  },
  {
    route: 'GET /cases/:caseId/evidence',
    request: () => ({ method: 'GET', url: `/cases/${caseId}/evidence` }),
    expected: [403, 403, 403, 403, 200],
    // Earlier cells logged reads: the bundle needs a published checkpoint covering them.
    before: () => stack.publisher.request(),
  },
  {
    // Nothing is escalated: the supervisor is admitted and the case refuses (422).
    route: 'POST /cases/:caseId/escalations',
    request: () => ({
      method: 'POST',
      url: `/cases/${caseId}/escalations`,
      payload: { stepId: 'confirmPayment', action: 'retry', reason: 'role matrix check' },
    }),
    expected: [403, 403, 403, 403, 422],
  },
  {
    route: 'GET /escalations',
    request: () => ({ method: 'GET', url: '/escalations' }),
    expected: [403, 403, 403, 403, 200],
  },
  ...[
    ['/ledger/trust', '/ledger/trust'],
    ['/ledger/checkpoint', '/ledger/checkpoint'],
    ['/ledger/entries/:index', '/ledger/entries/0'],
    ['/ledger/proof/inclusion', '/ledger/proof/inclusion?index=0'],
    ['/ledger/proof/consistency', '/ledger/proof/consistency?from=FIRST'],
    ['/ledger/tile/:*', '/ledger/tile/0/000.p/1'],
    ['/ledger/tile/:*', '/ledger/tile/entries/000.p/1'],
    ['/openapi.json', '/openapi.json'],
    ['/healthz', '/healthz'],
    ['/readyz', '/readyz'],
  ].map(([path, url]): Route => ({
    route: `GET ${path}`,
    name: `GET ${url}`,
    request: () => ({ method: 'GET', url: url!.replace('FIRST', String(firstCheckpointSize)) }),
    expected: 'public',
  })),
];

const BAD_TOKENS: readonly Caller[] = CALLERS.slice(0, 4);
/** Why each bad token is refused: the 401 says which of the four it is. */
const REFUSAL: Partial<Record<Caller, RegExp>> = {
  'no token': /header is required/,
  'malformed header': /must be Bearer <token>/,
  'expired token': /expired/,
  'forged token': /signature does not verify/,
};

function expectedStatus(route: Route, caller: Caller): number {
  if (route.expected === 'public') return 200;
  const admitted = CALLERS.indexOf(caller) - BAD_TOKENS.length;
  return admitted < 0 ? 401 : route.expected[admitted]!;
}

const CELLS = ROUTES.flatMap((route) =>
  CALLERS.map((caller) => ({
    route: route.name ?? route.route,
    caller,
    status: expectedStatus(route, caller),
    def: route,
  })),
);

describe('the role matrix: every route for every caller', () => {
  it('covers every route the API documents', async () => {
    const doc = (await stack.app.inject({ method: 'GET', url: '/openapi.json' })).json<{
      paths: Record<string, Record<string, unknown>>;
    }>();
    const documented = Object.entries(doc.paths).flatMap(([path, ops]) =>
      Object.keys(ops).map((m) => `${m.toUpperCase()} ${path.replace(/\{([^}]+)\}/g, ':$1')}`),
    );
    const tested = new Set(ROUTES.map((r) => r.route));
    expect(documented.length).toBeGreaterThanOrEqual(16);
    expect(documented.filter((r) => !tested.has(r))).toEqual([]);
  });

  it.each(CELLS)('$route as $caller answers $status', async ({ caller, status, def }) => {
    await def.before?.();
    const response = await stack.app.inject({ ...def.request(), headers: headers[caller] });
    expect(response.statusCode, response.body).toBe(status);
    if (status === 401 || status === 403) {
      const body = response.json<{ error: string; field: string; reason: string }>();
      expect(body).toEqual({
        error: status === 401 ? 'unauthorized' : 'forbidden',
        field: def.forbiddenField?.[caller] ?? 'authorization',
        reason: expect.any(String) as string,
      });
      expect(body.reason.length).toBeGreaterThan(0);
      if (status === 401) {
        expect(response.headers['www-authenticate']).toBe('Bearer');
        expect(body.reason).toMatch(REFUSAL[caller]!);
      }
    } else if (status >= 400) {
      expect(response.json()).toMatchObject({
        error: expect.any(String) as string,
        reason: expect.any(String) as string,
      });
    }
  });
});
