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

// User 1 rated 10 movies at times 10, 9, ..., 1 (latest first in file order); user 2 rated 3 movies,
// two of them at the same time; user 3 rated one movie.
const ROWS: Row[] = [
  ...Array.from({ length: 10 }, (_, i): Row => [1, 100 + i, 10 - i]),
  [2, 100, 5],
  [2, 101, 7],
  [2, 102, 7],
  [3, 105, 1],
];

describe('withRecentCopies', () => {
  it('returns the rows themselves when recentCopies is 0', () => {
    const ratings = ratingsOf(ROWS);
    const rows = all(ratings);
    expect(withRecentCopies(ratings, rows, { recentCopies: 0, recentShare: 0.5 })).toBe(rows);
  });

  it("appends each user's latest share (by time, ties by position, at least one), copy by copy", () => {
    const ratings = ratingsOf(ROWS);
    const out = withRecentCopies(ratings, all(ratings), { recentCopies: 2, recentShare: 0.3 });
    // User 1: round(10 × 0.3) = 3 latest = positions 2, 1, 0 (times 8, 9, 10) in time order.
    // User 2: round(0.9) = 1: the latest of the two at time 7 by position (12).
    // User 3: round(0.3) = 0, but at least one: position 13.
    const once = [2, 1, 0, 12, 13];
    expect(Array.from(out)).toEqual([...Array.from(all(ratings)), ...once, ...once]);
  });

  it('copies only among the given rows', () => {
    const ratings = ratingsOf(ROWS);
    // User 1's four oldest ratings (times 1..4: positions 9..6) and user 3's.
    const rows = Uint32Array.from([9, 8, 7, 6, 13]);
    const out = withRecentCopies(ratings, rows, { recentCopies: 1, recentShare: 0.5 });
    expect(Array.from(out)).toEqual([9, 8, 7, 6, 13, 7, 6, 13]);
  });

  it('copies every row of a user at share 1', () => {
    const ratings = ratingsOf(ROWS);
    const out = withRecentCopies(ratings, all(ratings), { recentCopies: 1, recentShare: 1 });
    expect(out.length).toBe(2 * ROWS.length);
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
    // 14 ratings + 3 × 5 copies; each positive brings 2 negatives.
    expect(positives(copied)).toBe(14 + 15);
    expect(copied.length).toBe(3 * (14 + 15));

    const plain = encodeFmExamples(ratings, all(ratings), cfg, new Rng(7), { recentCopies: false });
    const off = encodeFmExamples(ratings, all(ratings), { ...cfg, recentCopies: 0 }, new Rng(7));
    expect(positives(plain)).toBe(14);
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
