import fc from 'fast-check';
import {
  BAD_ROW_REASONS,
  type BadRowReason,
  classifyLine,
  formatFromLine,
  formatFromName,
  looksLikeHeader,
  MAX_LINE_BYTES,
  parseHeader,
  parseRatingLine,
  type RatingFormat,
  SEPARATORS,
} from '../../../functions/core/ingest/formats';

const range = { ratingMin: 0.5, ratingMax: 5 };
const FORMATS: RatingFormat[] = ['u.data', 'ratings.dat', 'ratings.csv'];

describe('parseRatingLine', () => {
  it.each([
    ['u.data', '196\t242\t3\t881250949', [196, 242, 3, 881250949]],
    ['ratings.dat', '1::1193::5::978300760', [1, 1193, 5, 978300760]],
    ['ratings.csv', '1,1,4.0,964982703', [1, 1, 4, 964982703]],
    ['ratings.csv', '610,170875,3.5,1493846415', [610, 170875, 3.5, 1493846415]],
    ['ratings.csv', ' 7 , 8 , .5 , 12.25 ', [7, 8, 0.5, 12.25]],
    ['ratings.csv', '007,0,5.,0', [7, 0, 5, 0]],
    ['ratings.csv', '1,2,+4.5,3', [1, 2, 4.5, 3]],
    ['ratings.csv', '1,2,45e-1,3', [1, 2, 4.5, 3]],
    ['ratings.csv', '15999999,1,1,1', [15_999_999, 1, 1, 1]],
  ] as const)('parses a good %s row: %j', (format, line, [userId, movieId, rating, timestamp]) => {
    expect(parseRatingLine(line, format, range)).toEqual({ ok: true, userId, movieId, rating, timestamp });
  });

  it.each([
    ['', 'empty_line'],
    ['   \t ', 'empty_line'],
    ['1,2,3,4\r', 'stray_cr'],
    ['1,2\r,3,4', 'stray_cr'],
    ['\r', 'stray_cr'],
    [`1,2,3,${'4'.repeat(MAX_LINE_BYTES)}`, 'line_too_long'],
    ['1,2,3', 'wrong_column_count'],
    ['1,2,3,4,5', 'wrong_column_count'],
    ['1\t2\t3\t4', 'wrong_column_count'],
    ['x,2,3,4', 'non_integer_id'],
    ['1,2.5,3,4', 'non_integer_id'],
    ['-1,2,3,4', 'non_integer_id'],
    ['16000000,2,3,4', 'id_out_of_range'],
    ['1,99999999999,3,4', 'id_out_of_range'],
    [',2,3,4', 'non_integer_id'],
    [`${2 ** 31},2,3,4`, 'id_out_of_range'],
    ['1,x,9,bad', 'non_integer_id'],
    ['1,2,,4', 'bad_rating'],
    ['1,2,four,4', 'bad_rating'],
    ['1,2,NaN,4', 'bad_rating'],
    ['1,2,Infinity,4', 'bad_rating'],
    ['1,2,1e999,4', 'bad_rating'],
    ['1,2,0.4,4', 'rating_out_of_range'],
    ['1,2,5.5,4', 'rating_out_of_range'],
    ['1,2,-3,bad', 'rating_out_of_range'],
    ['1,2,3,', 'bad_timestamp'],
    ['1,2,3,2020-01-01', 'bad_timestamp'],
    ['1,2,3,-5', 'bad_timestamp'],
    ['1,2,3,1e9', 'bad_timestamp'],
    ['1,2,3,12.', 'bad_timestamp'],
    ['1,2,3,.5', 'bad_timestamp'],
  ] as const)('classifies %j as %s', (line, reason) => {
    expect(parseRatingLine(line, 'ratings.csv', range)).toEqual({ ok: false, reason });
  });

  it('classifies a timestamp after maxTimestamp as future_timestamp, on the fast and the slow path', () => {
    const opts = { ...range, maxTimestamp: 2_000_000_000 };
    expect(parseRatingLine('1,2,3,2000000000', 'ratings.csv', opts)).toMatchObject({ ok: true });
    expect(parseRatingLine('1,2,3,2000000001', 'ratings.csv', opts)).toEqual({
      ok: false,
      reason: 'future_timestamp',
    });
    expect(parseRatingLine(' 1 , 2 , 3 , 32503680000 ', 'ratings.csv', opts)).toEqual({
      ok: false,
      reason: 'future_timestamp',
    });
    // Precedence: a bad rating is reported before a future timestamp.
    expect(parseRatingLine('1,2,9,32503680000', 'ratings.csv', opts)).toEqual({
      ok: false,
      reason: 'rating_out_of_range',
    });
  });

  it('reads the columns in the order a header gave', () => {
    const order = parseHeader('movieId,timestamp,userId,rating', 'ratings.csv');
    expect(parseRatingLine('10,99,3,4.5', 'ratings.csv', { ...range, order })).toEqual({
      ok: true,
      userId: 3,
      movieId: 10,
      rating: 4.5,
      timestamp: 99,
    });
    expect(parseRatingLine('10,99,3.5,4.5', 'ratings.csv', { ...range, order })).toEqual({
      ok: false,
      reason: 'non_integer_id',
    });
  });

  it('accepts bytes as well as strings', () => {
    const bytes = Buffer.from('xx1::2::3::4yy', 'latin1');
    expect(parseRatingLine(bytes.subarray(2, 12), 'ratings.dat', range)).toMatchObject({
      ok: true,
      timestamp: 4,
    });
  });

  it('never throws and always gives a known reason, for any line in any format', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...FORMATS),
        fc.string({ unit: fc.constantFrom(...'0123456789.,:\t \r-+eE5xN'.split('')), maxLength: 40 }),
        (format, line) => {
          const result = parseRatingLine(line, format, range);
          if (!result.ok) expect(BAD_ROW_REASONS).toContain(result.reason);
        },
      ),
      { numRuns: 3000 },
    );
    fc.assert(
      fc.property(
        fc.constantFrom(...FORMATS),
        fc.string({ unit: 'binary', maxLength: 60 }),
        (format, line) => {
          expect(() => parseRatingLine(line, format, range)).not.toThrow();
        },
      ),
    );
  });

  it('fast path agrees with the reference classification on every line', () => {
    const anyLine = fc.string({ unit: fc.constantFrom(...'0123456789.,:\t -+e'.split('')), maxLength: 40 });
    // Near-valid lines: 3 to 5 numeric-looking fields, so the fast path accepts a good share of them.
    const field = fc.string({
      unit: fc.constantFrom(...'0123456789. '.split('')),
      minLength: 0,
      maxLength: 18,
    });
    const nearValid = (format: RatingFormat) =>
      fc.array(field, { minLength: 3, maxLength: 5 }).map((fields) => fields.join(SEPARATORS[format]));
    fc.assert(
      fc.property(
        fc
          .constantFrom(...FORMATS)
          .chain((format) => fc.tuple(fc.constant(format), fc.oneof(anyLine, nearValid(format)))),
        ([format, line]) => {
          expect(parseRatingLine(line, format, range)).toEqual(classifyLine(line, format, range));
        },
      ),
      { numRuns: 10000 },
    );
  });

  it('parses every well-formed row exactly, with spaces around fields', () => {
    const row = fc.record({
      format: fc.constantFrom(...FORMATS),
      userId: fc.integer({ min: 0, max: 15_999_999 }),
      movieId: fc.integer({ min: 0, max: 15_999_999 }),
      halfStars: fc.integer({ min: 1, max: 10 }),
      timestamp: fc.integer({ min: 0, max: 2 ** 40 }),
      pad: fc.array(fc.constantFrom('', ' ', '  '), { minLength: 8, maxLength: 8 }),
    });
    fc.assert(
      fc.property(row, ({ format, userId, movieId, halfStars, timestamp, pad }) => {
        const rating = halfStars / 2;
        const fields = [userId, movieId, rating.toFixed(1), timestamp].map(
          (f, i) => `${pad[2 * i]}${f}${pad[2 * i + 1]}`,
        );
        const line = fields.join(SEPARATORS[format]);
        expect(parseRatingLine(line, format, range)).toEqual({
          ok: true,
          userId,
          movieId,
          rating,
          timestamp,
        });
      }),
    );
  });

  it('gives each defect its reason, in precedence order', () => {
    // GIVEN rows built from fields with known defects, WHEN parsed, THEN the first applicable reason wins.
    const id = fc.oneof(
      fc.integer({ min: 0, max: 999999 }).map((v) => ({ text: String(v), bad: false as const })),
      fc.constantFrom('1.5', 'a', '', '-2', '1e3').map((text) => ({ text, bad: true as const })),
      fc.constantFrom('16000000', '4294967296').map((text) => ({ text, bad: 'range' as const })),
    );
    const rating = fc.oneof(
      fc.integer({ min: 1, max: 10 }).map((v) => ({ text: (v / 2).toString(), kind: 'ok' })),
      fc.constantFrom('0', '5.5', '-1', '10').map((text) => ({ text, kind: 'range' })),
      fc.constantFrom('', 'x', 'NaN', '4..5', '--1').map((text) => ({ text, kind: 'bad' })),
    );
    const ts = fc.oneof(
      fc.integer({ min: 0, max: 2e9 }).map((v) => ({ text: String(v), bad: false })),
      fc.constantFrom('', 'x', '-1', '1.', '2e9').map((text) => ({ text, bad: true })),
    );
    fc.assert(
      fc.property(
        fc.constantFrom(...FORMATS),
        id,
        id,
        rating,
        ts,
        fc.constantFrom(3, 4, 5),
        (format, user, movie, r, t, columns) => {
          const all = [user.text, movie.text, r.text, t.text, '7'].slice(0, columns);
          const line = all.join(SEPARATORS[format]);
          let expected: BadRowReason | null = null;
          if (line.trim() === '') expected = 'empty_line';
          else if (columns !== 4) expected = 'wrong_column_count';
          else if (user.bad === true || movie.bad === true) expected = 'non_integer_id';
          else if (user.bad || movie.bad) expected = 'id_out_of_range';
          else if (r.kind === 'bad') expected = 'bad_rating';
          else if (r.kind === 'range') expected = 'rating_out_of_range';
          else if (t.bad) expected = 'bad_timestamp';
          const result = parseRatingLine(line, format, range);
          if (expected === null) expect(result.ok).toBe(true);
          else expect(result).toEqual({ ok: false, reason: expected });
        },
      ),
      { numRuns: 2000 },
    );
  });
});

