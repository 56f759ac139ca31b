// A list shown a page at a time, whose loads overlap: the answers are released by hand, in the
// order a slow network could give them, and the list shown must be one the server could have
// listed (no row twice, the next page token of the last page shown).
import { describe, expect, test } from 'vitest';
import { pagedList, type Page } from './pagedList.ts';

/** A fake list route: each call waits until the test answers it (or fails it). */
function fakeRoute() {
  const calls: {
    pageToken: string | undefined;
    answer: (page: Page<string>) => void;
    fail: (error: Error) => void;
  }[] = [];
  const fetchPage = (pageToken: string | undefined) =>
    new Promise<Page<string>>((answer, fail) => calls.push({ pageToken, answer, fail }));
  return { calls, fetchPage };
}

function listed() {
  const route = fakeRoute();
  const shown: Page<string>[] = [];
  const list = pagedList(route.fetchPage, (page) => shown.push(page));
  return { ...route, list, shown, last: () => shown.at(-1) };
}

const firstPage = { items: ['c', 'b'], nextPageToken: 'after-b' };

describe('a paged list', () => {
  test('adds the next page below the first, and keeps the last page token', async () => {
    const { calls, list, last } = listed();
    const reload = list.reload();
    calls[0]!.answer(firstPage);
    await reload;
    const more = list.more();
    expect(calls[1]!.pageToken).toBe('after-b');
    calls[1]!.answer({ items: ['a'], nextPageToken: null });
    await more;
    expect(last()).toEqual({ items: ['c', 'b', 'a'], nextPageToken: null });
  });

  test('drops a next page that comes back after a reload, not adding it below the fresh first page', async () => {
    const { calls, list, last } = listed();
    const first = list.reload();
    calls[0]!.answer(firstPage);
    await first;
    const more = list.more();
    const reload = list.reload();
    calls[2]!.answer({ items: ['d', 'c'], nextPageToken: 'after-c' });
    await reload;
    calls[1]!.answer({ items: ['a'], nextPageToken: null });
    expect(await more).toBeUndefined();
    expect(last()).toEqual({ items: ['d', 'c'], nextPageToken: 'after-c' });
  });

  test('drops a first page that comes back after a later reload', async () => {
    const { calls, list, shown, last } = listed();
    const early = list.reload();
    const late = list.reload();
    calls[1]!.answer({ items: ['d'], nextPageToken: null });
    await late;
    calls[0]!.answer(firstPage);
    expect(await early).toBeUndefined();
    expect(shown).toHaveLength(1);
    expect(last()).toEqual({ items: ['d'], nextPageToken: null });
  });

  test('does not report the failure of a load already superseded', async () => {
    const { calls, list } = listed();
    const early = list.reload();
    const late = list.reload();
    calls[0]!.fail(new Error('timed out'));
    expect(await early).toBeUndefined();
    calls[1]!.answer(firstPage);
    expect(await late).toEqual(firstPage);
  });

  test('reports the failure of the load that is still current, keeping the list shown', async () => {
    const { calls, list, shown } = listed();
    const reload = list.reload();
    calls[0]!.answer(firstPage);
    await reload;
    const more = list.more();
    calls[1]!.fail(new Error('timed out'));
    await expect(more).rejects.toThrow('timed out');
    expect(shown).toEqual([firstPage]);
  });

  test('asks for no next page after the last one', async () => {
    const { calls, list } = listed();
    const reload = list.reload();
    calls[0]!.answer({ items: ['a'], nextPageToken: null });
    await reload;
    expect(await list.more()).toBeUndefined();
    expect(calls).toHaveLength(1);
  });
});
