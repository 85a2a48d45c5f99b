import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseMlConfig, type EncodingConfig } from '../../../functions/core/config';
import {
  FmExamplesError,
  encodeFmExamples,
  fmExamplesFromRecordIO,
  writeFmRecordIO,
} from '../../../functions/core/fm/encode';
import { idMapFromIds } from '../../../functions/core/ingest/id-map';
import { Rng } from '../../../functions/core/random';
import {
  MemoryShardedRecordIOWriter,
  RecordIOFormatError,
  encodeDenseRowFramed,
  encodeRecord,
  encodeSparseRowFramed,
  frameRecord,
} from '../../../functions/core/recordio';
import type { Ratings, SparseExamples } from '../../../functions/core/types';

type Triple = readonly [userId: number, movieId: number, rating: number];

/** Ratings from (userId, movieId, rating) triples; `catalog` adds movies nobody rated here. */
function ratingsOf(triples: readonly Triple[], catalog: readonly number[] = []): Ratings {
  const users = idMapFromIds(new Set(triples.map((t) => t[0])));
  const movies = idMapFromIds(new Set([...triples.map((t) => t[1]), ...catalog]));
  const n = triples.length;
  return {
    length: n,
    user: Uint32Array.from(triples, (t) => users.indexOf(t[0])!),
    movie: Uint32Array.from(triples, (t) => movies.indexOf(t[1])!),
    rating: Float32Array.from(triples, (t) => t[2]),
    timestamp: Float64Array.from(triples, (_, i) => 1_000_000 + i),
    users,
    movies,
    source: new Uint16Array(n),
    sourceNames: ['test'],
  };
}

const allRows = (r: Ratings): Uint32Array => Uint32Array.from({ length: r.length }, (_, i) => i);

function config(overrides: Partial<EncodingConfig> = {}): EncodingConfig {
  return { ...parseMlConfig({}).encoding, ...overrides };
}

interface Example {
  user: number;
  movie: number;
  label: number;
}

/** Reads two-hot examples back to (user index, movie index, label), checking the layout on the way. */
function examplesOf(ex: SparseExamples, nUsers: number): Example[] {
  const out: Example[] = [];
  for (let i = 0; i < ex.length; i++) {
    expect(ex.rowPtr[i + 1] - ex.rowPtr[i]).toBe(2);
    const [u, m] = [ex.cols[ex.rowPtr[i]], ex.cols[ex.rowPtr[i] + 1]];
    expect(u).toBeLessThan(nUsers);
    expect(m).toBeGreaterThanOrEqual(nUsers);
    expect(m).toBeLessThan(ex.featureDim);
    expect([ex.vals[ex.rowPtr[i]], ex.vals[ex.rowPtr[i] + 1]]).toEqual([1, 1]);
    out.push({ user: u, movie: m - nUsers, label: ex.label[i] });
  }
  return out;
}

const key = (e: Example): string => `${e.user}/${e.movie}/${e.label}`;
const sortedKeys = (es: Example[]): string[] => es.map(key).sort();

/** Per user: set of movies (indices) in the given rows. */
function moviesByUser(r: Ratings, rows: Uint32Array): Map<number, Set<number>> {
  const map = new Map<number, Set<number>>();
  for (const row of rows) {
    if (!map.has(r.user[row])) map.set(r.user[row], new Set());
    map.get(r.user[row])!.add(r.movie[row]);
  }
  return map;
}

// 3 users (ids 10, 20, 30), 4 movies (ids 100..400).
const SMALL: Triple[] = [
  [10, 100, 5],
  [10, 200, 3.5],
  [20, 100, 4],
  [20, 300, 1],
  [30, 400, 4.5],
  [30, 200, 2],
];

