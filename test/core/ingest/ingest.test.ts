import fc from 'fast-check';
import { gzipSync } from 'node:zlib';
import { type IngestConfig, parseMlConfig } from '../../../functions/core/config';
import {
  bufferSource,
  DataRejectedError,
  ingestRatings,
  MAX_LINE_BYTES,
  type RatingSource,
  type ValidationReport,
} from '../../../functions/core/ingest';
import type { Ratings } from '../../../functions/core/types';

const defaults = parseMlConfig({}).ingest;
const cfg = (over: Partial<IngestConfig> = {}): IngestConfig => ({ ...defaults, ...over });
const lenient = cfg({ maxBadRowShare: 1 });

/** Rows of a Ratings in original ids, sorted, for comparisons. */
function rows(r: Ratings): Array<[number, number, number, number, string]> {
  const out: Array<[number, number, number, number, string]> = [];
  for (let i = 0; i < r.length; i++) {
    out.push([
      r.users.ids[r.user[i]],
      r.movies.ids[r.movie[i]],
      r.rating[i],
      r.timestamp[i],
      r.sourceNames[r.source[i]],
    ]);
  }
  return out.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
}

async function rejected(sources: RatingSource[], config: IngestConfig): Promise<DataRejectedError> {
  try {
    await ingestRatings(sources, config);
  } catch (error) {
    if (error instanceof DataRejectedError) return error;
    throw error;
  }
  throw new Error('expected DataRejectedError');
}

describe('ingestRatings: formats', () => {
  it('reads the three MovieLens formats into the same ratings', async () => {
    const csv = 'userId,movieId,rating,timestamp\n1,10,4.0,100\n2,10,3.5,200\n1,20,5.0,300\n';
    const dat = '1::10::4::100\n2::10::3.5::200\n1::20::5::300\n';
    const tab = '1\t10\t4\t100\n2\t10\t3.5\t200\n1\t20\t5\t300\n';
    const expected = [
      [1, 10, 4, 100],
      [1, 20, 5, 300],
      [2, 10, 3.5, 200],
    ];
    for (const [name, text, format] of [
      ['ratings.csv', csv, 'ratings.csv'],
      ['ratings.dat', dat, 'ratings.dat'],
      ['u.data', tab, 'u.data'],
    ] as const) {
      const { ratings, report } = await ingestRatings([bufferSource(name, text)], defaults);
      expect(rows(ratings).map((r) => r.slice(0, 4))).toEqual(expected);
      expect(report.files[0]).toMatchObject({
        format,
        formatDecidedBy: 'content',
        header: format === 'ratings.csv',
      });
      expect(report.accepted).toBe(true);
    }
  });

  it('numbers users and movies densely in ascending original id', async () => {
    const { ratings } = await ingestRatings(
      [bufferSource('r.csv', '30,7,1,1\n5,900,2,2\n30,3,3,3\n')],
      defaults,
    );
    expect(Array.from(ratings.users.ids)).toEqual([5, 30]);
    expect(Array.from(ratings.movies.ids)).toEqual([3, 7, 900]);
    expect(Array.from(ratings.user)).toEqual([1, 0, 1]);
    expect(Array.from(ratings.movie)).toEqual([1, 2, 0]);
    expect(ratings.users.indexOf(30)).toBe(1);
    expect(ratings.movies.indexOf(8)).toBeUndefined();
  });

  it('detects gzip by magic bytes, not by name', async () => {
    const text = '1::10::4::100\n2::10::3::200\n';
    const { ratings, report } = await ingestRatings(
      [bufferSource('ratings.dat', gzipSync(text), 5)],
      defaults,
    );
    expect(ratings.length).toBe(2);
    expect(report.files[0]).toMatchObject({ gzip: true, format: 'ratings.dat', bytes: text.length });
  });

  it('falls back on the name when the first line has no separator, and notes a name/content conflict', async () => {
    const { report } = await ingestRatings(
      [bufferSource('ua.base', 'garbage\n1\t2\t3\t4\n'), bufferSource('ratings.dat', '1,2,3,4\n')],
      lenient,
    );
    expect(report.files[0]).toMatchObject({
      format: 'u.data',
      formatDecidedBy: 'name',
      goodRows: 1,
      badRows: 1,
    });
    expect(report.files[1]).toMatchObject({ format: 'ratings.csv', formatDecidedBy: 'content' });
    expect(report.files[1].formatNote).toMatch(
      /name suggests ratings\.dat but the first line is comma-separated/,
    );
    const unknown = await ingestRatings([bufferSource('ratings', 'x\n')], lenient).catch((e) => e.report);
    expect(unknown.files[0]).toMatchObject({ format: 'ratings.csv', formatDecidedBy: 'default' });
  });

  it('uses the configured format when it overrides detection', async () => {
    // The first line looks comma-separated, but the override says tab: commas are then wrong columns.
    const text = '1,2,3,4\n5\t6\t3\t7\n';
    const { report } = await ingestRatings(
      [bufferSource('x.csv', text)],
      cfg({ format: 'u.data', maxBadRowShare: 1 }),
    );
    expect(report.files[0]).toMatchObject({ format: 'u.data', formatDecidedBy: 'override', goodRows: 1 });
    expect(report.files[0].reasons).toEqual({ wrong_column_count: { count: 1, lines: [1] } });
    expect(report.policy.format).toBe('u.data');
  });

  it('maps columns by a csv header in another order, and counts an unknown header as bad_header', async () => {
    const reordered = 'movieId,userId,timestamp,rating\n10,1,100,4.5\n';
    const { ratings } = await ingestRatings([bufferSource('a.csv', reordered)], defaults);
    expect(rows(ratings)[0].slice(0, 4)).toEqual([1, 10, 4.5, 100]);
    const bad = 'user,film,stars,when\n1,10,4.5,100\n';
    const { report } = await ingestRatings([bufferSource('b.csv', bad)], lenient);
    expect(report.files[0]).toMatchObject({ header: false, rows: 2, goodRows: 1 });
    expect(report.files[0].reasons).toEqual({ bad_header: { count: 1, lines: [1] } });
  });

  it('skips a UTF-8 byte order mark', async () => {
    const { ratings, report } = await ingestRatings(
      [bufferSource('bom.csv', '\uFEFFuserId,movieId,rating,timestamp\n1,2,3,4\n')],
      defaults,
    );
    expect(ratings.length).toBe(1);
    expect(report.files[0].header).toBe(true);
  });
});

