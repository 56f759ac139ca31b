import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError } from './config.ts';
import { temporalConnectionOptions } from './temporalTls.ts';

const dir = mkdtempSync(join(tmpdir(), 'temporal-tls-'));
/** A file holding `text`; the options read files as they are, so any PEM-shaped text does. */
const file = (name: string, text: string) => {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
};
const ca = file('ca.pem', '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n');
const cert = file('client.pem', '-----BEGIN CERTIFICATE-----\nMIIC\n-----END CERTIFICATE-----\n');
const key = file('client.key', '-----BEGIN PRIVATE KEY-----\nMIGH\n-----END PRIVATE KEY-----\n');
const address = 'temporal.example.org:7233';
const options = (env: Record<string, string>) =>
  temporalConnectionOptions({ TEMPORAL_ADDRESS: address, ...env });

describe("the options a process connects to Temporal's frontend with", () => {
  it('are the address alone, in plain text, when nothing asks for TLS', () => {
    expect(options({})).toEqual({ address });
    expect(options({ TEMPORAL_TLS: 'off' })).toEqual({ address });
  });

  it("check the server against the system's CAs when TLS is on with no CA file", () => {
    expect(options({ TEMPORAL_TLS: 'on' })).toEqual({ address, tls: {} });
  });

  it('take the CA, the client certificate and key, and the server name as given', () => {
    const { tls } = options({
      TEMPORAL_TLS_CA_FILE: ca,
      TEMPORAL_TLS_CERT_FILE: cert,
      TEMPORAL_TLS_KEY_FILE: key,
      TEMPORAL_TLS_SERVER_NAME: 'frontend.temporal.internal',
    });
    expect(Buffer.from(tls!.serverRootCACertificate!).toString()).toContain('MIIB');
    expect(Buffer.from(tls!.clientCertPair!.crt).toString()).toContain('MIIC');
    expect(Buffer.from(tls!.clientCertPair!.key).toString()).toContain('PRIVATE KEY');
    expect(tls!.serverNameOverride).toBe('frontend.temporal.internal');
  });

  it('turn TLS on for any TLS setting without TEMPORAL_TLS', () => {
    expect(options({ TEMPORAL_TLS_SERVER_NAME: 'frontend' }).tls).toEqual({
      serverNameOverride: 'frontend',
    });
  });

  it.each([
    [
      { TEMPORAL_TLS_CERT_FILE: cert },
      /^TEMPORAL_TLS_CERT_FILE is set without TEMPORAL_TLS_KEY_FILE/,
    ],
    [
      { TEMPORAL_TLS_KEY_FILE: key },
      /^TEMPORAL_TLS_KEY_FILE is set without TEMPORAL_TLS_CERT_FILE/,
    ],
    [
      { TEMPORAL_TLS: 'off', TEMPORAL_TLS_CA_FILE: ca },
      /^TEMPORAL_TLS is off, but TEMPORAL_TLS_CA_FILE asks for TLS$/,
    ],
    [
      { TEMPORAL_TLS_CA_FILE: file('ca.der', '0\x82\x01\x0a') },
      /^TEMPORAL_TLS_CA_FILE names .*ca\.der, which holds no PEM certificate$/,
    ],
    [
      // The certificate and its key given the wrong way round.
      { TEMPORAL_TLS_CERT_FILE: key, TEMPORAL_TLS_KEY_FILE: cert },
      /^TEMPORAL_TLS_CERT_FILE names .*client\.key, which holds no PEM certificate$/,
    ],
    [
      { TEMPORAL_TLS_CA_FILE: dir },
      /^TEMPORAL_TLS_CA_FILE names .*, which cannot be read: EISDIR$/,
    ],
  ])('refuse %o with a ConfigError naming what is wrong', (env, reason) => {
    expect(() => options(env)).toThrow(ConfigError);
    expect(() => options(env)).toThrow(reason);
  });
});
