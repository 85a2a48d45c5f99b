/**
 * Synthetic MovieLens-like ratings with planted structure: the shipped sample data set
 * (`local/sample/`), and data sets of any size for benchmarks and scale tests. Same options, same
 * bytes, on every machine (seeded `Rng`, integer-exact formatting).
 *
 * Tooling, not product: local/generate-sample.ts, `reelflow verify-aws`, the benchmarks and the tests
 * use it; nothing under functions/ imports it.
 *
 * The world:
 * - movies: a genre mix (a primary genre, sometimes one or two more) and a Zipf-like popularity over a
 *   random permutation of the catalog (a long tail: a few movies collect most ratings);
 * - users: a lognormal number of ratings (at least `minRatingsPerUser`, as MovieLens users have) and a
 *   taste concentrated on one to three favourite genres;
 * - each choice is, with probability `tasteShare`, a genre drawn from the user's taste and then a movie
 *   of that genre (Zipf over the movie's popularity rank inside the genre, so every genre has its own
 *   hits and tail), otherwise a movie drawn by overall popularity. Popularity alone therefore predicts
 *   part of every user's choices (it beats random), while a model that learns users' tastes predicts
 *   much more (see test/local/sample/synthetic.test.ts);
 * - ratings (MovieLens half stars, 0.5..5; some users give whole stars only) rise with how well the
 *   movie matches the user's taste, plus user and movie biases and noise;
 * - timestamps increase per user (sessions of a few minutes, days between them), so the temporal split
 *   holds out each user's later choices, drawn from the same taste.
 *
 * `SyntheticWorld.choiceProbabilities` exposes the true choice distribution: the "taste oracle" that
 * tests use to check the planted structure is there.
 */
import { createWriteStream } from 'node:fs';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { Rng } from '../../functions/core/random';

/** Options of the generator. Every field has a default (`SYNTHETIC_DEFAULTS`). */
export interface SyntheticOptions {
  /** @default 600 */
  readonly users: number;
  /** @default 1000 */
  readonly movies: number;
  /** Mean ratings per user (the lognormal's mean, before the cap at half the catalog). @default 60 */
  readonly meanRatingsPerUser: number;
  /** Every user rates at least this many movies (ml-latest-small: 20). @default 20 */
  readonly minRatingsPerUser: number;
  /** Spread of user activity (sigma of the lognormal). @default 1 */
  readonly activitySigma: number;
  /** Number of genres, at most `GENRES.length`. @default 18 */
  readonly genres: number;
  /** Zipf exponent of movie popularity. @default 1.4 */
  readonly popularityExponent: number;
  /** Share of choices driven by taste (the rest by popularity alone). @default 0.9 */
  readonly tasteShare: number;
  /**
   * Zipf exponent over a movie's popularity rank inside the genre, for taste-driven choices
   * (0 = uniform in the genre). @default 1.2
   */
  readonly tastePopularityExponent: number;
  /** @default 42 */
  readonly seed: number;
  /** Unix seconds of the earliest possible rating. @default 1262304000 (2010-01-01) */
  readonly startTimestamp: number;
  /** Ratings fall (in expectation) within this many seconds after `startTimestamp`. @default 8 years */
  readonly spanSeconds: number;
}

/** The 18 MovieLens genre names, most common first. */
export const GENRES = [
  'Drama',
  'Comedy',
  'Thriller',
  'Action',
  'Romance',
  'Adventure',
  'Crime',
  'Sci-Fi',
  'Horror',
  'Fantasy',
  'Children',
  'Animation',
  'Mystery',
  'Documentary',
  'War',
  'Musical',
  'Western',
  'Film-Noir',
] as const;

export const SYNTHETIC_DEFAULTS: SyntheticOptions = {
  users: 600,
  movies: 1000,
  meanRatingsPerUser: 60,
  minRatingsPerUser: 20,
  activitySigma: 1,
  genres: 18,
  popularityExponent: 1.4,
  tasteShare: 0.9,
  tastePopularityExponent: 1.2,
  seed: 42,
  startTimestamp: 1262304000,
  spanSeconds: 8 * 365 * 86400,
};

/** The shipped sample (`local/sample/`): 500 users, 1,000 movies, ~30 k ratings. */
export const SAMPLE_OPTIONS: SyntheticOptions = {
  ...SYNTHETIC_DEFAULTS,
  users: 500,
  seed: 20240601,
};

/** Thrown for options the generator cannot honour. */
export class SyntheticOptionsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SyntheticOptionsError';
  }
}

