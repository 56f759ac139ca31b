// How a process reaches Temporal's frontend: TEMPORAL_ADDRESS, over TLS when configured
// (infra/config.ts temporalShape). Agencies run their workers on their own machines, so the
// frontend is reached across networks; mTLS lets the frontend know each one by its
// certificate. The same options serve the client (`Connection`) and the workers
// (`NativeConnection`): both take `tls` as Temporal's TLSConfig.
import { readFileSync } from 'node:fs';
import type { TLSConfig } from '@temporalio/client';
import { ConfigError, type TemporalConfig } from './config.ts';

/**
 * The connection options for Temporal: its address and, when any TEMPORAL_TLS_* is set or
 * TEMPORAL_TLS is on, TLS with the files read now.
 * @throws ConfigError naming the variable: a certificate without its key or a key without its
 *   certificate, TLS off beside a TLS setting, or a file that is no PEM.
 */
export function temporalConnectionOptions(
  config: Partial<TemporalConfig> & Pick<TemporalConfig, 'TEMPORAL_ADDRESS'>,
): { address: string; tls?: TLSConfig } {
  const {
    TEMPORAL_TLS: tls,
    TEMPORAL_TLS_CA_FILE: caFile,
    TEMPORAL_TLS_CERT_FILE: certFile,
    TEMPORAL_TLS_KEY_FILE: keyFile,
    TEMPORAL_TLS_SERVER_NAME: serverName,
  } = config;
  const given = Object.entries({
    TEMPORAL_TLS_CA_FILE: caFile,
    TEMPORAL_TLS_CERT_FILE: certFile,
    TEMPORAL_TLS_KEY_FILE: keyFile,
    TEMPORAL_TLS_SERVER_NAME: serverName,
  }).flatMap(([name, value]) => (value === undefined ? [] : [name]));
  if (tls === 'off' && given.length > 0)
    throw new ConfigError(
      `TEMPORAL_TLS is off, but ${given.join(' and ')} ${given.length > 1 ? 'ask' : 'asks'} for TLS`,
    );
  if ((certFile === undefined) !== (keyFile === undefined))
    throw new ConfigError(
      certFile === undefined
        ? 'TEMPORAL_TLS_KEY_FILE is set without TEMPORAL_TLS_CERT_FILE: mTLS needs both'
        : 'TEMPORAL_TLS_CERT_FILE is set without TEMPORAL_TLS_KEY_FILE: mTLS needs both',
    );
  if (tls !== 'on' && given.length === 0) return { address: config.TEMPORAL_ADDRESS };
  return {
    address: config.TEMPORAL_ADDRESS,
    tls: {
      ...(caFile
        ? { serverRootCACertificate: pem('TEMPORAL_TLS_CA_FILE', caFile, 'CERTIFICATE') }
        : {}),
      ...(certFile && keyFile
        ? {
            clientCertPair: {
              crt: pem('TEMPORAL_TLS_CERT_FILE', certFile, 'CERTIFICATE'),
              key: pem('TEMPORAL_TLS_KEY_FILE', keyFile, 'PRIVATE KEY'),
            },
          }
        : {}),
      ...(serverName ? { serverNameOverride: serverName } : {}),
    },
  };
}

/**
 * The file's bytes, when it can be read and holds a PEM block of `kind` (a certificate, or an
 * unencrypted private key: "PRIVATE KEY", "EC PRIVATE KEY", "RSA PRIVATE KEY"), the first
 * checks the TLS stack would make later, at the first connection.
 */
function pem(variable: string, path: string, kind: 'CERTIFICATE' | 'PRIVATE KEY'): Buffer {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (error) {
    throw new ConfigError(
      `${variable} names ${path}, which cannot be read: ${(error as NodeJS.ErrnoException).code ?? String(error)}`,
    );
  }
  // Not an encrypted key, an OpenSSH one or a "trusted" certificate: the TLS stack reads none.
  const block =
    kind === 'CERTIFICATE'
      ? /-----BEGIN CERTIFICATE-----/
      : /-----BEGIN ((RSA|EC) )?PRIVATE KEY-----/;
  if (!block.test(bytes.toString('latin1')))
    throw new ConfigError(`${variable} names ${path}, which holds no PEM ${kind.toLowerCase()}`);
  return bytes;
}
