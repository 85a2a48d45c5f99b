/**
 * The split strategies: which ratings of a run are held out for testing.
 *
 * - `temporal-per-user` (default): each user with at least `minUserRatings` ratings gives the latest
 *   round(testShare x n) of them (at least 1, at most n - 1) to the test set; the model is asked to
 *   predict what the user rated next, as it would be in production. Users with less history stay in
 *   training only.
 * - `global-time`: every rating at or after `cutoffTimestamp` is test (a "train on the past, test on
 *   the future" cut for the whole data set; test users may be unknown to the model).
 * - `predefined`: MovieLens-100k's own `ua.base`/`ua.test` files (or another `<x>.base`/`<x>.test`
 *   pair), as the seed workshop did.
 *
 * A split is positions into `Ratings` (`Split`); `summarizeSplit` sizes it for the manifest and the
 * report. Writing it as artifacts and reading it back is artifacts.ts.
 */
import type { SplitConfig } from '../config';
import { Rng } from '../random';
import type { Ratings, Split } from '../types';

/** Thrown when a split cannot be made (missing files for `predefined`, an empty train or test set). */
export class SplitError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SplitError';
  }
}

/**
 * Splits `ratings` into training and test positions (both ascending). Deterministic: the same ratings,
 * config and seed always give the same split. In `temporal-per-user` each user's ratings are ordered
 * by timestamp; equal timestamps (common: MovieLens users rate many movies in the same second) are
 * ordered by a seeded permutation of the movies, so ties do not favour low or high movie ids.
 *
 * Throws `SplitError` when the training or the test set would be empty.
 */
export function splitRatings(ratings: Ratings, cfg: SplitConfig, seed: number): Split {
  const isTest = new Uint8Array(ratings.length);
  switch (cfg.mode) {
    case 'temporal-per-user':
      markTemporalPerUser(ratings, cfg, seed, isTest);
      break;
    case 'global-time':
      markGlobalTime(ratings, cfg, isTest);
      break;
    case 'predefined':
      markPredefined(ratings, isTest);
      break;
    default:
      throw new SplitError(`unknown split mode '${(cfg as { mode: string }).mode}'`);
  }
  let nTest = 0;
  for (let i = 0; i < isTest.length; i++) nTest += isTest[i];
  const train = new Uint32Array(ratings.length - nTest);
  const test = new Uint32Array(nTest);
  for (let i = 0, a = 0, b = 0; i < isTest.length; i++) {
    if (isTest[i]) test[b++] = i;
    else train[a++] = i;
  }
  if (test.length === 0)
    throw new SplitError(`the ${cfg.mode} split left no test ratings: ${emptyTestHint(cfg)}`);
  if (train.length === 0) throw new SplitError(`the ${cfg.mode} split left no training ratings`);
  return { mode: cfg.mode, train, test };
}

function emptyTestHint(cfg: SplitConfig): string {
  switch (cfg.mode) {
    case 'temporal-per-user':
      return `no user has at least minUserRatings (${cfg.minUserRatings}) ratings`;
    case 'global-time':
      return `no rating is at or after cutoffTimestamp (${cfg.cutoffTimestamp})`;
    default:
      return 'the test file has no ratings that were kept';
  }
}

/** The number of a user's latest ratings held out: round(share x n), at least 1, at most n - 1. */
export function heldOutCount(n: number, cfg: Pick<SplitConfig, 'testShare' | 'minUserRatings'>): number {
  if (n < cfg.minUserRatings || n < 2) return 0;
  return Math.min(n - 1, Math.max(1, Math.round(cfg.testShare * n)));
}

function markTemporalPerUser(ratings: Ratings, cfg: SplitConfig, seed: number, isTest: Uint8Array): void {
  markLatestPerUser(ratings, cfg, seed, isTest);
}

/**
 * Marks in `mark` (indexed by position) each user's latest `heldOutCount(n, rule)` ratings among
 * `positions` (every rating when omitted), ordered by timestamp with ties broken by a seeded
 * permutation of the movies; returns how many it marked. The test split uses it on every rating, the
 * tuning's validation split (tuning/validation.ts) on the training positions.
 */