/** One generated user: ratings in time order. */
export interface SyntheticUser {
  readonly userId: number;
  /** Taste over genres (sums to 1). */
  readonly taste: Float64Array;
  /** Movie indices (into `SyntheticWorld.movieIds`), in time order. */
  readonly movies: Int32Array;
  readonly ratings: Float32Array;
  readonly timestamps: Float64Array;
}

const TASTE_FLOOR = 0.05;
const MAX_CATALOG_SHARE = 0.5;

/** The movies and the generative model; users are produced lazily, one at a time, by `users()`. */
export class SyntheticWorld {
  readonly options: SyntheticOptions;
  /** Original movie ids, ascending, with gaps (as MovieLens ids have). */
  readonly movieIds: Int32Array;
  /** movies x genres, row-major; each row sums to 1. */
  readonly movieGenres: Float64Array;
  /** Popularity per movie (sums to 1): the probability of a popularity-driven choice. */
  readonly popularity: Float64Array;
  /** Release year per movie (rises with the id). */
  readonly years: Int32Array;
  /** Movie quality bias (rating offset). */
  private readonly quality: Float64Array;
  /** genres x movies: P(movie | genre) of a taste-driven choice. */
  private readonly genreChoice: Float64Array;
  private readonly genreCdf: Float64Array[];
  private readonly genreMembers: Int32Array[];
  private readonly popularityCdf: Float64Array;
  private readonly genreShare: Float64Array;

  constructor(options: Partial<SyntheticOptions> = {}) {
    const o = (this.options = { ...SYNTHETIC_DEFAULTS, ...options });
    validate(o);
    const rng = new Rng(o.seed);
    const nM = o.movies;
    const nG = o.genres;

    this.genreShare = normalize(Float64Array.from({ length: nG }, (_, g) => 1 / (g + 2) ** 0.3));
    this.movieIds = new Int32Array(nM);
    this.years = new Int32Array(nM);
    for (let j = 0, id = 0; j < nM; j++) {
      id += 1 + (rng.int(4) === 0 ? rng.int(12) : 0);
      this.movieIds[j] = id;
      this.years[j] = 1950 + Math.floor((68 * j) / nM) + rng.int(3);
    }

    this.movieGenres = new Float64Array(nM * nG);
    for (let j = 0; j < nM; j++) {
      const extra = Math.min(nG - 1, rng.next() < 0.45 ? 0 : rng.next() < 0.7 ? 1 : 2);
      const chosen = drawDistinct(rng, this.genreShare, 1 + extra);
      chosen.forEach((g, k) => (this.movieGenres[j * nG + g] = k === 0 ? 1 : 0.5));
      normalizeRow(this.movieGenres, j * nG, nG);
    }

    const rank = new Uint32Array(nM);
    for (let j = 0; j < nM; j++) rank[j] = j;
    rng.shuffle(rank);
    this.popularity = normalize(Float64Array.from(rank, (r) => 1 / (r + 1) ** o.popularityExponent));
    this.popularityCdf = cumulative(this.popularity);
    this.quality = Float64Array.from(rank, (r) => 0.3 * rng.normal() + 0.35 * (1 - r / nM));

    this.genreChoice = new Float64Array(nG * nM);
    this.genreCdf = [];
    this.genreMembers = [];
    for (let g = 0; g < nG; g++) {
      // Members by global popularity rank; the Zipf law applies to the rank inside the genre, so
      // every genre has its own hits (a small genre's best movie is a hit with its fans) and tail.
      const members: number[] = [];
      for (let j = 0; j < nM; j++) if (this.movieGenres[j * nG + g] > 0) members.push(j);
      members.sort((a, b) => rank[a] - rank[b]);
      const weights = members.map(
        (j, r) => this.movieGenres[j * nG + g] / (r + 1) ** o.tastePopularityExponent,
      );
      const total = weights.reduce((a, b) => a + b, 0);
      members.forEach((j, k) => (this.genreChoice[g * nM + j] = total > 0 ? weights[k] / total : 0));
      this.genreMembers.push(Int32Array.from(members));
      this.genreCdf.push(cumulative(Float64Array.from(weights)));
    }
  }

  /**
   * The true probability that `taste`'s owner picks each movie in one draw:
   * tasteShare x sum_g taste[g] P(movie | g) + (1 - tasteShare) x popularity. The taste oracle.
   */
  choiceProbabilities(taste: Float64Array): Float64Array {
    const { movies: nM, genres: nG, tasteShare } = this.options;
    const p = Float64Array.from(this.popularity, (v) => (1 - tasteShare) * v);
    for (let g = 0; g < nG; g++) {
      const w = tasteShare * taste[g];
      if (w === 0) continue;
      const row = g * nM;
      for (let j = 0; j < nM; j++) p[j] += w * this.genreChoice[row + j];
    }
    return p;
  }

