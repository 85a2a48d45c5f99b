import fc from 'fast-check';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { Rng } from '../../functions/core/random';
import { parseMlConfig, type SplitConfig } from '../../functions/core/config';
import { bufferSource, ingestRatings } from '../../functions/core/ingest';
import { idMapFromIds } from '../../functions/core/ingest/id-map';
import {
  formatRating,
  heldOutCount,
  idMapCsv,
  parseIdMapCsv,
  parseSplitCsv,
  readSplitCsv,
  rowsByUser,
  splitCsvChunks,
  SplitCsvError,
  SplitError,
  splitRatings,
  summarizeSplit,
  writeSplitArtifacts,
} from '../../functions/core/split';
import type { Ratings, Split } from '../../functions/core/types';

const temporal = parseMlConfig({}).split;
const splitCfg = (over: Partial<SplitConfig>): SplitConfig => ({ ...temporal, ...over });

type Row = readonly [userId: number, movieId: number, rating: number, timestamp: number, source?: number];

/** A Ratings built straight from rows (distinct (user, movie) pairs), as ingestion would give it. */
function makeRatings(rows: readonly Row[], sourceNames: string[] = ['ratings.csv']): Ratings {
  const users = idMapFromIds(new Set(rows.map((r) => r[0])));
  const movies = idMapFromIds(new Set(rows.map((r) => r[1])));
  return {
    length: rows.length,
    user: Uint32Array.from(rows, (r) => users.indexOf(r[0])!),
    movie: Uint32Array.from(rows, (r) => movies.indexOf(r[1])!),
    rating: Float32Array.from(rows, (r) => r[2]),
    timestamp: Float64Array.from(rows, (r) => r[3]),
    source: Uint16Array.from(rows, (r) => r[4] ?? 0),
    users,
    movies,
    sourceNames,
  };
}

/** Positions per user index. */
function byUser(ratings: Ratings, positions: Uint32Array): Map<number, number[]> {
  const map = new Map<number, number[]>();
  for (const i of positions) map.set(ratings.user[i], [...(map.get(ratings.user[i]) ?? []), i]);
  return map;
}

const randomRatings = fc
  .array(
    fc.tuple(
      fc.integer({ min: 1, max: 12 }),
      fc.integer({ min: 1, max: 40 }),
      fc.integer({ min: 1, max: 10 }),
      fc.integer({ min: 0, max: 30 }),
    ),
    { minLength: 1, maxLength: 200 },
  )
  .map((rows) => {
    const seen = new Set<string>();
    return rows
      .filter(([u, m]) => !seen.has(`${u},${m}`) && seen.add(`${u},${m}`))
      .map(([u, m, r, t]) => [u, m, r / 2, t] as const);
  });

