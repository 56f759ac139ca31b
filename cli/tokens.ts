// `onewindow tokens`: signed bearer tokens for the demo and for tests, from the token issuer's
// key file. In production an identity provider issues them; the API only needs the public key.
import { Agency } from '../domain/agency.ts';
import { toBase64 } from '../ledger/bytes.ts';
import { issueToken, MAX_TOKEN_SECONDS, Principal, Role } from '../api/auth.ts';
import { parse, UsageError } from './args.ts';
import { KeyNameError, keyOption, TOKEN_ISSUER_KEY_NAME } from './keys.ts';

const USAGE = `usage: onewindow tokens --key <issuer key file> --role citizen|officer|supervisor --subject <id> [--agency <id>] [--ttl <duration>]
       onewindow tokens public-key --key <issuer key file>
  --ttl   how long the token lives: 30m, 8h, 2d (default 8h, at most 7d)
  the key file may also come from ONEWINDOW_TOKEN_KEY_FILE; the API checks tokens with the
  public key (ONEWINDOW_TOKEN_PUBLIC_KEY), which \`public-key\` prints.`;

/** A duration such as 90s, 30m, 8h or 2d, in seconds. */
export function durationSeconds(text: string): number {
  const match = /^(\d{1,6})(s|m|h|d)$/.exec(text);
  if (!match)
    throw new UsageError(`--ttl must look like 30m, 8h or 2d, got ${JSON.stringify(text)}`);
  const seconds = Number(match[1]) * { s: 1, m: 60, h: 3600, d: 86_400 }[match[2] as 's'];
  if (seconds < 1 || seconds > MAX_TOKEN_SECONDS)
    throw new UsageError(`--ttl must be from 1s to 7d, got ${text}`);
  return seconds;
}

export async function runTokens(
  argv: string[],
  env: NodeJS.ProcessEnv = process.env,
  out: (line: string) => void = (line) => process.stdout.write(`${line}\n`),
): Promise<number> {
  const { values, positionals } = parse(argv, {
    key: { type: 'string' },
    role: { type: 'string' },
    subject: { type: 'string' },
    agency: { type: 'string' },
    ttl: { type: 'string' },
  });
  // public-key prints the key --key names and takes nothing else: a stray flag is a mistake
  // to say before anything is read.
  const stray = [
    ...positionals.slice(1),
    ...Object.keys(values)
      .filter((k) => k !== 'key')
      .map((k) => `--${k}`),
  ];
  if (positionals[0] === 'public-key' && stray.length > 0)
    throw new UsageError(`public-key takes only --key, not ${stray.join(', ')}\n${USAGE}`);
  // The issuer's key only: another key file (an agency's) would print or sign with a key
  // the API does not check tokens by, or, trusted by mistake, let that key's holder sign them.
  let key;
  try {
    key = keyOption(
      values.key,
      env,
      'ONEWINDOW_TOKEN_KEY_FILE',
      'tokens are signed with it',
      TOKEN_ISSUER_KEY_NAME,
    );
  } catch (error) {
    // An issuer key made before as another kind of key (an agency's): say how to make one.
    if (error instanceof KeyNameError)
      throw new UsageError(
        `${error.message}: make the issuer's key with onewindow keys generate --token-issuer --out <file>, and give the API the public key it prints (ONEWINDOW_TOKEN_PUBLIC_KEY)`,
      );
    throw error;
  }
  if (positionals[0] === 'public-key') {
    out(toBase64(key.publicKey));
    return 0;
  }
  if (positionals.length > 0) throw new UsageError(`unknown argument ${positionals[0]}\n${USAGE}`);
  const role = Role.safeParse(values.role);
  if (!role.success)
    throw new UsageError(`--role must be citizen, officer or supervisor\n${USAGE}`);
  if (role.data === 'officer' && !Agency.safeParse(values.agency).success)
    throw new UsageError(`an officer acts for one agency: --agency ${Agency.options.join('|')}`);
  if (role.data !== 'officer' && values.agency !== undefined)
    throw new UsageError('--agency is for officers only');
  const principal = Principal.safeParse({
    role: role.data,
    sub: values.subject,
    ...(role.data === 'officer' ? { agency: values.agency } : {}),
  });
  if (!principal.success)
    throw new UsageError(`--subject ${principal.error.issues[0]?.message ?? 'is invalid'}`);
  out(await issueToken(key.seed, principal.data, durationSeconds(values.ttl ?? '8h')));
  return 0;
}