  /** The users, generated one at a time in id order (1..users); memory O(movies) whatever the count. */
  *users(): Generator<SyntheticUser> {
    const o = this.options;
    const nM = o.movies;
    const nG = o.genres;
    const rng = new Rng(o.seed ^ 0x5eed5eed);
    const cap = Math.floor(nM * MAX_CATALOG_SHARE);
    const mu = Math.log(Math.max(1, o.meanRatingsPerUser - o.minRatingsPerUser)) - o.activitySigma ** 2 / 2;
    const picked = new Int32Array(nM);
    for (let u = 1; u <= o.users; u++) {
      const n = Math.min(
        cap,
        o.minRatingsPerUser + Math.round(Math.exp(mu + o.activitySigma * rng.normal())),
      );
      const taste = this.drawTaste(rng);
      const tasteCdf = cumulative(taste);
      const userBias = 0.45 * rng.normal();
      const halfStars = rng.next() < 0.45;
      const topTaste = Math.max(...taste);
      const movies = new Int32Array(n);
      for (let k = 0; k < n; k++) {
        let j = -1;
        for (let attempt = 0; attempt < 64 && j < 0; attempt++) {
          const candidate =
            rng.next() < o.tasteShare
              ? this.drawFromGenre(rng, bisect(tasteCdf, rng.next()))
              : bisect(this.popularityCdf, rng.next());
          if (picked[candidate] !== u) j = candidate;
        }
        if (j < 0) {
          // Heavy users can exhaust the likely movies: take the next unpicked one from a random start.
          j = rng.int(nM);
          while (picked[j] === u) j = (j + 1) % nM;
        }
        picked[j] = u;
        movies[k] = j;
      }

      const ratings = new Float32Array(n);
      const timestamps = new Float64Array(n);
      let t = o.startTimestamp + Math.floor(rng.next() * 0.75 * o.spanSeconds);
      // Pauses shrink for heavy or late users so that their ratings stay (in expectation) in the span.
      const pauseMean = Math.min(6 * 86400, (o.startTimestamp + o.spanSeconds - t) / (0.2 * n + 1));
      for (let k = 0; k < n; k++) {
        const j = movies[k];
        let match = 0;
        for (let g = 0; g < nG; g++) match += taste[g] * this.movieGenres[j * nG + g];
        const raw = 2.45 + 1.6 * (match / topTaste) + userBias + this.quality[j] + 0.75 * rng.normal();
        ratings[k] = halfStars
          ? Math.min(5, Math.max(0.5, Math.round(raw * 2) / 2))
          : Math.min(5, Math.max(1, Math.round(raw)));
        // Sessions: most ratings a few seconds to minutes apart, then a pause of days.
        t += rng.next() < 0.8 ? 5 + rng.int(240) : 3600 + Math.floor(-Math.log(1 - rng.next()) * pauseMean);
        timestamps[k] = t;
      }
      yield { userId: u, taste, movies, ratings, timestamps };
    }
  }

  private drawTaste(rng: Rng): Float64Array {
    const nG = this.options.genres;
    const r = rng.next();
    const favourites = drawDistinct(rng, this.genreShare, Math.min(nG, r < 0.35 ? 1 : r < 0.75 ? 2 : 3));
    const taste = new Float64Array(nG).fill(TASTE_FLOOR / nG);
    const weights = favourites.map(() => 0.5 - Math.log(1 - rng.next()));
    const total = weights.reduce((a, b) => a + b, 0);
    favourites.forEach((g, k) => (taste[g] += ((1 - TASTE_FLOOR) * weights[k]) / total));
    return taste;
  }

  private drawFromGenre(rng: Rng, genre: number): number {
    const members = this.genreMembers[genre];
    if (members.length === 0) return bisect(this.popularityCdf, rng.next());
    return members[bisect(this.genreCdf[genre], rng.next())];
  }

  /** Genre names of movie `j`, alphabetical, `|`-joined as in MovieLens movies.csv. */
  genreNames(j: number): string {
    const nG = this.options.genres;
    const names: string[] = [];
    for (let g = 0; g < nG; g++) if (this.movieGenres[j * nG + g] > 0) names.push(GENRES[g]);
    return names.sort().join('|');
  }
}