export function markLatestPerUser(
  ratings: Ratings,
  rule: Pick<SplitConfig, 'testShare' | 'minUserRatings'>,
  seed: number,
  mark: Uint8Array,
  positions?: Uint32Array,
): number {
  const { user, movie, timestamp } = ratings;
  const nUsers = ratings.users.size;
  // Counting sort of positions by user: O(n), no comparison sort over the whole data set (two loops
  // each, so the whole-data-set case reads no index array).
  const start = new Uint32Array(nUsers + 1);
  if (positions) for (const p of positions) start[user[p] + 1]++;
  else for (let i = 0; i < ratings.length; i++) start[user[i] + 1]++;
  for (let u = 0; u < nUsers; u++) start[u + 1] += start[u];
  const cursor = start.slice(0, nUsers);
  const byUser = new Uint32Array(positions ? positions.length : ratings.length);
  if (positions) for (const p of positions) byUser[cursor[user[p]]++] = p;
  else for (let i = 0; i < ratings.length; i++) byUser[cursor[user[i]]++] = i;

  const tie = new Uint32Array(ratings.movies.size);
  for (let m = 0; m < tie.length; m++) tie[m] = m;
  new Rng(seed).shuffle(tie);

  const sorter = new UserRowSorter(timestamp, movie, tie);
  let marked = 0;
  for (let u = 0; u < nUsers; u++) {
    const n = start[u + 1] - start[u];
    const held = heldOutCount(n, rule);
    if (held === 0) continue;
    const userPositions = byUser.subarray(start[u], start[u + 1]);
    sorter.sort(userPositions);
    for (let k = n - held; k < n; k++) mark[userPositions[k]] = 1;
    marked += held;
  }
  return marked;
}

/** Runs sorted by insertion before the merges. */
const INSERTION_RUN = 16;

/**
 * Sorts one user's rating positions by (timestamp, tie rank of the movie), ascending: a merge sort
 * with the comparison written inline, where `TypedArray#sort` with a comparator calls back into JS for
 * each of the ~10 comparisons a row (a tenth of a 10 M-row Prepare). A user rates a movie once, so
 * the order is total and any correct sort gives the same positions.
 */
class UserRowSorter {
  private scratch = new Uint32Array(1024);

  constructor(
    private readonly timestamp: Float64Array,
    private readonly movie: Uint32Array,
    private readonly tie: Uint32Array,
  ) {}

  sort(positions: Uint32Array): void {
    const n = positions.length;
    for (let lo = 0; lo < n; lo += INSERTION_RUN)
      this.insertion(positions, lo, Math.min(n, lo + INSERTION_RUN));
    if (n <= INSERTION_RUN) return;
    if (this.scratch.length < n) this.scratch = new Uint32Array(2 * n);
    let from: Uint32Array = positions;
    let to: Uint32Array = this.scratch.subarray(0, n);
    for (let width = INSERTION_RUN; width < n; width *= 2) {
      for (let lo = 0; lo < n; lo += 2 * width) {
        this.merge(from, to, lo, Math.min(n, lo + width), Math.min(n, lo + 2 * width));
      }
      const t = from;
      from = to;
      to = t;
    }
    if (from !== positions) positions.set(from);
  }

  /** True when position a sorts before position b. */
  private before(a: number, b: number): boolean {
    const ta = this.timestamp[a];
    const tb = this.timestamp[b];
    return ta < tb || (ta === tb && this.tie[this.movie[a]] < this.tie[this.movie[b]]);
  }

  private insertion(p: Uint32Array, lo: number, hi: number): void {
    for (let i = lo + 1; i < hi; i++) {
      const x = p[i];
      let j = i - 1;
      while (j >= lo && this.before(x, p[j])) {
        p[j + 1] = p[j];
        j--;
      }
      p[j + 1] = x;
    }
  }

  /** Merges the sorted runs from[lo, mid) and from[mid, hi) into to[lo, hi); ties keep the left first. */
  private merge(from: Uint32Array, to: Uint32Array, lo: number, mid: number, hi: number): void {
    let i = lo;
    let j = mid;
    let k = lo;
    while (i < mid && j < hi) to[k++] = this.before(from[j], from[i]) ? from[j++] : from[i++];
    while (i < mid) to[k++] = from[i++];
    while (j < hi) to[k++] = from[j++];
  }
}

function markGlobalTime(ratings: Ratings, cfg: SplitConfig, isTest: Uint8Array): void {
  const cutoff = cfg.cutoffTimestamp;
  if (cutoff === undefined) throw new SplitError('global-time split needs cutoffTimestamp');
  const { timestamp } = ratings;
  for (let i = 0; i < ratings.length; i++) if (timestamp[i] >= cutoff) isTest[i] = 1;
}

