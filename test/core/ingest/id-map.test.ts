import fc from 'fast-check';
import { idMapFromIds, idMapFromSortedIds } from '../../../functions/core/ingest/id-map';

describe('idMapFromIds', () => {
  it('indexes ids in ascending order, whatever the input order', () => {
    const map = idMapFromIds([30, 5, 900, 7]);
    expect(Array.from(map.ids)).toEqual([5, 7, 30, 900]);
    expect(map.size).toBe(4);
    expect([5, 7, 30, 900].map(map.indexOf)).toEqual([0, 1, 2, 3]);
    expect([0, 6, 31, 901, -1, 7.5].map(map.indexOf)).toEqual(Array(6).fill(undefined));
  });

  it('throws on duplicate ids and on unsorted input to the sorted variant', () => {
    expect(() => idMapFromIds([1, 2, 1])).toThrow('idMapFromIds: duplicate id 1');
    expect(() => idMapFromSortedIds(Int32Array.from([1, 3, 2]))).toThrow(/not ascending at index 2/);
  });

  it('is empty for no ids', () => {
    const map = idMapFromIds([]);
    expect(map.size).toBe(0);
    expect(map.indexOf(0)).toBeUndefined();
  });

  it('finds every id and nothing else, for compact (table) and sparse (binary search) ids', () => {
    const ids = fc.uniqueArray(
      fc.oneof(fc.integer({ min: 0, max: 3000 }), fc.integer({ min: 0, max: 2 ** 31 - 1 })),
      {
        maxLength: 300,
      },
    );
    fc.assert(
      fc.property(
        ids,
        fc.array(fc.integer({ min: -5, max: 2 ** 31 - 1 }), { maxLength: 50 }),
        (list, probes) => {
          const map = idMapFromIds(list);
          const sorted = [...list].sort((a, b) => a - b);
          sorted.forEach((id, i) => expect(map.indexOf(id)).toBe(i));
          for (const p of probes)
            expect(map.indexOf(p)).toBe(sorted.includes(p) ? sorted.indexOf(p) : undefined);
        },
      ),
    );
  });
});
