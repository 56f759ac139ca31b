import { describe, expect, it } from 'vitest';
import { UsageError } from './args.ts';
import { hostOption } from './witnessConfig.ts';

describe('--host', () => {
  it('follows the rule of HOST: empty is the default, loopback, never every interface', () => {
    expect(hostOption('')).toBe('127.0.0.1');
    expect(hostOption('0.0.0.0')).toBe('0.0.0.0');
    expect(hostOption(undefined)).toBeUndefined();
  });

  it.each(['witness', 'api'])(
    'is refused by %s before anything starts when it is no address',
    async (command) => {
      const run =
        command === 'witness'
          ? (await import('./witness.ts')).runWitness
          : (await import('./api.ts')).runApi;
      await expect(run(['--host', 'http://127.0.0.1'], {})).rejects.toThrow(
        new UsageError('--host must be an address such as 0.0.0.0, got "http://127.0.0.1"'),
      );
    },
  );
});
