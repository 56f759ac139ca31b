// The workflow of bench/queryRace.ts: on each signal it runs one slow activity, local or not,
// and answers a query with the rounds done. Nothing of OneWindow: the sdk-core race it shows
// needs only a local activity and a query.
import {
  condition,
  defineQuery,
  defineSignal,
  proxyActivities,
  proxyLocalActivities,
  setHandler,
} from '@temporalio/workflow';

export interface SlowActivities {
  slow(ms: number): Promise<void>;
}
const local = proxyLocalActivities<SlowActivities>({ startToCloseTimeout: '30s' });
const remote = proxyActivities<SlowActivities>({ startToCloseTimeout: '30s' });
export const goSignal = defineSignal('go');
export const roundsDoneQuery = defineQuery<number>('roundsDone');

export async function queryRace(rounds: number, activityMs: number, isLocal: boolean) {
  let signals = 0;
  let done = 0;
  setHandler(goSignal, () => void signals++);
  setHandler(roundsDoneQuery, () => done);
  for (let round = 0; round < rounds; round++) {
    await condition(() => signals > round);
    await (isLocal ? local : remote).slow(activityMs);
    done++;
  }
  return done;
}