describe('ingestRatings: lines', () => {
  it('treats a file whose first line ends in CRLF as CRLF throughout', async () => {
    const text = 'userId,movieId,rating,timestamp\r\n1,2,3,4\r\n\r\n5,6,3,7\n8,9,3,1\r\n';
    const { report } = await ingestRatings([bufferSource('w.csv', text, 3)], lenient);
    expect(report.files[0]).toMatchObject({ crlf: true, goodRows: 3, badRows: 1 });
    expect(report.files[0].reasons).toEqual({ empty_line: { count: 1, lines: [3] } });
  });

  it('counts CRs in an LF file as stray_cr', async () => {
    const text = '1,2,3,4\n5,6,3,7\r\n8,9,3\r,1\n';
    const { report } = await ingestRatings([bufferSource('u.csv', text)], lenient);
    expect(report.files[0]).toMatchObject({ crlf: false, goodRows: 1, badRows: 2 });
    expect(report.files[0].reasons).toEqual({ stray_cr: { count: 2, lines: [2, 3] } });
  });

  it('reads a last line without a newline; blank lines at the end are not rows, blank lines between rows are', async () => {
    const noNewline = await ingestRatings([bufferSource('a.csv', '1,2,3,4\n5,6,3,7')], defaults);
    expect(noNewline.report.files[0]).toMatchObject({ rows: 2, goodRows: 2, lines: 2 });
    const trailing = await ingestRatings([bufferSource('b.csv', '1,2,3,4\n\n  \n\n')], defaults);
    expect(trailing.report.files[0]).toMatchObject({ rows: 1, badRows: 0, trailingEmptyLines: 3, lines: 4 });
    const inner = await ingestRatings([bufferSource('c.csv', '1,2,3,4\n\n\t\n5,6,3,7\n')], lenient);
    expect(inner.report.files[0]).toMatchObject({ rows: 4, badRows: 2, trailingEmptyLines: 0 });
    expect(inner.report.files[0].reasons).toEqual({ empty_line: { count: 2, lines: [2, 3] } });
  });

  it('counts an over-long line once, whether it fits a chunk or spans many, without keeping its bytes', async () => {
    const long = '9'.repeat(MAX_LINE_BYTES * 3);
    const text = `1,2,3,4\n${long}\n5,6,3,7\n${long}`;
    for (const chunk of [7, 1000, 1 << 20]) {
      const { report } = await ingestRatings([bufferSource('l.csv', text, chunk)], lenient);
      expect(report.files[0]).toMatchObject({ rows: 4, goodRows: 2 });
      expect(report.files[0].reasons).toEqual({ line_too_long: { count: 2, lines: [2, 4] } });
    }
  });

  it('reports every reason with its count and first line numbers, capped per reason', async () => {
    const lines = [
      'userId,movieId,rating,timestamp',
      '1,1,4,1', // 2 ok
      '1,2', // 3 wrong_column_count
      'a,2,4,1', // 4 non_integer_id
      '1,2,x,1', // 5 bad_rating
      '1,2,9,1', // 6 rating_out_of_range
      '1,2,4,x', // 7 bad_timestamp
      '', // 8 empty_line
      '1,2,4,1\r', // 9 stray_cr
      ...Array.from({ length: 8 }, () => '1,2,3,4,5'), // 10..17 wrong_column_count
      '2,2,4,1', // 18 ok
    ];
    const { report } = await ingestRatings(
      [bufferSource('all.csv', lines.join('\n'))],
      cfg({ maxBadRowShare: 1, sampleLinesPerReason: 3 }),
    );
    expect(report.files[0].reasons).toEqual({
      empty_line: { count: 1, lines: [8] },
      stray_cr: { count: 1, lines: [9] },
      wrong_column_count: { count: 9, lines: [3, 10, 11] },
      non_integer_id: { count: 1, lines: [4] },
      bad_rating: { count: 1, lines: [5] },
      rating_out_of_range: { count: 1, lines: [6] },
      bad_timestamp: { count: 1, lines: [7] },
    });
    expect(report.reasons).toEqual({
      empty_line: 1,
      stray_cr: 1,
      wrong_column_count: 9,
      non_integer_id: 1,
      bad_rating: 1,
      rating_out_of_range: 1,
      bad_timestamp: 1,
    });
    expect(report.totals).toMatchObject({ rows: 17, goodRows: 2, badRows: 15, badShare: 15 / 17 });
    expect(report.files[0].lines).toBe(18);
  });

  it('checks ratings against the configured range', async () => {
    const text = '1\t1\t0.5\t1\n1\t2\t1\t1\n1\t3\t5\t1\n';
    const ml100k = await ingestRatings(
      [bufferSource('u.data', text)],
      cfg({ ratingMin: 1, maxBadRowShare: 1 }),
    );
    expect(ml100k.report.reasons).toEqual({ rating_out_of_range: 1 });
    expect(ml100k.report.files[0].reasons.rating_out_of_range?.lines).toEqual([1]);
    const latest = await ingestRatings([bufferSource('u.data', text)], defaults);
    expect(latest.ratings.length).toBe(3);
  });

  it('gives the same result whatever the chunk boundaries', async () => {
    const text =
      'userId,movieId,rating,timestamp\r\n' +
      Array.from({ length: 60 }, (_, i) =>
        i % 13 === 5 ? 'bad row\r\n' : `${i % 7},${i % 11},${1 + (i % 4)},${i}\r\n`,
      ).join('') +
      '\r\n';
    const reference = await ingestRatings([bufferSource('x.csv', text)], lenient);
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: text.length }), fc.boolean(), async (chunk, zip) => {
        const bytes = zip ? gzipSync(text) : Buffer.from(text);
        const result = await ingestRatings([bufferSource('x.csv', bytes, chunk)], lenient);
        expect(rows(result.ratings)).toEqual(rows(reference.ratings));
        expect({ ...result.report, files: [{ ...result.report.files[0], gzip: false }] }).toEqual(
          reference.report,
        );
      }),
      { numRuns: 60 },
    );
  });
});

