// Reference copy (bench/reference/prepare-v0/README.md): functions/core/ingest/rating-store.ts at 48aa102, imports rewired.
/**
 * The de-duplicated ratings of an ingestion, one entry per distinct (user, movie) pair.
 *
 * Memory is bounded by the distinct (user, movie) pairs, never by the rows: entries live in growable
 * typed arrays (22 bytes each) and an open-addressing hash over (user index, movie index) finds the
 * entry a repeated pair replaces (4 bytes per slot, load <= 1/2). No JS object or string per row; a JS
 * Map keyed by strings would cost ~100 bytes per pair and a string per row.
 *
 * Latest wins: for a repeated (user, movie) the row with the greatest timestamp is kept; on equal
 * timestamps the later one added wins.
 */
import type { Ratings } from '../../../../functions/core/types';
import { IdInterner } from './id-interner';
import { idMapFromIds } from './id-map';
import { grow } from './typed-arrays';

/** Mixes a (user, movie) index pair into 32 bits (lowbias32 finalizer). */
function hashPair(user: number, movie: number): number {
  let h = Math.imul(user, 0x9e3779b1) ^ Math.imul(movie, 0x85ebca6b);
  h ^= h >>> 16;
  h = Math.imul(h, 0x7feb352d);
  h ^= h >>> 15;
  h = Math.imul(h, 0x846ca68b);
  return h ^ (h >>> 16);
}

/** Pre-size for at most 64 M entries (a ~1.5 GB csv); larger inputs grow as they go. */
const MAX_PRESIZED_ENTRIES = 1 << 26;

/** Movie indices take the low 26 bits of an entry key; users the 27 bits above (53 bits in a double). */
const MOVIE_BITS = 2 ** 26;
const MAX_USERS = 2 ** 27;
/** A slot holds entry index + 1 in its low 27 bits and 5 bits of the pair's hash above them. */
const SLOT_INDEX_BITS = 27;
const SLOT_INDEX_MASK = 2 ** SLOT_INDEX_BITS - 1;
const MAX_ENTRIES = SLOT_INDEX_MASK - 1;

/**
 * The de-duplicated entries: columnar growable arrays plus the pair hash. An entry's (user, movie) is
 * packed into one float64 key, and each slot carries 5 bits of the hash, so a probe that meets another
 * pair's slot usually moves on without reading the entry (the cache misses are the cost at 32 M rows).
 */
export class RatingStore {
  length = 0;
  private key: Float64Array;
  private rating: Float32Array;
  private timestamp: Float64Array;
  private source: Uint16Array;
  /** Entry index + 1 per slot; 0 is empty. */
  private slots: Int32Array | null;
  private readonly users = new IdInterner();
  private readonly movies = new IdInterner();

  /** `expectedEntries` sizes the columns and the table (at most half full) up front. */
  constructor(expectedEntries = 0) {
    const entries = Math.min(Math.max(1 << 16, expectedEntries), MAX_PRESIZED_ENTRIES);
    this.key = new Float64Array(entries);
    this.rating = new Float32Array(entries);
    this.timestamp = new Float64Array(entries);
    this.source = new Uint16Array(entries);
    this.slots = new Int32Array(2 ** Math.ceil(Math.log2(2 * entries + 1)));
  }

  add(userId: number, movieId: number, rating: number, timestamp: number, source: number): void {
    const u = this.users.intern(userId);
    const m = this.movies.intern(movieId);
    if (m === MOVIE_BITS || u === MAX_USERS) {
      throw new RangeError(`ingestRatings: more than ${MOVIE_BITS} movies or ${MAX_USERS} users`);
    }
    const key = u * MOVIE_BITS + m;
    const slots = this.slots!;
    const mask = slots.length - 1;
    const hash = hashPair(u, m);
    const tag = (hash >>> SLOT_INDEX_BITS) << SLOT_INDEX_BITS;
    let slot = hash & mask;
    for (;;) {
      const entry = slots[slot];
      if (entry === 0) break;
      const e = (entry & SLOT_INDEX_MASK) - 1;
      if ((entry & ~SLOT_INDEX_MASK) === tag && this.key[e] === key) {
        if (timestamp >= this.timestamp[e]) {
          this.rating[e] = rating;
          this.timestamp[e] = timestamp;
          this.source[e] = source;
        }
        return;
      }
      slot = (slot + 1) & mask;
    }
    const e = this.length++;
    if (e === MAX_ENTRIES) throw new RangeError(`ingestRatings: more than ${MAX_ENTRIES} distinct ratings`);
    if (e === this.key.length) this.growEntries();
    this.key[e] = key;
    this.rating[e] = rating;
    this.timestamp[e] = timestamp;
    this.source[e] = source;
    slots[slot] = tag | (e + 1);
    if (this.length * 2 > slots.length) this.rehash(slots.length * 2);
  }

  private growEntries(): void {
    // x1.5 keeps the unused tail at 1/3 of the entries at most (typed arrays cannot be resized in place).
    const capacity = Math.ceil(this.key.length * 1.5);
    this.key = grow(this.key, capacity);
    this.rating = grow(this.rating, capacity);
    this.timestamp = grow(this.timestamp, capacity);
    this.source = grow(this.source, capacity);
  }

  private rehash(capacity: number): void {
    this.slots = null; // let the old table go before the new one is allocated
    const slots = new Int32Array(capacity);
    const mask = capacity - 1;
    for (let e = 0; e < this.length; e++) {
      const key = this.key[e];
      const u = Math.floor(key / MOVIE_BITS);
      const hash = hashPair(u, key - u * MOVIE_BITS);
      let slot = hash & mask;
      while (slots[slot] !== 0) slot = (slot + 1) & mask;
      slots[slot] = ((hash >>> SLOT_INDEX_BITS) << SLOT_INDEX_BITS) | (e + 1);
    }
    this.slots = slots;
  }

  /** Exact-length columns with user/movie indices renumbered to ascending original id. */
  toRatings(sourceNames: string[]): Ratings {
    this.slots = null;
    const n = this.length;
    const users = idMapFromIds(this.users.ids.subarray(0, this.users.size));
    const movies = idMapFromIds(this.movies.ids.subarray(0, this.movies.size));
    const userRank = rankOf(this.users.ids, this.users.size, users.indexOf);
    const movieRank = rankOf(this.movies.ids, this.movies.size, movies.indexOf);
    const user = new Uint32Array(n);
    const movie = new Uint32Array(n);
    const keys = this.key;
    for (let i = 0; i < n; i++) {
      const u = Math.floor(keys[i] / MOVIE_BITS);
      user[i] = userRank[u];
      movie[i] = movieRank[keys[i] - u * MOVIE_BITS];
    }
    this.key = new Float64Array(0);
    const rating = this.rating.slice(0, n);
    this.rating = new Float32Array(0);
    const timestamp = this.timestamp.slice(0, n);
    this.timestamp = new Float64Array(0);
    const source = this.source.slice(0, n);
    this.source = new Uint16Array(0);
    return { length: n, user, movie, rating, timestamp, source, users, movies, sourceNames };
  }
}

function rankOf(
  firstSeenIds: Int32Array,
  size: number,
  indexOf: (id: number) => number | undefined,
): Uint32Array {
  const rank = new Uint32Array(size);
  for (let i = 0; i < size; i++) rank[i] = indexOf(firstSeenIds[i])!;
  return rank;
}