describe('splitRatings: temporal-per-user', () => {
  it('holds out the same ratings as ordering each user by a comparator sort would', () => {
    // The split as first written: each user's positions sorted with TypedArray#sort and a comparator
    // on (timestamp, seeded tie rank of the movie). The product's merge sort must pick the same rows.
    const comparatorSplit = (ratings: Ratings, cfg: SplitConfig, seed: number): Uint32Array => {
      const tie = new Uint32Array(ratings.movies.size).map((_, m) => m);
      new Rng(seed).shuffle(tie);
      const order = (a: number, b: number): number =>
        ratings.timestamp[a] - ratings.timestamp[b] || tie[ratings.movie[a]] - tie[ratings.movie[b]];
      const test: number[] = [];
      for (const positions of byUser(ratings, Uint32Array.from(ratings.user.keys())).values()) {
        const sorted = Uint32Array.from(positions).sort(order);
        const held = heldOutCount(sorted.length, cfg);
        test.push(...sorted.subarray(sorted.length - held));
      }
      return Uint32Array.from(test).sort();
    };
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: 1, max: 400 }), fc.integer({ min: 1, max: 6 })), {
          minLength: 1,
          maxLength: 8,
        }),
        fc.integer({ min: 0, max: 2 ** 31 }),
        (users, seed) => {
          const rows: Row[] = [];
          const rng = new Rng(seed);
          users.forEach(([n, spread], u) => {
            // Few distinct timestamps: long runs of ties, broken by the movie's tie rank.
            for (let m = 0; m < n; m++) rows.push([u + 1, m + 1, 4, 1000 + rng.int(spread * 3)]);
          });
          rows.push([99, 1, 4, 0], [99, 2, 4, 1]);
          const ratings = makeRatings(rows);
          const cfg = splitCfg({ minUserRatings: 2, testShare: 0.37 });
          expect(Array.from(splitRatings(ratings, cfg, seed).test)).toEqual(
            Array.from(comparatorSplit(ratings, cfg, seed)),
          );
        },
      ),
      { numRuns: 200 },
    );
  });

  it('holds out each eligible user latest ratings, never an earlier one than a kept one', () => {
    fc.assert(
      fc.property(
        randomRatings,
        fc.double({ min: 0.05, max: 0.95, noNaN: true }),
        fc.integer({ min: 1, max: 6 }),
        fc.integer(),
        (rows, testShare, minUserRatings, seed) => {
          const ratings = makeRatings(rows);
          const cfg = splitCfg({ testShare, minUserRatings });
          let split: Split;
          try {
            split = splitRatings(ratings, cfg, seed);
          } catch (error) {
            expect(error).toBeInstanceOf(SplitError);
            return;
          }
          expect(split.train.length + split.test.length).toBe(ratings.length);
          expect(new Set([...split.train, ...split.test]).size).toBe(ratings.length);
          const train = byUser(ratings, split.train);
          const test = byUser(ratings, split.test);
          for (let u = 0; u < ratings.users.size; u++) {
            const tr = train.get(u) ?? [];
            const te = test.get(u) ?? [];
            // No leakage: every test rating of a user is at or after every training rating of that user.
            const lastTrain = Math.max(...tr.map((i) => ratings.timestamp[i]));
            for (const i of te) expect(ratings.timestamp[i]).toBeGreaterThanOrEqual(lastTrain);
            expect(te.length).toBe(heldOutCount(tr.length + te.length, cfg));
          }
          expect(Array.from(split.train)).toEqual([...split.train].sort((a, b) => a - b));
          expect(Array.from(split.test)).toEqual([...split.test].sort((a, b) => a - b));
        },
      ),
      { numRuns: 300 },
    );
  });

  it('holds out round(share x n), at least 1 and at most n - 1, for users with enough history', () => {
    const cfg = { testShare: 0.2, minUserRatings: 5 };
    expect([1, 4, 5, 7, 8, 10, 12, 13, 100].map((n) => heldOutCount(n, cfg))).toEqual([
      0, 0, 1, 1, 2, 2, 2, 3, 20,
    ]);
    expect(heldOutCount(2, { testShare: 0.9, minUserRatings: 1 })).toBe(1);
    expect(heldOutCount(1, { testShare: 0.5, minUserRatings: 1 })).toBe(0);
  });

  it('keeps users with too little history in training only', () => {
    const rows: Row[] = [
      ...Array.from({ length: 10 }, (_, k) => [1, k, 4, 100 + k] as const),
      ...Array.from({ length: 4 }, (_, k) => [2, k, 4, 100 + k] as const),
    ];
    const ratings = makeRatings(rows);
    const split = splitRatings(ratings, temporal, 42);
    expect(Array.from(split.test)).toEqual([8, 9]);
    expect(summarizeSplit(ratings, split)).toMatchObject({
      users: 2,
      trainUsers: 2,
      testUsers: 1,
      testOnlyUsers: 0,
    });
  });

  it('is deterministic, and the seed only decides between equal timestamps', () => {
    const rows: Row[] = Array.from(
      { length: 50 },
      (_, k) => [1 + (k % 5), k, 3, k % 5 === 0 ? 7 : 1000 + (k % 3)] as const,
    );
    const ratings = makeRatings(rows);
    const a = splitRatings(ratings, temporal, 1);
    expect(splitRatings(ratings, temporal, 1)).toEqual(a);
    const tests = new Set<string>();
    for (let seed = 0; seed < 20; seed++) {
      const s = splitRatings(ratings, temporal, seed);
      tests.add(Array.from(s.test).join(','));
      for (const i of s.test) expect(ratings.timestamp[i]).toBeGreaterThanOrEqual(7);
    }
    expect(tests.size).toBeGreaterThan(1);
  });

  it('fails clearly when no user has enough history', () => {
    const ratings = makeRatings([
      [1, 1, 4, 1],
      [1, 2, 4, 2],
    ]);
    expect(() => splitRatings(ratings, temporal, 1)).toThrow(
      new SplitError(
        'the temporal-per-user split left no test ratings: no user has at least minUserRatings (5) ratings',
      ),
    );
  });
});

