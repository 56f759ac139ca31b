// TLS to Temporal's frontend (infra/temporalTls.ts), against the real dev server behind a TLS
// proxy: the dev server speaks plain HTTP/2, and a frontend reached across networks (the
// agencies' workers run on their own machines) is reached through such a proxy or over
// Temporal's own TLS. Certificates come from openssl: a CA, the frontend's and a client's.
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { connect, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer, type Server } from 'node:tls';
import { Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { installRuntime } from '../../cli/workers.ts';
import { temporalConnectionOptions } from '../../infra/temporalTls.ts';
import { onewindow } from './cli.ts';
import { TEST_PAYLOAD_KEY } from './stack.ts';

const dir = mkdtempSync(join(tmpdir(), 'temporal-tls-'));
const path = (name: string) => join(dir, name);
const openssl = (...args: string[]) => execFileSync('openssl', args, { stdio: 'pipe' });
const P256 = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

/** A certificate the test CA issues to `name`, for `usage` (serverAuth or clientAuth). */
function issue(name: string, usage: 'serverAuth' | 'clientAuth', altNames = ''): void {
  writeFileSync(
    path(`${name}.ext`),
    `basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=${usage}\n${altNames}`,
  );
  openssl(
    'req',
    ...P256,
    '-keyout',
    path(`${name}.key`),
    '-out',
    path(`${name}.csr`),
    '-subj',
    `/CN=${name}`,
  );
  openssl(
    'x509',
    '-req',
    '-in',
    path(`${name}.csr`),
    '-CA',
    path('ca.pem'),
    '-CAkey',
    path('ca.key'),
    '-CAcreateserial',
    '-days',
    '2',
    '-out',
    path(`${name}.pem`),
    '-extfile',
    path(`${name}.ext`),
  );
}

/** A TLS proxy (HTTP/2 by ALPN) to the dev server; with `mutual`, clients need a certificate. */
async function tlsProxy(mutual: boolean): Promise<{ server: Server; address: string }> {
  const [host, port] = inject('temporalAddress').split(':') as [string, string];
  const server = createServer(
    {
      key: readFileSync(path('frontend.key')),
      cert: readFileSync(path('frontend.pem')),
      ALPNProtocols: ['h2'],
      ...(mutual
        ? { ca: readFileSync(path('ca.pem')), requestCert: true, rejectUnauthorized: true }
        : {}),
    },
    (socket) => {
      const upstream = connect(Number(port), host);
      socket.pipe(upstream).pipe(socket);
      socket.on('error', () => upstream.destroy());
      upstream.on('error', () => socket.destroy());
    },
  );
  server.on('tlsClientError', () => undefined);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, address: `127.0.0.1:${(server.address() as AddressInfo).port}` };
}

let plain: { server: Server; address: string };
let mutual: { server: Server; address: string };

beforeAll(async () => {
  installRuntime('WARN');
  openssl(
    'req',
    '-x509',
    ...P256,
    '-keyout',
    path('ca.key'),
    '-out',
    path('ca.pem'),
    '-days',
    '2',
    '-subj',
    '/CN=OneWindow test CA',
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign',
  );
  issue('frontend', 'serverAuth', 'subjectAltName=DNS:temporal.test,IP:127.0.0.1\n');
  issue('tax-worker', 'clientAuth');
  plain = await tlsProxy(false);
  mutual = await tlsProxy(true);
});

afterAll(() => {
  plain?.server.close();
  mutual?.server.close();
});

/** The options for a proxy, with the test CA and `env` (TEMPORAL_TLS_* variables). */
const optionsFor = (proxy: { address: string }, env: Record<string, string> = {}) =>
  temporalConnectionOptions({
    TEMPORAL_ADDRESS: proxy.address,
    TEMPORAL_TLS_CA_FILE: path('ca.pem'),
    ...env,
  });
const clientCertificate = {
  TEMPORAL_TLS_CERT_FILE: path('tax-worker.pem'),
  TEMPORAL_TLS_KEY_FILE: path('tax-worker.key'),
};

/** Whether a client connection with `options` reaches the frontend (its system info). */
async function clientReaches(options: ReturnType<typeof optionsFor>): Promise<boolean> {
  try {
    const connection = await Connection.connect({ ...options, connectTimeout: 3000 });
    await connection.workflowService.getSystemInfo({});
    await connection.close();
    return true;
  } catch {
    return false;
  }
}

/** Whether a worker's connection with `options` reaches the frontend. */
async function workerReaches(options: ReturnType<typeof optionsFor>): Promise<boolean> {
  try {
    const connection = await NativeConnection.connect(options);
    await connection.workflowService.getSystemInfo({});
    await connection.close();
    return true;
  } catch {
    return false;
  }
}

describe("TLS to Temporal's frontend", () => {
  it("reaches it from the client and the workers with the frontend's CA", async () => {
    expect(await clientReaches(optionsFor(plain))).toBe(true);
    expect(await workerReaches(optionsFor(plain))).toBe(true);
  });

  it('checks the name the certificate holds, overridden by TEMPORAL_TLS_SERVER_NAME', async () => {
    const named = (name: string) => optionsFor(plain, { TEMPORAL_TLS_SERVER_NAME: name });
    expect(await clientReaches(named('temporal.test'))).toBe(true);
    expect(await workerReaches(named('temporal.test'))).toBe(true);
    expect(await clientReaches(named('elsewhere.test'))).toBe(false);
    expect(await workerReaches(named('elsewhere.test'))).toBe(false);
  });

  it("does not reach a frontend whose certificate the system's CAs did not issue", async () => {
    const systemCas = temporalConnectionOptions({
      TEMPORAL_ADDRESS: plain.address,
      TEMPORAL_TLS: 'on',
    });
    expect(await clientReaches(systemCas)).toBe(false);
    expect(await workerReaches(systemCas)).toBe(false);
  });

  it('reaches a frontend that asks for mTLS only with the client certificate', async () => {
    expect(await clientReaches(optionsFor(mutual))).toBe(false);
    expect(await workerReaches(optionsFor(mutual))).toBe(false);
    expect(await clientReaches(optionsFor(mutual, clientCertificate))).toBe(true);
    expect(await workerReaches(optionsFor(mutual, clientCertificate))).toBe(true);
  });

  it('is what onewindow connects with: a case erasure over mTLS reaches the case store', async () => {
    const caseId = randomUUID();
    const env = {
      DATABASE_URL: inject('databaseUrl'),
      ONEWINDOW_PAYLOAD_KEY: TEST_PAYLOAD_KEY,
      TEMPORAL_ADDRESS: mutual.address,
      TEMPORAL_TLS_CA_FILE: path('ca.pem'),
    };
    // Connected, it looks the case up: there is none (exit code 2, naming it).
    const connected = await onewindow(['case', 'erase', caseId], { ...env, ...clientCertificate });
    expect(connected.code, connected.stderr).toBe(2);
    expect(connected.stderr).toContain(caseId);
    // Without its certificate it never gets that far.
    const refused = await onewindow(['case', 'erase', caseId], env);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/Failed to connect|certificate|TLS|handshake/i);
    expect(refused.stderr).not.toContain(caseId);
    // A certificate without its key is refused before anything is asked.
    const half = await onewindow(['case', 'erase', caseId], {
      ...env,
      TEMPORAL_TLS_CERT_FILE: clientCertificate.TEMPORAL_TLS_CERT_FILE,
    });
    expect(half.code).toBe(2);
    expect(half.stderr).toContain('TEMPORAL_TLS_CERT_FILE is set without TEMPORAL_TLS_KEY_FILE');
  });
});
