// A list the API answers a page at a time, shown as one list that grows ("Show more") and
// starts over on a reload. Loads overlap (Reload, or an action that reloads, while a page is
// still loading) and their answers come back in any order: an answer is shown only if it still
// fits what is shown, or a late page would be added below a fresh first page (its rows twice,
// and an old page token left in place).

/** A page as the list routes answer: its items, and where the next page starts (none: the last). */
export interface Page<T> {
  items: readonly T[];
  nextPageToken: string | null;
}

export interface PagedList<T> {
  /**
   * Loads the first page and shows it in place of the list; resolves to the list shown. Shows
   * nothing and resolves to undefined when a later reload began meanwhile (its failure then is
   * not reported either).
   */
  reload(): Promise<Page<T> | undefined>;
  /**
   * Loads the page after those shown and shows the list with it added below; resolves to the
   * list shown. Shows nothing and resolves to undefined when there is no next page, or when the
   * list shown changed meanwhile (its failure then is not reported either).
   */
  more(): Promise<Page<T> | undefined>;
}

/**
 * A paged list that fetches pages with `fetchPage` (no token: the first page) and hands the
 * whole list to `show` each time it changes.
 * @example const inbox = pagedList((t) => json(`/inbox${query({ pageToken: t })}`), render)
 */
export function pagedList<T>(
  fetchPage: (pageToken: string | undefined) => Promise<Page<T>>,
  show: (list: Page<T>) => void,
): PagedList<T> {
  let shown: Page<T> = { items: [], nextPageToken: null };
  /** The reload last begun: an earlier one's answer is of an older list. */
  let lastReload = 0;

  async function reload(): Promise<Page<T> | undefined> {
    const load = ++lastReload;
    let page: Page<T>;
    try {
      page = await fetchPage(undefined);
    } catch (error) {
      if (load !== lastReload) return undefined;
      throw error;
    }
    if (load !== lastReload) return undefined;
    shown = { items: page.items, nextPageToken: page.nextPageToken };
    show(shown);
    return shown;
  }

  async function more(): Promise<Page<T> | undefined> {
    // The next page is of the list shown now: it is added only while that list is still shown.
    const base = shown;
    if (!base.nextPageToken) return undefined;
    let page: Page<T>;
    try {
      page = await fetchPage(base.nextPageToken);
    } catch (error) {
      if (shown !== base) return undefined;
      throw error;
    }
    if (shown !== base) return undefined;
    shown = { items: [...base.items, ...page.items], nextPageToken: page.nextPageToken };
    show(shown);
    return shown;
  }

  return { reload, more };
}