function validate(o: SyntheticOptions): void {
  const positiveInt = (key: keyof SyntheticOptions): void => {
    const v = o[key];
    if (!Number.isInteger(v) || v <= 0)
      throw new SyntheticOptionsError(`${key} must be a positive integer, got ${v}`);
  };
  positiveInt('users');
  positiveInt('movies');
  positiveInt('minRatingsPerUser');
  positiveInt('genres');
  positiveInt('spanSeconds');
  if (o.genres > GENRES.length)
    throw new SyntheticOptionsError(`genres must be at most ${GENRES.length}, got ${o.genres}`);
  if (o.minRatingsPerUser > Math.floor(o.movies * MAX_CATALOG_SHARE)) {
    throw new SyntheticOptionsError(
      `minRatingsPerUser (${o.minRatingsPerUser}) must be at most half the movies (${o.movies})`,
    );
  }
  if (!(o.meanRatingsPerUser >= o.minRatingsPerUser)) {
    throw new SyntheticOptionsError(`meanRatingsPerUser must be at least minRatingsPerUser`);
  }
  for (const key of ['tasteShare'] as const) {
    if (!(o[key] >= 0 && o[key] <= 1))
      throw new SyntheticOptionsError(`${key} must be in [0, 1], got ${o[key]}`);
  }
  for (const key of ['activitySigma', 'popularityExponent', 'tastePopularityExponent'] as const) {
    if (!(o[key] >= 0 && Number.isFinite(o[key])))
      throw new SyntheticOptionsError(`${key} must be >= 0, got ${o[key]}`);
  }
  if (!Number.isInteger(o.startTimestamp) || o.startTimestamp < 0) {
    throw new SyntheticOptionsError(`startTimestamp must be a non-negative integer, got ${o.startTimestamp}`);
  }
}

function normalize(a: Float64Array): Float64Array {
  let total = 0;
  for (let i = 0; i < a.length; i++) total += a[i];
  for (let i = 0; i < a.length; i++) a[i] /= total;
  return a;
}

function normalizeRow(a: Float64Array, offset: number, width: number): void {
  let total = 0;
  for (let i = 0; i < width; i++) total += a[offset + i];
  for (let i = 0; i < width; i++) a[offset + i] /= total;
}

/** Running sums, the last one forced to exactly 1 (relative to the total). */
function cumulative(weights: Float64Array): Float64Array {
  const cdf = new Float64Array(weights.length);
  let total = 0;
  for (let i = 0; i < weights.length; i++) cdf[i] = total += weights[i];
  for (let i = 0; i < cdf.length; i++) cdf[i] /= total;
  if (cdf.length > 0) cdf[cdf.length - 1] = 1;
  return cdf;
}