describe('splitRatings: global-time', () => {
  it('puts every rating at or after the cut-off in test', () => {
    const ratings = makeRatings([
      [1, 1, 4, 10],
      [1, 2, 4, 20],
      [2, 1, 4, 30],
      [3, 3, 4, 5],
    ]);
    const split = splitRatings(ratings, splitCfg({ mode: 'global-time', cutoffTimestamp: 20 }), 0);
    expect(split).toEqual({
      mode: 'global-time',
      train: Uint32Array.from([0, 3]),
      test: Uint32Array.from([1, 2]),
    });
    expect(summarizeSplit(ratings, split)).toEqual({
      mode: 'global-time',
      rows: 4,
      trainRows: 2,
      testRows: 2,
      testShare: 0.5,
      users: 3,
      trainUsers: 2,
      testUsers: 2,
      testOnlyUsers: 1,
      movies: 3,
      trainMovies: 2,
      testMovies: 2,
      testOnlyMovies: 1,
      trainTime: [5, 10],
      testTime: [20, 30],
    });
  });

  it('fails without a cut-off or when nothing is after it', () => {
    const ratings = makeRatings([[1, 1, 4, 10]]);
    expect(() => splitRatings(ratings, splitCfg({ mode: 'global-time' }), 0)).toThrow(
      'global-time split needs cutoffTimestamp',
    );
    expect(() => splitRatings(ratings, splitCfg({ mode: 'global-time', cutoffTimestamp: 11 }), 0)).toThrow(
      /no rating is at or after cutoffTimestamp \(11\)/,
    );
    expect(() => splitRatings(ratings, splitCfg({ mode: 'global-time', cutoffTimestamp: 10 }), 0)).toThrow(
      'the global-time split left no training ratings',
    );
  });
});

describe('splitRatings: predefined', () => {
  const base = '1\t10\t4\t881250949\n1\t20\t3\t881250950\n2\t10\t5\t881250951\n';
  const test = '1\t30\t2\t881250952\n2\t20\t1\t881250953\n';

  it('uses ua.base for training and ua.test for test, as the workshop did', async () => {
    const { ratings } = await ingestRatings(
      [bufferSource('ml-100k/ua.base', base), bufferSource('ml-100k/ua.test.gz', test)],
      parseMlConfig({}).ingest,
    );
    const split = splitRatings(ratings, splitCfg({ mode: 'predefined' }), 0);
    const ids = (positions: Uint32Array) =>
      Array.from(positions, (i) => [
        ratings.users.ids[ratings.user[i]],
        ratings.movies.ids[ratings.movie[i]],
      ]);
    expect(split.mode).toBe('predefined');
    expect(ids(split.train)).toEqual([
      [1, 10],
      [1, 20],
      [2, 10],
    ]);
    expect(ids(split.test)).toEqual([
      [1, 30],
      [2, 20],
    ]);
  });

  it('fails clearly when a file is missing, unmatched or another file contributed ratings', async () => {
    const ingest = async (names: string[]) =>
      (
        await ingestRatings(
          names.map((n, k) => bufferSource(n, k === 0 ? base : test)),
          parseMlConfig({}).ingest,
        )
      ).ratings;
    const predefined = splitCfg({ mode: 'predefined' });
    expect(() => splitRatings(makeRatings([[1, 1, 4, 1]], ['ua.base']), predefined, 0)).toThrow(
      /exactly one <x>\.base and one <x>\.test file .* got 1 \.base and 0 \.test among \[ua\.base\]/,
    );
    expect(() => splitRatings(makeRatings([[1, 1, 4, 1]], ['ua.base', 'ub.test']), predefined, 0)).toThrow(
      'the predefined split needs a matching pair, got ua.base and ub.test',
    );
    const extra = await ingest(['ua.base', 'ua.test', 'later.data']);
    expect(() => splitRatings(extra, predefined, 0)).toThrow(
      /ratings kept from other files would be unassigned: later\.data \(2\)/,
    );
  });
});

