/**
 * Recency weight for the FM training examples (`encoding.recentCopies`, `encoding.recentShare`): the
 * built-in FM takes no example weights, so a rating weighs more by being written more than once.
 *
 * Why: the held-out ratings are each user's latest (temporal split), and a user's latest ratings say
 * more about what they rate next than their oldest do. On MovieLens-latest-small (temporal per-user
 * split, the tuned region's FM settings, 3 seeds) copying each user's latest 30% of training ratings
 * 3 more times moved held-out NDCG@10 from 0.1195 to 0.1313; shares of 0.2 to 0.5 with 2 to 4 copies
 * all landed at 0.125 to 0.131, one copy at about 0.125, a 70% share lost most of the gain (that
 * sweep broke timestamp ties by position; the search with these knobs in its space,
 * bench/tuning-quality.ts, reaches 0.131 on average over 4 seeds with the tie rule below).
 *
 * "Latest" is the test split's own rule (`markLatestPerUser`): by timestamp, ties in a seeded order of
 * the movies, round(share × n) of a user's n rows, at least one and never all of them (a user with a
 * single row gets no copy).
 */
import type { EncodingConfig } from '../config';
import { markLatestPerUser } from '../split/strategies';
import type { Ratings } from '../types';

/**
 * `rows` (positions into `ratings`) followed by `cfg.recentCopies` copies of each user's latest
 * `cfg.recentShare` of them, the copied rows in `rows`' order. Returns `rows` itself when
 * `recentCopies` is 0. `seed` orders timestamp ties.
 */
export function withRecentCopies(
  ratings: Ratings,
  rows: Uint32Array,
  cfg: Pick<EncodingConfig, 'recentCopies' | 'recentShare'>,
  seed: number,
): Uint32Array {
  const copies = cfg.recentCopies;
  if (copies === 0 || rows.length === 0) return rows;
  const latest = new Uint8Array(ratings.length);
  const rule = { testShare: cfg.recentShare, minUserRatings: 2 };
  const n = markLatestPerUser(ratings, rule, seed, latest, rows);
  const out = new Uint32Array(rows.length + copies * n);
  out.set(rows);
  let at = rows.length;
  for (let i = 0; i < rows.length; i++) if (latest[rows[i]]) out[at++] = rows[i];
  for (let c = 1; c < copies; c++) out.copyWithin(rows.length + c * n, rows.length, rows.length + n);
  return out;
}