/** The first index whose cumulative weight exceeds `x` in [0, 1). */
function bisect(cdf: Float64Array, x: number): number {
  let lo = 0;
  let hi = cdf.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (cdf[mid] > x) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

/** `count` distinct indices drawn in proportion to `weights` (successive draws without replacement). */
function drawDistinct(rng: Rng, weights: Float64Array, count: number): number[] {
  const w = Float64Array.from(weights);
  const chosen: number[] = [];
  for (let c = 0; c < count; c++) {
    let total = 0;
    for (let i = 0; i < w.length; i++) total += w[i];
    let x = rng.next() * total;
    let pick = w.length - 1;
    for (let i = 0; i < w.length; i++) {
      if (w[i] === 0) continue;
      x -= w[i];
      if (x < 0) {
        pick = i;
        break;
      }
    }
    while (w[pick] === 0) pick--;
    chosen.push(pick);
    w[pick] = 0;
  }
  return chosen;
}

/** Users per yielded chunk of `syntheticRatingsCsv`. */
const USERS_PER_CHUNK = 64;

/**
 * MovieLens `ratings.csv` text of the world's users, in chunks (header first). Rows are ordered by
 * userId, then movieId, as MovieLens orders them; ratings as `4.0`/`3.5`, timestamps in whole seconds.
 */
export function* syntheticRatingsCsv(world: SyntheticWorld): Generator<string> {
  let text = 'userId,movieId,rating,timestamp\n';
  let inChunk = 0;
  for (const user of world.users()) {
    const order = Array.from(user.movies.keys()).sort((a, b) => user.movies[a] - user.movies[b]);
    for (const k of order) {
      const r = user.ratings[k];
      text += `${user.userId},${world.movieIds[user.movies[k]]},${Number.isInteger(r) ? r.toFixed(1) : r},${user.timestamps[k]}\n`;
    }
    if (++inChunk === USERS_PER_CHUNK) {
      yield text;
      text = '';
      inChunk = 0;
    }
  }
  if (text.length > 0) yield text;
}

const TITLE_ADJECTIVES = (
  'Silent,Crimson,Broken,Golden,Midnight,Hidden,Lost,Electric,Distant,Burning,Frozen,Wild,' +
  'Quiet,Last,Secret,Endless,Hollow,Savage,Gentle,Bitter,Restless,Velvet,Iron,Paper,Glass,' +
  'Northern,Southern,Lonely,Brave,Forgotten'
).split(',');
const TITLE_NOUNS = (
  'Harbor,Engine,Garden,Frontier,Mirror,Summer,Letter,Orchard,Kingdom,River,Detective,Signal,' +
  'Lighthouse,Circus,Highway,Island,Winter,Voyage,Promise,Stranger,Empire,Melody,Canyon,' +
  'Shadow,Station,Theory,Witness,Harvest,Compass,Carnival,Mountain,Heist,Planet,Village,' +
  'Dynasty,Rebellion,Lantern,Tide,Verdict,Galaxy'
).split(',');
const TITLE_PLACES = (
  'Avalon,Brookfield,Cedar Falls,Dunmore,Eastwick,Fairhaven,Greystone,Hollow Creek,Ironwood,' +
  'Juniper Bay,Kingsport,Larkspur,Marlowe,Northgate,Oakridge,Port Ellis'
).split(',');
const SEQUELS = ['II', 'III', 'IV', 'V', 'VI', 'VII', 'VIII', 'IX', 'X'];

/** Readable invented titles, unique, with the release year: `The Silent Harbor (1994)`. No commas. */
function movieTitles(world: SyntheticWorld): string[] {
  const rng = new Rng(world.options.seed ^ 0x7171e5);
  const pick = <T>(list: readonly T[]): T => list[rng.int(list.length)];
  const seen = new Set<string>();
  return Array.from(world.movieIds, (_, j) => {
    const pattern = rng.int(5);
    const base =
      pattern === 0
        ? `The ${pick(TITLE_ADJECTIVES)} ${pick(TITLE_NOUNS)}`
        : pattern === 1
          ? `${pick(TITLE_NOUNS)} of ${pick(TITLE_PLACES)}`
          : pattern === 2
            ? `${pick(TITLE_ADJECTIVES)} ${pick(TITLE_NOUNS)}`
            : pattern === 3
              ? `The ${pick(TITLE_NOUNS)} and the ${pick(TITLE_NOUNS)}`
              : `${pick(TITLE_PLACES)} ${pick(TITLE_NOUNS)}`;
    let title = base;
    for (let s = 0; seen.has(title); s++)
      title = s < SEQUELS.length ? `${base} ${SEQUELS[s]}` : `${base} ${s + 2}`;
    seen.add(title);
    return `${title} (${world.years[j]})`;
  });
}

/** MovieLens `movies.csv` text (`movieId,title,genres`) for every movie of the world. */
export function syntheticMoviesCsv(world: SyntheticWorld): string {
  const titles = movieTitles(world);
  const lines = ['movieId,title,genres'];
  for (let j = 0; j < world.movieIds.length; j++)
    lines.push(`${world.movieIds[j]},${titles[j]},${world.genreNames(j)}`);
  return `${lines.join('\n')}\n`;
}

/** The shipped sample's two files, as strings (what `local/generate-sample.ts` writes). */
export function generateSample(options: Partial<SyntheticOptions> = SAMPLE_OPTIONS): {
  ratingsCsv: string;
  moviesCsv: string;
} {
  const world = new SyntheticWorld(options);
  return {
    ratingsCsv: Array.from(syntheticRatingsCsv(world)).join(''),
    moviesCsv: syntheticMoviesCsv(world),
  };
}

/**
 * Streams a synthetic `ratings.csv` to `path` (gzipped when the name ends in `.gz`), one chunk of users
 * at a time: 10 M rows need no more memory than 10 k. Resolves with the number of rows written.
 */
export async function writeSyntheticRatings(
  path: string,
  options: Partial<SyntheticOptions> = {},
): Promise<number> {
  const world = new SyntheticWorld(options);
  let rows = 0;
  const chunks = (function* () {
    for (const chunk of syntheticRatingsCsv(world)) {
      for (let i = chunk.indexOf('\n'); i >= 0; i = chunk.indexOf('\n', i + 1)) rows++;
      yield chunk;
    }
  })();
  const source = Readable.from(chunks, { objectMode: false });
  const sink = createWriteStream(path);
  if (path.endsWith('.gz')) await pipeline(source, createGzip(), sink);
  else await pipeline(source, sink);
  return rows - 1;
}