describe('ingestRatings: union of batches', () => {
  it('keeps the latest rating of a repeated (user, movie) across batches', async () => {
    const first = bufferSource(
      'ratings/2024-01.csv',
      'userId,movieId,rating,timestamp\n1,10,2.0,500\n1,20,3.0,100\n2,10,4.0,100\n',
    );
    const second = bufferSource('ratings/2024-02.dat', '1::10::5::400\n1::20::1::200\n3::30::4::50\n');
    const { ratings, report } = await ingestRatings([first, second], defaults);
    expect(rows(ratings)).toEqual([
      [1, 10, 2, 500, 'ratings/2024-01.csv'], // the older upload has the later timestamp: it stays
      [1, 20, 1, 200, 'ratings/2024-02.dat'],
      [2, 10, 4, 100, 'ratings/2024-01.csv'],
      [3, 30, 4, 50, 'ratings/2024-02.dat'],
    ]);
    expect(report.totals).toMatchObject({
      files: 2,
      rows: 6,
      goodRows: 6,
      duplicatesReplaced: 2,
      ratings: 4,
    });
    expect(report.totals).toMatchObject({ distinctUsers: 3, distinctMovies: 3 });
    expect(ratings.sourceNames).toEqual(['ratings/2024-01.csv', 'ratings/2024-02.dat']);
  });

  it('breaks equal timestamps by later source, then later line', async () => {
    const a = bufferSource('a.csv', '1,10,1.0,100\n1,10,2.0,100\n');
    const b = bufferSource('b.csv', '1,10,3.0,100\n1,20,1.0,7\n');
    const c = bufferSource('c.csv', '1,20,2.0,7\n1,20,4.5,7\n');
    const { ratings } = await ingestRatings([a, b, c], defaults);
    expect(rows(ratings)).toEqual([
      [1, 10, 3, 100, 'b.csv'],
      [1, 20, 4.5, 7, 'c.csv'],
    ]);
    const within = await ingestRatings([a], defaults);
    expect(rows(within.ratings)).toEqual([[1, 10, 2, 100, 'a.csv']]);
  });

  it('de-duplicates like a reference map over many random batches', async () => {
    const row = fc.tuple(
      fc.integer({ min: 1, max: 6 }),
      fc.integer({ min: 1, max: 9 }),
      fc.integer({ min: 1, max: 10 }),
      fc.integer({ min: 0, max: 5 }),
    );
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.array(row, { maxLength: 40 }), { minLength: 1, maxLength: 4 }),
        async (batches) => {
          fc.pre(batches.some((b) => b.length > 0));
          const expected = new Map<string, [number, number, number, number, string]>();
          batches.forEach((batch, s) =>
            batch.forEach(([u, m, r, t]) => {
              const old = expected.get(`${u},${m}`);
              if (!old || t >= old[3]) expected.set(`${u},${m}`, [u, m, r / 2, t, `b${s}.csv`]);
            }),
          );
          const sources = batches.map((batch, s) =>
            bufferSource(`b${s}.csv`, batch.map((r) => `${r[0]},${r[1]},${r[2] / 2},${r[3]}\n`).join('')),
          );
          const { ratings, report } = await ingestRatings(sources, defaults);
          expect(rows(ratings)).toEqual(
            Array.from(expected.values()).sort((x, y) => x[0] - y[0] || x[1] - y[1]),
          );
          expect(report.totals.duplicatesReplaced).toBe(batches.flat().length - expected.size);
        },
      ),
      { numRuns: 100 },
    );
  });

  it('handles more distinct pairs than the initial table sizes (growth and rehash)', async () => {
    const lines: string[] = [];
    for (let u = 1; u <= 700; u++)
      for (let m = 0; m < 300; m++)
        lines.push(`${u * 3},${m * 7 + (u % 5)},${1 + ((u + m) % 9) / 2},${u + m}`);
    lines.push('3,1,5,9999'); // user 3 (u = 1) first rated movie 0 x 7 + 1 % 5 = 1: replaced after all the growth
    const { ratings, report } = await ingestRatings([bufferSource('big.csv', lines.join('\n'))], defaults);
    expect(ratings.length).toBe(700 * 300);
    expect(report.totals.duplicatesReplaced).toBe(1);
    const i = Array.from({ length: ratings.length }, (_, k) => k).find(
      (k) => ratings.users.ids[ratings.user[k]] === 3 && ratings.movies.ids[ratings.movie[k]] === 1,
    )!;
    expect([ratings.rating[i], ratings.timestamp[i]]).toEqual([5, 9999]);
  });
});