describe('split artifacts', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'reelflow-split-'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  const ratings = makeRatings([
    [42, 7, 3.5, 964982703],
    [42, 1000, 4, 964982800],
    [3, 7, 0.5, 1e9],
    [3, 8, 3.7, 1e9 + 1.5],
    [3, 9, 5, 1e9 + 2],
  ]);

  it('writes train/test in ratings.csv format and the id maps, and reads them back', async () => {
    const split: Split = {
      mode: 'temporal-per-user',
      train: Uint32Array.from([0, 2, 3]),
      test: Uint32Array.from([1, 4]),
    };
    const written = await writeSplitArtifacts(dir, ratings, split);
    expect(written).toEqual(['split/train.csv', 'split/test.csv', 'id-maps/users.csv', 'id-maps/movies.csv']);
    const train = await readFile(join(dir, 'split/train.csv'), 'utf8');
    expect(train).toBe(
      'userId,movieId,rating,timestamp\n42,7,3.5,964982703\n3,7,0.5,1000000000\n3,8,3.7,1000000001.5\n',
    );
    expect(await readFile(join(dir, 'id-maps/users.csv'), 'utf8')).toBe('index,id\n0,3\n1,42\n');
    expect(await readFile(join(dir, 'id-maps/movies.csv'), 'utf8')).toBe('index,id\n0,7\n1,8\n2,9\n3,1000\n');

    const back = parseSplitCsv(train);
    expect(Array.from(back.userId)).toEqual([42, 3, 3]);
    expect(Array.from(back.movieId)).toEqual([7, 7, 8]);
    expect(Array.from(back.rating)).toEqual([3.5, 0.5, Math.fround(3.7)]);
    expect(Array.from(back.timestamp)).toEqual([964982703, 1e9, 1e9 + 1.5]);
    const streamed = await readSplitCsv(
      Readable.from([train.slice(0, 17), train.slice(17, 50), train.slice(50)]),
    );
    expect(streamed).toEqual(back);
    expect(await readSplitCsv(await readFile(join(dir, 'split/test.csv')))).toEqual(
      parseSplitCsv('userId,movieId,rating,timestamp\n42,1000,4.0,964982800\n3,9,5.0,1000000002'),
    );
    const users = parseIdMapCsv(await readFile(join(dir, 'id-maps/users.csv'), 'utf8'));
    expect(Array.from(users.ids)).toEqual([3, 42]);
    expect(users.indexOf(42)).toBe(1);
  });

  it('streams large sets in chunks', () => {
    const many = makeRatings(Array.from({ length: 70000 }, (_, k) => [1 + (k % 100), k, 4, k] as const));
    const chunks = Array.from(
      splitCsvChunks(
        many,
        Uint32Array.from({ length: many.length }, (_, k) => k),
      ),
    );
    expect(chunks.length).toBe(3);
    const rows = parseSplitCsv(chunks.join(''));
    expect(rows.length).toBe(70000);
    expect(rows.movieId[69999]).toBe(69999);
  });

  it('rejects damaged split and id-map files with the line number', () => {
    expect(() => parseSplitCsv('')).toThrow(SplitCsvError);
    expect(() => parseSplitCsv('movieId,userId,rating,timestamp\n')).toThrow(
      'split CSV line 1: expected the header userId,movieId,rating,timestamp',
    );
    expect(() => parseSplitCsv('userId,movieId,rating,timestamp\n1,2,3,4\n1,2\n')).toThrow(
      'split CSV line 3: wrong_column_count',
    );
    expect(() => parseIdMapCsv('index,id\n0,5\n2,6\n')).toThrow(
      'id map CSV line 3: expected "1,<id>", got "2,6"',
    );
    expect(() => parseIdMapCsv('index,id\n0,6\n1,5\n')).toThrow(/not ascending/);
    expect(() => parseIdMapCsv('id,index\n')).toThrow(SplitCsvError);
    expect(parseIdMapCsv(idMapCsv(idMapFromIds([9, 2, 4]))).ids).toEqual(Int32Array.from([2, 4, 9]));
  });

  it('formats float32 ratings as the shortest text that reads back the same', () => {
    expect([4, 3.5, 0.5, 5].map(formatRating)).toEqual(['4.0', '3.5', '0.5', '5.0']);
    expect(formatRating(Math.fround(3.7))).toBe('3.7');
    expect(formatRating(Math.fround(2.123456))).toBe('2.123456');
    fc.assert(
      fc.property(fc.float({ min: -10, max: 10, noNaN: true }), (v) => {
        // `+ 0` folds -0 into 0: ratings are never negative, and "0" reads back as +0.
        expect(Math.fround(Number(formatRating(v))) + 0).toBe(Math.fround(v) + 0);
      }),
    );
  });

  it('groups rows by user for the evaluation', () => {
    const rows = parseSplitCsv('userId,movieId,rating,timestamp\n5,1,4,1\n2,7,3,1\n5,3,2.5,1\n');
    const grouped = rowsByUser(rows);
    expect(Array.from(grouped.keys())).toEqual([2, 5]);
    expect(grouped.get(5)).toEqual({
      movieIds: Int32Array.from([1, 3]),
      ratings: Float32Array.from([4, 2.5]),
    });
  });
});
