import { parseMlConfig, type EncodingConfig } from '../../../functions/core/config';
import { encodeFmExamples } from '../../../functions/core/fm/encode';
import { withRecentCopies } from '../../../functions/core/fm/recent-copies';
import { idMapFromIds } from '../../../functions/core/ingest/id-map';
import { Rng } from '../../../functions/core/random';
import type { Ratings } from '../../../functions/core/types';

type Row = readonly [userId: number, movieId: number, timestamp: number];

function ratingsOf(rows: readonly Row[], catalog: readonly number[] = []): Ratings {
  const users = idMapFromIds(new Set(rows.map((r) => r[0])));
  const movies = idMapFromIds(new Set([...rows.map((r) => r[1]), ...catalog]));
  return {
    length: rows.length,
    user: Uint32Array.from(rows, (r) => users.indexOf(r[0])!),
    movie: Uint32Array.from(rows, (r) => movies.indexOf(r[1])!),
    rating: new Float32Array(rows.length).fill(4),
    timestamp: Float64Array.from(rows, (r) => r[2]),
    users,
    movies,
    source: new Uint16Array(rows.length),
    sourceNames: ['test'],
  };
}

const all = (r: Ratings): Uint32Array => Uint32Array.from({ length: r.length }, (_, i) => i);

function encoding(overrides: Partial<EncodingConfig>): EncodingConfig {
  return { ...parseMlConfig({}).encoding, ...overrides };
}

// User 1 rated 10 movies at times 10, 9, ..., 1 (latest first in file order); user 2 rated 4 movies,
// the latest two at the same time; user 3 rated one movie.
const ROWS: Row[] = [
  ...Array.from({ length: 10 }, (_, i): Row => [1, 100 + i, 10 - i]),
  [2, 100, 5],
  [2, 101, 6],
  [2, 102, 7],
  [2, 103, 7],
  [3, 105, 1],
];

describe('withRecentCopies', () => {
  it('returns the rows themselves when recentCopies is 0', () => {
    const ratings = ratingsOf(ROWS);
    const rows = all(ratings);
    expect(withRecentCopies(ratings, rows, { recentCopies: 0, recentShare: 0.5 }, 1)).toBe(rows);
  });

  it("appends each user's latest share as the test split counts it, copy by copy, in the rows' order", () => {
    const ratings = ratingsOf(ROWS);
    const out = withRecentCopies(ratings, all(ratings), { recentCopies: 2, recentShare: 0.3 }, 1);
    // User 1: round(10 × 0.3) = 3 latest: positions 0, 1, 2 (times 10, 9, 8).
    // User 2: round(4 × 0.3) = 1: one of the two rated at time 7 (positions 12, 13; the seed decides).
    // User 3: a single rating, never all of a user's: no copy.
    const once = Array.from(out.subarray(ROWS.length, ROWS.length + 4));
    expect(out.length).toBe(ROWS.length + 2 * 4);
    expect(once.slice(0, 3)).toEqual([0, 1, 2]);
    expect([12, 13]).toContain(once[3]);
    expect(Array.from(out.subarray(0, ROWS.length))).toEqual(Array.from(all(ratings)));
    expect(Array.from(out.subarray(ROWS.length + 4))).toEqual(once);
    // The tie goes the way the seed orders it, the same way every time.
    const ties = new Set(
      Array.from({ length: 16 }, (_, seed) =>
        withRecentCopies(ratings, all(ratings), { recentCopies: 1, recentShare: 0.3 }, seed).at(-1),
      ),
    );
    expect(ties).toEqual(new Set([12, 13]));
    expect(withRecentCopies(ratings, all(ratings), { recentCopies: 2, recentShare: 0.3 }, 1)).toEqual(out);
  });

  it('copies only among the given rows', () => {
    const ratings = ratingsOf(ROWS);
    // User 1's four oldest ratings (times 1..4: positions 9..6) and user 3's.
    const rows = Uint32Array.from([9, 8, 7, 6, 14]);
    const out = withRecentCopies(ratings, rows, { recentCopies: 1, recentShare: 0.5 }, 1);
    expect(Array.from(out)).toEqual([9, 8, 7, 6, 14, 7, 6]);
  });

  it("never copies all of a user's rows, even at share 1", () => {
    const ratings = ratingsOf(ROWS);
    const out = withRecentCopies(ratings, all(ratings), { recentCopies: 1, recentShare: 1 }, 1);
    expect(out.length).toBe(ROWS.length + 9 + 3);
  });
});

describe('encodeFmExamples with recency copies', () => {
  const catalog = Array.from({ length: 200 }, (_, i) => 1000 + i);

  it('writes the copies as positives, with their negatives, and leaves a channel without them alone', () => {
    const ratings = ratingsOf(ROWS, catalog);
    const cfg = encoding({ negativeRatio: 2, recentCopies: 3, recentShare: 0.3 });
    const copied = encodeFmExamples(ratings, all(ratings), cfg, new Rng(7));
    const positives = (ex: typeof copied): number => {
      let n = 0;
      for (let i = 0; i < ex.length; i++) n += ex.label[i];
      return n;
    };
    // 15 ratings + 3 × 4 copies (3 of user 1, 1 of user 2); each positive brings 2 negatives.
    expect(positives(copied)).toBe(15 + 12);
    expect(copied.length).toBe(3 * (15 + 12));

    const plain = encodeFmExamples(ratings, all(ratings), cfg, new Rng(7), { recentCopies: false });
    const off = encodeFmExamples(ratings, all(ratings), { ...cfg, recentCopies: 0 }, new Rng(7));
    expect(positives(plain)).toBe(15);
    expect(plain).toEqual(off);
  });
});

describe('encoding config', () => {
  it('defaults to no copies and refuses what the knobs cannot mean', () => {
    const { encoding: defaults } = parseMlConfig({});
    expect([defaults.recentCopies, defaults.recentShare]).toEqual([0, 0.3]);
    expect(() => parseMlConfig({ encoding: { recentCopies: 1.5 } })).toThrow(/recentCopies/);
    expect(() => parseMlConfig({ encoding: { recentCopies: 11 } })).toThrow(/recentCopies/);
    expect(() => parseMlConfig({ encoding: { recentShare: 0 } })).toThrow(/recentShare/);
    expect(() => parseMlConfig({ encoding: { recentShare: 1.2 } })).toThrow(/recentShare/);
  });
});