describe('ingestRatings: policy and errors', () => {
  const hundred = (bad: number): string =>
    Array.from({ length: 100 }, (_, i) => (i < bad ? `${i},x,4,1` : `${i},1,4,1`)).join('\n');

  it('drops bad rows and reports them when their share is at most maxBadRowShare', async () => {
    const { ratings, report } = await ingestRatings([bufferSource('r.csv', hundred(1))], defaults);
    expect(ratings.length).toBe(99);
    expect(report.accepted).toBe(true);
    expect(report.message).toBe(
      'accepted 99 ratings by 99 users of 1 movie from 1 file: 1 bad row dropped (1.0%: non_integer_id 1), 0 duplicates replaced',
    );
  });

  it('rejects the data set above maxBadRowShare and says why', async () => {
    const error = await rejected([bufferSource('r.csv', hundred(2))], defaults);
    expect(error.name).toBe('DataRejectedError');
    expect(error.message).toBe(
      'rejected: 2.0% of rows are bad (2 of 100), above the allowed 1.0% (maxBadRowShare); most common: non_integer_id 2',
    );
    expect(error.report.accepted).toBe(false);
    expect(error.report.files[0].reasons.non_integer_id).toEqual({ count: 2, lines: [1, 2] });
    const strict = await rejected([bufferSource('r.csv', hundred(1))], cfg({ maxBadRowShare: 0 }));
    expect(strict.message).toMatch(/^rejected: 1\.0% of rows are bad/);
  });

  it('rejects no sources, empty files and all-bad files with clear messages', async () => {
    expect((await rejected([], defaults)).message).toBe('rejected: no rating files were given');
    const empty = await rejected(
      [bufferSource('a.csv', ''), bufferSource('b.csv', 'userId,movieId,rating,timestamp\n\n')],
      defaults,
    );
    expect(empty.message).toBe('rejected: the data set has no rows (2 files, all empty)');
    expect(empty.report.totals).toMatchObject({ rows: 0, ratings: 0, distinctUsers: 0 });
    const allBad = await rejected([bufferSource('c.csv', '1,2\n3,4\n1,2,9,1\n')], lenient);
    expect(allBad.message).toBe(
      'rejected: none of the 3 rows in 1 file is valid (wrong_column_count 2, rating_out_of_range 1)',
    );
  });

  it('rejects a file that cannot be read to the end, after reading the others', async () => {
    const zipped = gzipSync('1,2,3,4\n'.repeat(1000));
    const error = await rejected(
      [
        bufferSource('ok.csv', '1,2,3,4\n'),
        bufferSource('cut.csv.gz', zipped.subarray(0, zipped.length / 2)),
        bufferSource('u16.csv', Buffer.from('\uFEFF1,2,3,4\n', 'utf16le')),
      ],
      defaults,
    );
    expect(error.message).toMatch(
      /^rejected: 2 of 3 files could not be read: cut\.csv\.gz: not a valid gzip stream .*; u16\.csv: the file is UTF-16 \(byte order mark FF FE\); save it as UTF-8$/,
    );
    expect(error.report.files.map((f) => f.error === undefined)).toEqual([true, false, false]);
  });

  it('rejects UTF-16 without a byte order mark with a clear reason, in both byte orders', async () => {
    const text = '1,2,3,4\n5,6,4,7\n';
    const le = await rejected([bufferSource('le.csv', Buffer.from(text, 'utf16le'))], defaults);
    expect(le.message).toMatch(
      /le\.csv: the file is UTF-16 \(little-endian, no byte order mark\); save it as UTF-8/,
    );
    const be = Buffer.from(text, 'utf16le').swap16();
    const bigEndian = await rejected([bufferSource('be.csv', be)], defaults);
    expect(bigEndian.message).toMatch(/be\.csv: the file is UTF-16 \(big-endian, no byte order mark\)/);
  });

  it('reads a file with CR-only line breaks as rows, not as stray CRs', async () => {
    const { ratings, report } = await ingestRatings(
      [bufferSource('mac.csv', 'userId,movieId,rating,timestamp\r1,2,3,4\r5,6,4,7\r', 5)],
      defaults,
    );
    expect(rows(ratings)).toEqual([
      [1, 2, 3, 4, 'mac.csv'],
      [5, 6, 4, 7, 'mac.csv'],
    ]);
    expect(report.files[0]).toMatchObject({ crOnly: true, crlf: false, header: true, badRows: 0 });
  });

  it('counts timestamps beyond now + maxFutureSeconds as future_timestamp', async () => {
    const now = new Date('2030-01-01T00:00:00Z');
    const nowSeconds = now.getTime() / 1000;
    const body = [
      '1,2,3,' + (nowSeconds + 3600),
      '1,3,3,' + (nowSeconds + 2 * 86_400),
      '1,4,3,32503680000',
      '1,5,3,1000',
    ];
    const { report } = await ingestRatings([bufferSource('f.csv', body.join('\n'))], lenient, { now });
    expect(report.reasons).toEqual({ future_timestamp: 2 });
    expect(report.files[0].reasons.future_timestamp?.lines).toEqual([2, 3]);
    const strict = await ingestRatings(
      [bufferSource('f.csv', body.join('\n'))],
      cfg({ maxBadRowShare: 1, maxFutureSeconds: 0 }),
      { now },
    );
    expect(strict.report.reasons).toEqual({ future_timestamp: 3 });
  });

  it('rejects a gzip file that decompresses past maxDecompressedBytes, without inflating it all', async () => {
    const bomb = gzipSync(Buffer.alloc(64 << 20, '1,2,3,4\n'), { level: 9 });
    expect(bomb.length).toBeLessThan(1 << 20);
    const error = await rejected([bufferSource('bomb.csv.gz', bomb)], cfg({ maxDecompressedBytes: 1 << 20 }));
    expect(error.message).toMatch(
      /bomb\.csv\.gz: decompresses to more than 1,048,576 bytes \(ml\.ingest\.maxDecompressedBytes\)/,
    );
    expect(error.report.files[0].bytes).toBeLessThanOrEqual(1 << 20);
  });

  it('writes a report that survives JSON', async () => {
    const { report } = await ingestRatings([bufferSource('r.csv', hundred(1))], defaults);
    const copy: ValidationReport = JSON.parse(JSON.stringify(report));
    expect(copy).toEqual(report);
  });

  it('calls onProgress with the final row count', async () => {
    const seen: number[] = [];
    await ingestRatings([bufferSource('r.csv', hundred(0)), bufferSource('s.csv', hundred(0))], defaults, {
      onProgress: (n) => seen.push(n),
    });
    expect(seen[seen.length - 1]).toBe(200);
  });

  it('passes I/O errors of a source through unchanged', async () => {
    const failing: RatingSource = {
      name: 'flaky.csv',
      open: async () => {
        throw new Error('AccessDenied');
      },
    };
    await expect(ingestRatings([failing], defaults)).rejects.toThrow('AccessDenied');
  });
});