describe('format detection', () => {
  it.each([
    ['u.data', 'u.data'],
    ['ml-100k/ua.base', 'u.data'],
    ['ua.test.gz', 'u.data'],
    ['u1.base', 'u.data'],
    ['ratings.tsv', 'u.data'],
    ['ml-1m/ratings.dat', 'ratings.dat'],
    ['RATINGS.DAT.GZ', 'ratings.dat'],
    ['ratings/2024-05-01.csv', 'ratings.csv'],
    ['x.csv.gzip', 'ratings.csv'],
    ['ratings', undefined],
    ['ratings.json', undefined],
  ])('names %s as %s', (name, format) => {
    expect(formatFromName(name)).toBe(format);
  });

  it('reads the separator from a line', () => {
    expect(formatFromLine('1::2::3::4')).toBe('ratings.dat');
    expect(formatFromLine('1\t2\t3\t4')).toBe('u.data');
    expect(formatFromLine('userId,movieId,rating,timestamp')).toBe('ratings.csv');
    expect(formatFromLine('1 2 3 4')).toBeUndefined();
  });

  it('recognises headers in any column order and case, and rejects the rest', () => {
    expect(looksLikeHeader('userId,movieId,rating,timestamp')).toBe(true);
    expect(looksLikeHeader('\uFEFF"userId",x')).toBe(true);
    expect(looksLikeHeader('1,2,3,4')).toBe(false);
    expect(looksLikeHeader('-1,2,3,4')).toBe(false);
    expect(looksLikeHeader('  ')).toBe(false);
    expect(parseHeader('userId,movieId,rating,timestamp', 'ratings.csv')).toEqual([
      'userId',
      'movieId',
      'rating',
      'timestamp',
    ]);
    expect(parseHeader('"USER_ID" , item , Rating , timestamp\r', 'ratings.csv')).toEqual([
      'userId',
      'movieId',
      'rating',
      'timestamp',
    ]);
    expect(parseHeader('user\titem\trating\ttimestamp', 'u.data')).toEqual([
      'userId',
      'movieId',
      'rating',
      'timestamp',
    ]);
    expect(parseHeader('userId,userId,rating,timestamp', 'ratings.csv')).toBeUndefined();
    expect(parseHeader('userId,movieId,rating', 'ratings.csv')).toBeUndefined();
    expect(parseHeader('userId,movieId,stars,timestamp', 'ratings.csv')).toBeUndefined();
  });
});