describe('encodeFmExamples', () => {
  describe('workshop objective', () => {
    it('encodes exactly the given rows one-hot (user block, then movie block), label = rating >= 4', () => {
      // GIVEN ratings and a subset of rows
      const ratings = ratingsOf(SMALL);
      const rows = new Uint32Array([0, 1, 2, 3, 4]);
      // WHEN encoding with the workshop objective
      const ex = encodeFmExamples(ratings, rows, config({ objective: 'workshop' }), new Rng(1));
      // THEN feature_dim = 3 users + 4 movies and the rows are the ratings, shuffled
      expect(ex.featureDim).toBe(7);
      expect(ex.length).toBe(5);
      expect(sortedKeys(examplesOf(ex, 3))).toEqual(['0/0/1', '0/1/0', '1/0/1', '1/2/0', '2/3/1'].sort());
      expect(Array.from(ex.rowPtr)).toEqual([0, 2, 4, 6, 8, 10]);
    });

    it('honours positiveMinRating', () => {
      const ratings = ratingsOf(SMALL);
      const ex = encodeFmExamples(
        ratings,
        allRows(ratings),
        config({ objective: 'workshop', positiveMinRating: 3.5 }),
        new Rng(1),
      );
      expect(examplesOf(ex, 3).filter((e) => e.label === 1)).toHaveLength(4);
    });
  });

  describe('implicit objective', () => {
    it('makes every row a positive and adds negativeRatio negatives per positive among unrated movies', () => {
      // GIVEN 3 users with 2 ratings each over 8 movies, ratio 2
      const ratings = ratingsOf(SMALL, [500, 600, 700, 800]);
      const rows = allRows(ratings);
      const ex = encodeFmExamples(
        ratings,
        rows,
        config({ negativeRatio: 2, negativeSampling: 'uniform' }),
        new Rng(7),
      );
      const examples = examplesOf(ex, 3);
      // THEN 6 positives (the rows, label 1 whatever the rating) and 2 x 2 negatives per user
      expect(ex.featureDim).toBe(3 + 8);
      const positives = examples.filter((e) => e.label === 1);
      expect(sortedKeys(positives)).toEqual(
        Array.from(rows, (r) => `${ratings.user[r]}/${ratings.movie[r]}/1`).sort(),
      );
      const seen = moviesByUser(ratings, rows);
      for (let u = 0; u < 3; u++) {
        const negatives = examples.filter((e) => e.label === 0 && e.user === u).map((e) => e.movie);
        expect(negatives).toHaveLength(4);
        expect(new Set(negatives).size).toBe(4);
        for (const m of negatives) expect(seen.get(u)!.has(m)).toBe(false);
      }
    });

    it('never draws a movie of exclude, e.g. the training movies when encoding the test rows', () => {
      // GIVEN 30 users with 20 ratings each over 60 movies; the last 5 of each user are the test rows
      const triples: Triple[] = [];
      const rng = new Rng(3);
      for (let u = 1; u <= 30; u++) {
        const movies = rng.shuffle(Array.from({ length: 60 }, (_, i) => i + 1)).slice(0, 20);
        movies.forEach((m) => triples.push([u, m, 4]));
      }
      const ratings = ratingsOf(triples);
      const train = Uint32Array.from(triples.keys()).filter((i) => i % 20 < 15);
      const test = Uint32Array.from(triples.keys()).filter((i) => i % 20 >= 15);
      // WHEN encoding the test rows with the training rows excluded
      for (const sampling of ['uniform', 'popularity'] as const) {
        const ex = encodeFmExamples(
          ratings,
          test,
          config({ negativeRatio: 3, negativeSampling: sampling }),
          new Rng(5),
          {
            exclude: train,
          },
        );
        // THEN no negative is a movie the user rated anywhere
        const rated = moviesByUser(ratings, allRows(ratings));
        const negatives = examplesOf(ex, 30).filter((e) => e.label === 0);
        expect(negatives).toHaveLength(30 * 5 * 3);
        for (const e of negatives) expect(rated.get(e.user)!.has(e.movie)).toBe(false);
      }
    });

    it('honours a fractional ratio in expectation and per user (floor or ceil of positives x ratio)', () => {
      // GIVEN 2000 users with one rating each and 3 users with 4 ratings, over 50 movies
      const triples: Triple[] = [];
      for (let u = 1; u <= 2000; u++) triples.push([u, 1 + (u % 50), 4]);
      for (let u = 3001; u <= 3003; u++) for (let m = 1; m <= 4; m++) triples.push([u, m, 4]);
      const ratings = ratingsOf(triples);
      const ex = encodeFmExamples(ratings, allRows(ratings), config({ negativeRatio: 0.5 }), new Rng(11));
      const examples = examplesOf(ex, ratings.users.size);
      const perUser = new Map<number, number>();
      for (const e of examples) if (e.label === 0) perUser.set(e.user, (perUser.get(e.user) ?? 0) + 1);
      // THEN single-rating users get 0 or 1 negative, about half of them 1 (binomial sd ~ 22)
      const singles = Array.from({ length: 2000 }, (_, u) => perUser.get(u) ?? 0);
      expect(singles.every((k) => k === 0 || k === 1)).toBe(true);
      const total = singles.reduce((a, b) => a + b, 0);
      expect(total).toBeGreaterThan(900);
      expect(total).toBeLessThan(1100);
      // and 4 positives x 0.5 is exactly 2
      for (let u = 2000; u < 2003; u++) expect(perUser.get(u)).toBe(2);
    });

    it('skews negatives toward popular movies with popularity sampling', () => {
      // GIVEN movie 1 rated by 300 users, movies 2..11 by 30 users each, movies 12..41 by 3 users each,
      // and 1000 probe users who each rated only movie 42 (count 1000, excluded for them)
      const triples: Triple[] = [];
      let u = 1;
      for (let i = 0; i < 300; i++) triples.push([u++, 1, 4]);
      for (let m = 2; m <= 11; m++) for (let i = 0; i < 30; i++) triples.push([u++, m, 4]);
      for (let m = 12; m <= 41; m++) for (let i = 0; i < 3; i++) triples.push([u++, m, 4]);
      const firstProbe = u;
      for (let i = 0; i < 1000; i++) triples.push([u++, 42, 4]);
      const ratings = ratingsOf(triples);
      const count = (sampling: 'uniform' | 'popularity', exponent = 0.75): number[] => {
        const ex = encodeFmExamples(
          ratings,
          allRows(ratings),
          config({ negativeRatio: 1, negativeSampling: sampling, popularityExponent: exponent }),
          new Rng(2024),
        );
        const probe = ratings.users.indexOf(firstProbe)!;
        const hits = new Array<number>(42).fill(0);
        for (const e of examplesOf(ex, ratings.users.size)) {
          if (e.label === 0 && e.user >= probe) hits[ratings.movies.ids[e.movie] - 1]++;
        }
        return hits;
      };
      // THEN the probes' 1000 negatives follow count^0.75 (weights 300^.75 = 72.1, 30^.75 = 12.8, 3^.75 = 2.28)
      const popular = count('popularity');
      const total = 72.08 + 10 * 12.82 + 30 * 2.28;
      expect(popular[41]).toBe(0); // their own movie
      expect(popular[0] / 1000).toBeGreaterThan(0.8 * (72.08 / total));
      expect(popular[0] / 1000).toBeLessThan(1.2 * (72.08 / total));
      const mid = popular.slice(1, 11).reduce((a, b) => a + b, 0) / 1000;
      expect(mid).toBeGreaterThan(0.85 * ((10 * 12.82) / total));
      expect(mid).toBeLessThan(1.15 * ((10 * 12.82) / total));
      // uniform: each of the 41 other movies ~ 1000 / 41 = 24.4
      const uniform = count('uniform');
      expect(uniform[0]).toBeLessThan(50);
      expect(uniform.slice(11, 41).reduce((a, b) => a + b, 0) / 1000).toBeGreaterThan(0.6);
      // exponent 0 is uniform too
      expect(count('popularity', 0)[0]).toBeLessThan(50);
    });

    it('still draws movies without a positive in rows (the 0.5 count floor)', () => {
      // GIVEN 400 users who rated movie 1, and movies 2..5 rated only in exclude (count 0 in rows)
      const triples: Triple[] = [];
      for (let u = 1; u <= 400; u++) triples.push([u, 1, 4]);
      triples.push([999, 2, 4], [999, 3, 4], [999, 4, 4], [999, 5, 4]);
      const ratings = ratingsOf(triples);
      const rows = Uint32Array.from({ length: 400 }, (_, i) => i);
      const exclude = new Uint32Array([400, 401, 402, 403]);
      const ex = encodeFmExamples(ratings, rows, config({ negativeRatio: 1 }), new Rng(9), { exclude });
      const negatives = examplesOf(ex, ratings.users.size).filter((e) => e.label === 0);
      // THEN every user gets its negative among the only unrated movies, 2..5 (user 999 has no rows)
      expect(negatives).toHaveLength(400);
      const drawn = new Set(negatives.map((e) => ratings.movies.ids[e.movie]));
      expect(drawn).toEqual(new Set([2, 3, 4, 5]));
    });

    it('gives no negatives to a user who rated every movie, and all unrated ones to a near-complete user', () => {
      // GIVEN 200 movies: user 1 rated all, user 2 all but two, user 3 rated 80% (enumeration path)
      const triples: Triple[] = [];
      for (let m = 1; m <= 200; m++) triples.push([1, m, 4]);
      for (let m = 1; m <= 198; m++) triples.push([2, m, 4]);
      for (let m = 1; m <= 160; m++) triples.push([3, m, 4]);
      triples.push([4, 7, 4]);
      const ratings = ratingsOf(triples);
      for (const sampling of ['uniform', 'popularity'] as const) {
        const ex = encodeFmExamples(
          ratings,
          allRows(ratings),
          config({ negativeRatio: 4, negativeSampling: sampling }),
          new Rng(1),
        );
        const negatives = examplesOf(ex, 4).filter((e) => e.label === 0);
        const of = (u: number): number[] =>
          negatives.filter((e) => e.user === u).map((e) => ratings.movies.ids[e.movie]);
        // THEN user 1 none, user 2 exactly 199 and 200, user 3 all 40 unrated, user 4 four distinct others
        expect(of(0)).toEqual([]);
        expect(of(1).sort((a, b) => a - b)).toEqual([199, 200]);
        expect(of(2).sort((a, b) => a - b)).toEqual(Array.from({ length: 40 }, (_, i) => 161 + i));
        expect(new Set(of(3)).size).toBe(4);
        expect(of(3)).not.toContain(7);
        expect(ex.length).toBe(triples.length + 0 + 2 + 40 + 4);
      }
    });

    it("draws from a heavy user's unrated movies by weight when rejection would be slow", () => {
      // GIVEN a popular head of 20 movies rated by 100 users, a tail of 80 movies rated once,
      // and a heavy user who rated the head and 40 of the tail: most of the popularity mass
      const triples: Triple[] = [];
      for (let u = 1; u <= 100; u++) for (let m = 1; m <= 20; m++) triples.push([u, m, 4]);
      for (let m = 21; m <= 100; m++) triples.push([1000 + m, m, 4]);
      for (let m = 1; m <= 60; m++) triples.push([5000, m, 4]);
      const ratings = ratingsOf(triples);
      const heavy = ratings.users.indexOf(5000)!;
      // WHEN it needs a few negatives (ratio 0.25 -> 15)
      const ex = encodeFmExamples(ratings, allRows(ratings), config({ negativeRatio: 0.25 }), new Rng(4));
      const mine = examplesOf(ex, ratings.users.size).filter((e) => e.user === heavy && e.label === 0);
      // THEN 15 distinct movies of the 40 it has not rated
      expect(mine).toHaveLength(15);
      expect(new Set(mine.map((e) => e.movie)).size).toBe(15);
      for (const e of mine) expect(ratings.movies.ids[e.movie]).toBeGreaterThan(60);
    });

    it('completes users whose rejection draws hit the attempt cap, and users who need the enumerated set', () => {
      // GIVEN one blockbuster (1000 users, whose only rating it is) and 20 tail movies rated once each:
      // tail users need 10 of 20 unrated movies and, once the blockbuster is drawn, most draws are
      // rejections (cap, then enumeration); blockbuster users have seen 89% of the mass (enumeration)
      const triples: Triple[] = [];
      for (let u = 1; u <= 1000; u++) triples.push([u, 1, 4]);
      for (let m = 2; m <= 21; m++) triples.push([2000 + m, m, 4]);
      const ratings = ratingsOf(triples);
      const ex = encodeFmExamples(ratings, allRows(ratings), config({ negativeRatio: 10 }), new Rng(1));
      // THEN every user has 10 distinct unrated negatives, and every tail user got the blockbuster
      const rated = moviesByUser(ratings, allRows(ratings));
      const byUser = new Map<number, number[]>();
      for (const e of examplesOf(ex, ratings.users.size)) {
        if (e.label === 1) continue;
        expect(rated.get(e.user)!.has(e.movie)).toBe(false);
        byUser.set(e.user, [...(byUser.get(e.user) ?? []), ratings.movies.ids[e.movie]]);
      }
      expect(byUser.size).toBe(1020);
      for (const [u, movies] of byUser) {
        expect(new Set(movies).size).toBe(10);
        if (ratings.users.ids[u] > 2000) expect(movies).toContain(1);
      }
    });
  });

  it('is deterministic for a seed and shuffles differently for another', () => {
    const triples: Triple[] = [];
    for (let u = 1; u <= 50; u++)
      for (let m = 1; m <= 10; m++) if ((u * m) % 3 === 0) triples.push([u, m * 10, 4]);
    triples.push([51, 10, 1]);
    const ratings = ratingsOf(triples);
    for (const objective of ['implicit', 'workshop'] as const) {
      const run = (seed: number): SparseExamples =>
        encodeFmExamples(ratings, allRows(ratings), config({ objective }), new Rng(seed));
      const [a, b, c] = [run(42), run(42), run(43)];
      expect(Array.from(a.cols)).toEqual(Array.from(b.cols));
      expect(Array.from(a.label)).toEqual(Array.from(b.label));
      expect(Array.from(a.cols)).not.toEqual(Array.from(c.cols));
      // and the order is shuffled, not the input order
      const inOrder = examplesOf(a, ratings.users.size)
        .slice(0, 20)
        .map((e) => e.user);
      expect(inOrder).not.toEqual([...inOrder].sort((x, y) => x - y));
    }
  });

  it('handles no rows, and rejects rows that are not rating positions', () => {
    const ratings = ratingsOf(SMALL);
    const empty = encodeFmExamples(ratings, new Uint32Array(0), config(), new Rng(1));
    expect(empty.length).toBe(0);
    expect(empty.featureDim).toBe(7);
    expect(Array.from(empty.rowPtr)).toEqual([0]);
    expect(() => encodeFmExamples(ratings, new Uint32Array([6]), config(), new Rng(1))).toThrow(
      FmExamplesError,
    );
    expect(() =>
      encodeFmExamples(ratings, new Uint32Array([0]), config(), new Rng(1), {
        exclude: new Uint32Array([99]),
      }),
    ).toThrow(/exclude\[0\] = 99 is not a rating position/);
  });
});

