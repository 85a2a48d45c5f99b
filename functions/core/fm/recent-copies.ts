/**
 * Recency weight for the FM training examples (`encoding.recentCopies`, `encoding.recentShare`): the
 * built-in FM takes no example weights, so a rating weighs more by being written more than once.
 *
 * Why: the held-out ratings are each user's latest (temporal split), and a user's latest ratings say
 * more about what they rate next than their oldest do. On MovieLens-latest-small (temporal per-user
 * split, the tuned region's FM settings, 3 seeds) copying each user's latest 30% of training ratings
 * 3 more times moved held-out NDCG@10 from 0.1195 to 0.1313; shares of 0.2 to 0.5 with 2 to 4 copies
 * all landed at 0.125 to 0.131, one copy at about 0.125, a 70% share lost most of the gain
 * (bench/tuning-quality.ts runs the search with these knobs in its space).
 */
import type { EncodingConfig } from '../config';
import type { Ratings } from '../types';

/**
 * `rows` (positions into `ratings`) followed by `cfg.recentCopies` copies of each user's latest
 * `cfg.recentShare` of them (rounded, at least one; latest by timestamp, ties by position). The copies
 * come in copy, then user, then time order, so the result depends only on its inputs. Returns `rows`
 * itself when `recentCopies` is 0. O(rows log rows) at worst (each user's rows are sorted by time).
 */
export function withRecentCopies(
  ratings: Ratings,
  rows: Uint32Array,
  cfg: Pick<EncodingConfig, 'recentCopies' | 'recentShare'>,
): Uint32Array {
  const copies = cfg.recentCopies;
  if (copies === 0 || rows.length === 0) return rows;
  const nUsers = ratings.users.size;
  // The rows grouped by user (counting sort), then each user's group in time order.
  const ptr = new Uint32Array(nUsers + 1);
  for (let i = 0; i < rows.length; i++) ptr[ratings.user[rows[i]] + 1]++;
  for (let u = 0; u < nUsers; u++) ptr[u + 1] += ptr[u];
  const fill = ptr.slice(0, nUsers);
  const grouped = new Uint32Array(rows.length);
  for (let i = 0; i < rows.length; i++) grouped[fill[ratings.user[rows[i]]]++] = rows[i];
  const { timestamp } = ratings;
  const byTime = (a: number, b: number): number => timestamp[a] - timestamp[b] || a - b;

  const recent = new Uint32Array(rows.length);
  let n = 0;
  for (let u = 0; u < nUsers; u++) {
    const count = ptr[u + 1] - ptr[u];
    if (count === 0) continue;
    const user = grouped.subarray(ptr[u], ptr[u + 1]).sort(byTime);
    const k = Math.min(count, Math.max(1, Math.round(count * cfg.recentShare)));
    recent.set(user.subarray(count - k), n);
    n += k;
  }
  const out = new Uint32Array(rows.length + copies * n);
  out.set(rows);
  for (let c = 0; c < copies; c++) out.set(recent.subarray(0, n), rows.length + c * n);
  return out;
}
