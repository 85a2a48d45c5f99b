// Reference copy (bench/reference/prepare-v0/README.md): functions/core/ingest/id-map.ts at 48aa102, imports rewired.
import type { IdMap } from '../../../../functions/core/types';

/** Builds an `IdMap` from distinct original ids (any order); indices follow ascending id. */
export function idMapFromIds(distinctIds: Iterable<number>): IdMap {
  return idMapFromSortedIds(Int32Array.from(distinctIds).sort());
}

/**
 * Builds an `IdMap` over ids already sorted ascending and distinct (throws otherwise); `ids` is kept,
 * not copied. Lookups use a dense table when the ids are compact (MovieLens ids are: 1..n with gaps),
 * at most 8 table slots per id, else a binary search: no JS Map of hundreds of thousands of entries.
 */
export function idMapFromSortedIds(ids: Int32Array): IdMap {
  for (let i = 1; i < ids.length; i++) {
    if (ids[i] === ids[i - 1]) throw new Error(`idMapFromIds: duplicate id ${ids[i]}`);
    if (ids[i] < ids[i - 1]) throw new Error(`idMapFromSortedIds: ids are not ascending at index ${i}`);
  }
  const size = ids.length;
  if (size === 0) return { ids, size, indexOf: () => undefined };
  const min = ids[0];
  const range = ids[size - 1] - min + 1;
  if (range <= Math.max(1024, 8 * size)) {
    const table = new Int32Array(range).fill(-1);
    for (let i = 0; i < size; i++) table[ids[i] - min] = i;
    return {
      ids,
      size,
      indexOf: (id) => {
        const slot = id - min;
        const index = slot >= 0 && slot < range ? table[slot] : -1;
        return index >= 0 && Number.isInteger(id) ? index : undefined;
      },
    };
  }
  return {
    ids,
    size,
    indexOf: (id) => {
      const index = sortedIndexOf(ids, id);
      return index >= 0 ? index : undefined;
    },
  };
}

/** Position of `value` in ascending `sorted`, or -1 (binary search). */
export function sortedIndexOf(sorted: ArrayLike<number>, value: number): number {
  let lo = 0;
  let hi = sorted.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    const v = sorted[mid];
    if (v === value) return mid;
    if (v < value) lo = mid + 1;
    else hi = mid - 1;
  }
  return -1;
}