describe('FM examples <-> recordIO', () => {
  const FIXTURE_B = readFileSync(
    join(__dirname, '..', '..', 'fixtures', 'recordio', 'b_sparse_onehot_labeled.recordio'),
  );

  function collect(examples: SparseExamples, maxBytes: number): Uint8Array[] {
    const writer = new MemoryShardedRecordIOWriter({ maxBytes });
    writeFmRecordIO(examples, writer);
    return writer.close();
  }

  it('writes one-hot examples exactly as the SDK wrote fixture b', () => {
    // GIVEN fixture b's 4 users x 6 items, pairs (0,0), (1,3), (2,5), (3,1), labels 1, 0, 0, 1
    const examples: SparseExamples = {
      featureDim: 10,
      length: 4,
      rowPtr: new Uint32Array([0, 2, 4, 6, 8]),
      cols: new Uint32Array([0, 4, 1, 7, 2, 9, 3, 5]),
      vals: new Float32Array(8).fill(1),
      label: new Float32Array([1, 0, 0, 1]),
    };
    const [stream] = collect(examples, 1 << 20);
    expect(Buffer.from(stream).equals(FIXTURE_B)).toBe(true);
    expect(fmExamplesFromRecordIO([FIXTURE_B])).toEqual(examples);
  });

  it('round-trips encoded examples through sharded recordIO', () => {
    // GIVEN implicit examples of 60 users x 40 movies
    const triples: Triple[] = [];
    const rng = new Rng(8);
    for (let u = 1; u <= 60; u++)
      for (let m = 1; m <= 40; m++) if (rng.next() < 0.2) triples.push([u, m, 1 + rng.int(5)]);
    const ratings = ratingsOf(triples);
    const examples = encodeFmExamples(ratings, allRows(ratings), config(), new Rng(1));
    // WHEN written to shards of at most 4 KiB and read back
    const shards = collect(examples, 4096);
    expect(shards.length).toBeGreaterThan(3);
    for (const s of shards) expect(s.length).toBeLessThanOrEqual(4096);
    // THEN the examples are identical
    expect(fmExamplesFromRecordIO(shards)).toEqual(examples);
  });

  it('reads dense float32 rows as their non-zeros, alongside sparse rows of the same dimension', () => {
    const stream = Buffer.concat([
      encodeDenseRowFramed([0, 1, 0, 2.5], 1),
      encodeSparseRowFramed([3, 0], [1, 1], 4, 0),
      encodeDenseRowFramed([0, 0, 0, 0], 0),
    ]);
    expect(fmExamplesFromRecordIO([stream])).toEqual({
      featureDim: 4,
      length: 3,
      rowPtr: new Uint32Array([0, 2, 4, 4]),
      cols: new Uint32Array([1, 3, 3, 0]),
      vals: new Float32Array([1, 2.5, 1, 1]),
      label: new Float32Array([1, 0, 0]),
    });
    expect(fmExamplesFromRecordIO([])).toMatchObject({ featureDim: 0, length: 0 });
  });

  it.each<[string, Uint8Array[], RegExp]>([
    [
      'different feature dimensions',
      [encodeSparseRowFramed([1], [1], 10, 1), encodeSparseRowFramed([1], [1], 11, 1)],
      /buffer 1 record 0 \(framed at byte 0\): featureDim 11 differs from 10 of the first record/,
    ],
    [
      'a missing label',
      [encodeSparseRowFramed([1], [1], 10)],
      /buffer 0 record 0 .* has no label\['values'\]/,
    ],
    [
      'float64 features',
      [
        frameRecord(
          encodeRecord({
            features: { values: { dtype: 'float64', values: [1] } },
            label: { values: { dtype: 'float32', values: [1] } },
          }),
        ),
      ],
      /FM needs float32 features, got float64/,
    ],
    [
      'no features["values"]',
      [
        frameRecord(
          encodeRecord({
            features: { x: { dtype: 'float32', values: [1] } },
            label: { values: { dtype: 'float32', values: [1] } },
          }),
        ),
      ],
      /has no features\['values'\]/,
    ],
    [
      'a key beyond the shape',
      [
        frameRecord(
          encodeRecord({
            features: { values: { dtype: 'float32', values: [1], keys: [5], shape: [3] } },
            label: { values: { dtype: 'float32', values: [1] } },
          }),
        ),
      ],
      /key 5 >= featureDim 3/,
    ],
    [
      'a sparse row with a 2-d shape',
      [
        frameRecord(
          encodeRecord({
            features: { values: { dtype: 'float32', values: [1], keys: [0], shape: [1, 3] } },
            label: { values: { dtype: 'float32', values: [1] } },
          }),
        ),
      ],
      /needs shape \[featureDim\], got \[1,3\]/,
    ],
  ])('rejects %s with FmExamplesError', (_what, buffers, message) => {
    expect(() => fmExamplesFromRecordIO(buffers)).toThrow(FmExamplesError);
    expect(() => fmExamplesFromRecordIO(buffers)).toThrow(message);
  });

  it('reports damaged recordIO as RecordIOFormatError with the stream offset', () => {
    const stream = Buffer.concat([
      encodeSparseRowFramed([1], [1], 10, 1),
      encodeSparseRowFramed([1], [1], 10, 1),
    ]);
    const bad = Buffer.from(stream);
    bad[stream.length / 2 + 8] = 0x0f; // first payload byte of record 1: field 1, wire type 7
    expect(() => fmExamplesFromRecordIO([bad])).toThrow(RecordIOFormatError);
    expect(() => fmExamplesFromRecordIO([bad])).toThrow(
      /record 1 \(framed at byte \d+\): invalid wire type 7/,
    );
  });
});
