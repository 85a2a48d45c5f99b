/**
 * splitCsvByteChunks writes the split CSV straight into byte buffers; its text must be exactly what
 * splitCsvChunks (strings) writes, whatever the ratings, timestamps and chunk boundaries.
 */
import { idMapFromSortedIds } from '../../../functions/core/ingest/id-map';
import { Rng } from '../../../functions/core/random';
import { splitCsvByteChunks, splitCsvChunks } from '../../../functions/core/split';
import type { Ratings } from '../../../functions/core/types';

function ratingsOf(n: number, seed: number): Ratings {
  const rng = new Rng(seed);
  const userIds = Int32Array.from([0, 7, 99, 12_345, 15_999_999]);
  const movieIds = Int32Array.from([1, 10, 2_147_483, 3_000_000]);
  const odd = [0.5, 5, 3.7, 1 / 3, 4.25, 2.5, 0, 1e-7, 123456.5];
  const stamps = [0, 9, 10, 964_982_703, 2_147_483_647, 2_147_483_648, 1.5, 99_999_999_999, 1e21];
  const r: Ratings = {
    length: n,
    user: new Uint32Array(n),
    movie: new Uint32Array(n),
    rating: new Float32Array(n),
    timestamp: new Float64Array(n),
    source: new Uint16Array(n),
    users: idMapFromSortedIds(userIds),
    movies: idMapFromSortedIds(movieIds),
    sourceNames: ['a.csv'],
  };
  for (let i = 0; i < n; i++) {
    r.user[i] = rng.int(userIds.length);
    r.movie[i] = rng.int(movieIds.length);
    r.rating[i] = rng.next() < 0.5 ? 0.5 * (1 + rng.int(10)) : odd[rng.int(odd.length)];
    r.timestamp[i] = rng.next() < 0.5 ? rng.int(2_000_000_000) : stamps[rng.int(stamps.length)];
  }
  return r;
}

const text = (chunks: Iterable<Uint8Array>): string =>
  Buffer.concat(Array.from(chunks, (c) => Buffer.from(c))).toString('latin1');

describe('splitCsvByteChunks', () => {
  it.each([
    ['one chunk', 4 << 20],
    ['chunks of 256 bytes (rows cut at every boundary)', 256],
  ])('writes the same text as splitCsvChunks: %s', (_name, chunkBytes) => {
    const ratings = ratingsOf(5000, 3);
    const positions = Uint32Array.from({ length: 4000 }, (_, k) => (k * 7) % ratings.length);
    const expected = Array.from(splitCsvChunks(ratings, positions)).join('');
    expect(expected.split('\n')).toHaveLength(4002);
    expect(text(splitCsvByteChunks(ratings, positions, chunkBytes))).toBe(expected);
  });

  it('writes only the header for no rows', () => {
    const ratings = ratingsOf(10, 1);
    expect(text(splitCsvByteChunks(ratings, new Uint32Array(0)))).toBe('userId,movieId,rating,timestamp\n');
  });

  it('never reuses a yielded chunk, so a sink may keep one while the next is filled', () => {
    const ratings = ratingsOf(2000, 2);
    const positions = Uint32Array.from({ length: 2000 }, (_, k) => k);
    const kept: Uint8Array[] = [];
    for (const chunk of splitCsvByteChunks(ratings, positions, 512)) kept.push(chunk);
    expect(kept.length).toBeGreaterThan(10);
    expect(Buffer.concat(kept).toString('latin1')).toBe(
      Array.from(splitCsvChunks(ratings, positions)).join(''),
    );
  });
});
