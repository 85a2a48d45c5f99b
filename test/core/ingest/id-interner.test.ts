/** IdInterner: original ids -> dense indices in first-seen order, small ids by table, large ones hashed. */
import { IdInterner } from '../../../functions/core/ingest/id-interner';
import { Rng } from '../../../functions/core/random';

describe('IdInterner', () => {
  it('numbers ids in first-seen order and gives a repeated id its first index', () => {
    const interner = new IdInterner();
    expect([5, 3, 5, 5, 900_000, 3, 0].map((id) => interner.intern(id))).toEqual([0, 1, 0, 0, 2, 1, 3]);
    expect(interner.size).toBe(4);
    expect(Array.from(interner.ids.subarray(0, interner.size))).toEqual([5, 3, 900_000, 0]);
  });

  it('agrees with a Map over a mix of table and hashed ids, through growth and rehashing', () => {
    const interner = new IdInterner();
    const reference = new Map<number, number>();
    const rng = new Rng(17);
    const got: number[] = [];
    const want: number[] = [];
    for (let i = 0; i < 50_000; i++) {
      // Ids up to 2^24 take the table; above it, the hash (ingestion never sees those, other callers may).
      const id =
        rng.next() < 0.2 ? 2 ** 24 + rng.int(2 ** 30) : rng.int(rng.next() < 0.5 ? 3000 : 16_000_000);
      if (!reference.has(id)) reference.set(id, reference.size);
      got.push(interner.intern(id));
      want.push(reference.get(id)!);
    }
    expect(got).toEqual(want);
    expect(interner.size).toBe(reference.size);
    expect(Array.from(interner.ids.subarray(0, interner.size))).toEqual(Array.from(reference.keys()));
  });
});
