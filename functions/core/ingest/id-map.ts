import type { IdMap } from '../types';

/** Builds an `IdMap` from distinct original ids (any order); indices follow ascending id. */
export function idMapFromIds(distinctIds: Iterable<number>): IdMap {
  const ids = Int32Array.from(distinctIds).sort();
  for (let i = 1; i < ids.length; i++) {
    if (ids[i] === ids[i - 1]) throw new Error(`idMapFromIds: duplicate id ${ids[i]}`);
  }
  const index = new Map<number, number>();
  ids.forEach((id, i) => index.set(id, i));
  return { ids, size: ids.length, indexOf: (id) => index.get(id) };
}