/** `ratings/ua.base.gz` -> `ua.base`. */
function baseName(name: string): string {
  return (name.split('/').pop() ?? name).replace(/\.(gz|gzip)$/i, '');
}

function markPredefined(ratings: Ratings, isTest: Uint8Array): void {
  const names = ratings.sourceNames.map(baseName);
  const bases = names.flatMap((n, i) => (/^(.+)\.base$/.test(n) ? [i] : []));
  const tests = names.flatMap((n, i) => (/^(.+)\.test$/.test(n) ? [i] : []));
  if (bases.length !== 1 || tests.length !== 1) {
    throw new SplitError(
      `the predefined split needs exactly one <x>.base and one <x>.test file (MovieLens-100k ua.base and ` +
        `ua.test); got ${bases.length} .base and ${tests.length} .test among [${ratings.sourceNames.join(', ')}]`,
    );
  }
  const [base] = bases;
  const [test] = tests;
  if (names[base].slice(0, -5) !== names[test].slice(0, -5)) {
    throw new SplitError(
      `the predefined split needs a matching pair, got ${ratings.sourceNames[base]} and ${ratings.sourceNames[test]}`,
    );
  }
  const { source } = ratings;
  const others = new Map<number, number>();
  for (let i = 0; i < ratings.length; i++) {
    const s = source[i];
    if (s === test) isTest[i] = 1;
    else if (s !== base) others.set(s, (others.get(s) ?? 0) + 1);
  }
  if (others.size > 0) {
    const listed = Array.from(others, ([s, n]) => `${ratings.sourceNames[s]} (${n})`).join(', ');
    throw new SplitError(
      `the predefined split uses only ${ratings.sourceNames[base]} and ${ratings.sourceNames[test]}, but ` +
        `ratings kept from other files would be unassigned: ${listed}; remove those files or choose another mode`,
    );
  }
}

/** Sizes of a split, for the run manifest and the report. */
export interface SplitSummary {
  mode: Split['mode'];
  rows: number;
  trainRows: number;
  testRows: number;
  /** testRows / rows. */
  testShare: number;
  users: number;
  trainUsers: number;
  testUsers: number;
  /** Test users with no training rating: the model cannot know them (cold start). */
  testOnlyUsers: number;
  movies: number;
  trainMovies: number;
  testMovies: number;
  /** Movies rated only in the test set: no model trained on this split can recommend them. */
  testOnlyMovies: number;
  /** [min, max] timestamp (Unix seconds) of each side; null when the side is empty. */
  trainTime: [number, number] | null;
  testTime: [number, number] | null;
}

/** Counts rows, users and movies on each side of `split`. */
export function summarizeSplit(ratings: Ratings, split: Split): SplitSummary {
  const userSide = new Uint8Array(ratings.users.size);
  const movieSide = new Uint8Array(ratings.movies.size);
  const side = (positions: Uint32Array, bit: number): [number, number] | null => {
    let lo = Infinity;
    let hi = -Infinity;
    for (let k = 0; k < positions.length; k++) {
      const i = positions[k];
      userSide[ratings.user[i]] |= bit;
      movieSide[ratings.movie[i]] |= bit;
      const t = ratings.timestamp[i];
      if (t < lo) lo = t;
      if (t > hi) hi = t;
    }
    return positions.length > 0 ? [lo, hi] : null;
  };
  const trainTime = side(split.train, 1);
  const testTime = side(split.test, 2);
  const tally = (sides: Uint8Array): number[] => {
    const c = [0, 0, 0, 0];
    for (let i = 0; i < sides.length; i++) c[sides[i]]++;
    return c;
  };
  const u = tally(userSide);
  const m = tally(movieSide);
  const rows = split.train.length + split.test.length;
  return {
    mode: split.mode,
    rows,
    trainRows: split.train.length,
    testRows: split.test.length,
    testShare: rows > 0 ? split.test.length / rows : 0,
    users: u[1] + u[2] + u[3],
    trainUsers: u[1] + u[3],
    testUsers: u[2] + u[3],
    testOnlyUsers: u[2],
    movies: m[1] + m[2] + m[3],
    trainMovies: m[1] + m[3],
    testMovies: m[2] + m[3],
    testOnlyMovies: m[2],
    trainTime,
    testTime,
  };
}
