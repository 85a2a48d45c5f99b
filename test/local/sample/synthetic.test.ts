import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { parseMlConfig } from '../../../functions/core/config';
import { prepareTestSet, evaluateLists, type TestSet } from '../../../functions/core/evaluate/metrics';
import {
  countMovies,
  popularityRecommendations,
  randomRecommendations,
  type RecommendationLists,
} from '../../../functions/core/evaluate/recommend';
import { bufferSource, ingestRatings } from '../../../functions/core/ingest';
import { Rng } from '../../../functions/core/random';
import { splitRatings } from '../../../functions/core/split';
import {
  GENRES,
  generateSample,
  SAMPLE_OPTIONS,
  syntheticMoviesCsv,
  SyntheticOptionsError,
  SyntheticWorld,
  writeSyntheticRatings,
} from '../../../local/sample/synthetic';
import type { Ratings } from '../../../functions/core/types';

const sha256 = (data: string | Buffer): string => createHash('sha256').update(data).digest('hex');
const sampleDir = join(__dirname, '../../../local/sample');
const cfg = parseMlConfig({});

describe('shipped sample (local/sample)', () => {
  const sample = generateSample();

  it('is exactly what the generator makes: run `npx tsx local/generate-sample.ts` after changing it', async () => {
    expect(sha256(await readFile(join(sampleDir, 'ratings.csv')))).toBe(sha256(sample.ratingsCsv));
    expect(sha256(await readFile(join(sampleDir, 'movies.csv')))).toBe(sha256(sample.moviesCsv));
  });

  describe('as a data set', () => {
    let ratings: Ratings;
    beforeAll(async () => {
      const result = await ingestRatings([bufferSource('ratings.csv', sample.ratingsCsv)], cfg.ingest);
      expect(result.report.totals.badRows).toBe(0);
      expect(result.report.totals.duplicatesReplaced).toBe(0);
      ratings = result.ratings;
    });

    it('has the size of a quick sample', () => {
      expect(ratings.users.size).toBe(SAMPLE_OPTIONS.users);
      expect(ratings.movies.size).toBeGreaterThan(0.9 * SAMPLE_OPTIONS.movies);
      expect(ratings.length).toBeGreaterThanOrEqual(20000);
      expect(ratings.length).toBeLessThanOrEqual(40000);
    });

    it('uses MovieLens half stars and gives every user at least 20 ratings, in increasing time', () => {
      const counts = new Map<number, number>();
      const values = new Set<number>();
      for (let i = 0; i < ratings.length; i++) {
        values.add(ratings.rating[i]);
        counts.set(ratings.user[i], (counts.get(ratings.user[i]) ?? 0) + 1);
      }
      expect([...values].sort((a, b) => a - b)).toEqual([0.5, 1, 1.5, 2, 2.5, 3, 3.5, 4, 4.5, 5]);
      expect(Math.min(...counts.values())).toBeGreaterThanOrEqual(SAMPLE_OPTIONS.minRatingsPerUser);
      const lines = sample.ratingsCsv
        .trim()
        .split('\n')
        .slice(1)
        .map((l) => l.split(',').map(Number));
      const byUser = new Map<number, number[]>();
      for (const [u, , , t] of lines) byUser.set(u, [...(byUser.get(u) ?? []), t]);
      for (const times of byUser.values()) expect(new Set(times).size).toBe(times.length);
      // Rows are ordered by user, then movie, as MovieLens orders them.
      for (let k = 1; k < lines.length; k++) {
        const [pu, pm] = lines[k - 1];
        const [u, m] = lines[k];
        expect(u > pu || (u === pu && m > pm)).toBe(true);
      }
    });

    it('has a popularity long tail and spread-out user activity', () => {
      const perMovie = Array.from(countMovies(ratings.movie).values()).sort((a, b) => b - a);
      const head = perMovie.slice(0, Math.ceil(perMovie.length / 10)).reduce((a, b) => a + b, 0);
      const bottomHalf = perMovie.slice(perMovie.length >> 1).reduce((a, b) => a + b, 0);
      expect(head / ratings.length).toBeGreaterThan(0.3);
      expect(bottomHalf / ratings.length).toBeLessThan(0.25);
      expect(perMovie[0] / perMovie[perMovie.length >> 1]).toBeGreaterThan(10);
      const perUser = Array.from(countMovies(ratings.user).values()).sort((a, b) => a - b);
      const median = perUser[perUser.length >> 1];
      expect(perUser[Math.floor(perUser.length * 0.9)] / median).toBeGreaterThan(2);
      expect(perUser[perUser.length - 1] / median).toBeGreaterThan(5);
    });

    it('plants taste a model can learn: the taste oracle beats popularity 1.5x+, popularity beats random', () => {
      // GIVEN the default temporal split of the sample
      const split = splitRatings(ratings, cfg.split, cfg.seed);
      const movieId = (i: number) => ratings.movies.ids[ratings.movie[i]];
      const userId = (i: number) => ratings.users.ids[ratings.user[i]];
      const seen = new Map<number, number[]>();
      for (const i of split.train) seen.set(userId(i), [...(seen.get(userId(i)) ?? []), movieId(i)]);
      const test = new Map<number, { movieIds: number[] }>();
      for (const i of split.test) {
        if (!test.has(userId(i))) test.set(userId(i), { movieIds: [] });
        test.get(userId(i))!.movieIds.push(movieId(i));
      }
      const users = Array.from(test.keys());
      const seenOf = (u: number) => seen.get(u) ?? [];

      // WHEN the true choice probabilities rank the unseen movies (the best a model could learn)
      const world = new SyntheticWorld(SAMPLE_OPTIONS);
      const tastes = new Map<number, Float64Array>();
      for (const user of world.users()) tastes.set(user.userId, user.taste);
      const oracle: RecommendationLists = new Map();
      for (const u of users) {
        const p = world.choiceProbabilities(tastes.get(u)!);
        const exclude = new Set(seenOf(u));
        const ranked = Array.from(world.movieIds.keys())
          .filter((j) => !exclude.has(world.movieIds[j]))
          .sort((a, b) => p[b] - p[a] || a - b);
        oracle.set(
          u,
          ranked.slice(0, 10).map((j) => world.movieIds[j]),
        );
      }
      const trainMovies = Int32Array.from(split.train, movieId);
      const popular = popularityRecommendations(countMovies(trainMovies), users, seenOf, 10);
      const random = randomRecommendations(ratings.movies.ids, users, seenOf, 10, new Rng(1));

      // THEN taste carries real signal beyond popularity, and popularity beats chance
      const prepared = prepareTestSet(test as TestSet);
      const ndcg = (lists: RecommendationLists) =>
        evaluateLists(prepared, lists, { ks: [10], catalogSize: ratings.movies.size }).metrics['ndcg@10'];
      expect(ndcg(oracle)).toBeGreaterThan(1.5 * ndcg(popular));
      expect(ndcg(popular)).toBeGreaterThan(3 * ndcg(random));
    });

    it('rates movies that match the user taste higher', () => {
      const world = new SyntheticWorld(SAMPLE_OPTIONS);
      const nG = SAMPLE_OPTIONS.genres;
      const x: number[] = [];
      const y: number[] = [];
      for (const user of world.users()) {
        user.movies.forEach((j, k) => {
          let match = 0;
          for (let g = 0; g < nG; g++) match += user.taste[g] * world.movieGenres[j * nG + g];
          x.push(match);
          y.push(user.ratings[k]);
        });
      }
      expect(correlation(x, y)).toBeGreaterThan(0.25);
    });
  });

  it('has readable, unique titles and MovieLens genres in movies.csv', () => {
    const lines = sample.moviesCsv.trim().split('\n');
    expect(lines[0]).toBe('movieId,title,genres');
    const rows = lines.slice(1).map((l) => l.split(','));
    expect(rows).toHaveLength(SAMPLE_OPTIONS.movies);
    for (const row of rows) {
      expect(row).toHaveLength(3);
      expect(row[1]).toMatch(/^[A-Z][A-Za-z' ]+( [IVX]+| \d+)? \((19[5-9]\d|20[01]\d)\)$/);
      for (const genre of row[2].split('|')) expect(GENRES).toContain(genre);
    }
    expect(new Set(rows.map((r) => r[1].replace(/ \(\d{4}\)$/, ''))).size).toBe(rows.length);
    const ids = rows.map((r) => Number(r[0]));
    expect(ids).toEqual([...ids].sort((a, b) => a - b));
  });
});

describe('SyntheticWorld', () => {
  it('is deterministic for a seed and differs across seeds', () => {
    const small = { users: 40, movies: 100, meanRatingsPerUser: 25 };
    expect(generateSample({ ...small, seed: 5 })).toEqual(generateSample({ ...small, seed: 5 }));
    expect(generateSample({ ...small, seed: 5 }).ratingsCsv).not.toBe(
      generateSample({ ...small, seed: 6 }).ratingsCsv,
    );
  });

  it('gives a proper choice distribution', () => {
    const world = new SyntheticWorld({
      users: 3,
      movies: 50,
      genres: 5,
      minRatingsPerUser: 5,
      meanRatingsPerUser: 10,
    });
    for (const user of world.users()) {
      const p = world.choiceProbabilities(user.taste);
      expect(p.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 9);
      expect(user.taste.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 9);
      expect(new Set(user.movies).size).toBe(user.movies.length);
    }
    expect(syntheticMoviesCsv(world).split('\n')).toHaveLength(52);
  });

  it('caps heavy users at half the catalog without repeating a movie', () => {
    const world = new SyntheticWorld({
      users: 30,
      movies: 60,
      minRatingsPerUser: 25,
      meanRatingsPerUser: 200,
      activitySigma: 0,
    });
    for (const user of world.users()) {
      expect(user.movies.length).toBe(30);
      expect(new Set(user.movies).size).toBe(30);
    }
  });

  it('rejects options it cannot honour', () => {
    expect(() => new SyntheticWorld({ users: 0 })).toThrow(
      new SyntheticOptionsError('users must be a positive integer, got 0'),
    );
    expect(() => new SyntheticWorld({ genres: 19 })).toThrow(/genres must be at most 18/);
    expect(() => new SyntheticWorld({ movies: 30, minRatingsPerUser: 20 })).toThrow(
      /at most half the movies/,
    );
    expect(() => new SyntheticWorld({ tasteShare: 1.5 })).toThrow(/tasteShare must be in \[0, 1\]/);
    expect(() => new SyntheticWorld({ meanRatingsPerUser: 5 })).toThrow(
      /meanRatingsPerUser must be at least/,
    );
  });
});

describe('writeSyntheticRatings', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'reelflow-synthetic-'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('streams the same bytes generateSample returns, plain or gzipped', async () => {
    const options = { users: 300, movies: 200, meanRatingsPerUser: 30, seed: 9 };
    const expected = generateSample(options).ratingsCsv;
    const rows = await writeSyntheticRatings(join(dir, 'r.csv'), options);
    expect(await readFile(join(dir, 'r.csv'), 'utf8')).toBe(expected);
    expect(rows).toBe(expected.split('\n').length - 2);
    await writeSyntheticRatings(join(dir, 'r.csv.gz'), options);
    expect(gunzipSync(await readFile(join(dir, 'r.csv.gz'))).toString()).toBe(expected);
  });
});

function correlation(x: number[], y: number[]): number {
  const n = x.length;
  const mx = x.reduce((a, b) => a + b, 0) / n;
  const my = y.reduce((a, b) => a + b, 0) / n;
  let sxy = 0;
  let sxx = 0;
  let syy = 0;
  for (let i = 0; i < n; i++) {
    sxy += (x[i] - mx) * (y[i] - my);
    sxx += (x[i] - mx) ** 2;
    syy += (y[i] - my) ** 2;
  }
  return sxy / Math.sqrt(sxx * syy);
}
