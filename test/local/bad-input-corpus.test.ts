/**
 * The bad-input corpus of `reelflow prepare`: every case builds its input in a temp folder (nothing
 * binary is committed), runs the real command function in-process, and checks the exit code (0 ok,
 * 1 error, 2 data rejected) and the reason: the validation report's message for 0 and 2 (also written
 * as `validation.json`), the one-line error for 1. No case may throw, print a stack trace or hang.
 *
 * Cases that need what the machine may not offer are skipped, and say why in the table:
 * `unreadable` ones when running as root (root reads every file), FIFOs without `mkfifo`, the
 * kernel's ENOSPC without /dev/full (an injected failing stream covers ENOSPC everywhere).
 */
import { execFileSync } from 'node:child_process';
import { createWriteStream, existsSync, type WriteStream } from 'node:fs';
import { chmod, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { prepareCommand } from '../../local/prepare-command';

const NOW = new Date('2026-01-01T00:00:00Z');
const NOW_S = NOW.getTime() / 1000;
const CASE_TIMEOUT_MS = 15_000;
const IS_ROOT = process.getuid?.() === 0;
/** coreutils' mkfifo (Node has no API for FIFOs). */
const MKFIFO = ['/usr/bin/mkfifo', '/bin/mkfifo'].find((path) => existsSync(path));
const HAS_MKFIFO = MKFIFO !== undefined;
const HAS_DEV_FULL = existsSync('/dev/full');
/** Small enough that the gzip bomb stops within milliseconds. */
const MAX_DECOMPRESSED = 4 << 20;

/** `users` users x `perUser` ratings of distinct movies, as rows without a header. */
function rows(users = 20, perUser = 10, sep = ','): string[] {
  const out: string[] = [];
  for (let u = 1; u <= users; u++) {
    for (let i = 0; i < perUser; i++) {
      out.push([u, 1 + ((u * 7 + i * 3) % 60), 1 + ((u + i) % 5), 1_000_000_000 + u * 100 + i].join(sep));
    }
  }
  return out;
}
const lines = (list: string[], eol = '\n'): string => list.map((l) => l + eol).join('');
const HEADER = 'userId,movieId,rating,timestamp';
const goodCsv = (): string => lines([HEADER, ...rows()]);
/** 200 good rows with every 10th replaced by `bad(i)`: 10% bad, far above the 1% allowed. */
const tenPercent = (bad: (i: number) => string): string =>
  lines([HEADER, ...rows().map((r, i) => (i % 10 === 0 ? bad(i) : r))]);
/** 200 good rows and one bad one: 0.5% bad, within the 1% allowed. */
const oneBad = (bad: string): string => lines([HEADER, ...rows().slice(0, 100), bad, ...rows().slice(100)]);

function randomBytes(n: number, seed: number): Buffer {
  const out = Buffer.alloc(n);
  let x = seed;
  for (let i = 0; i < n; i++) {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
}

let bomb: Buffer | undefined;
/** ~32 MiB of rows in a few tens of KB. */
const gzipBomb = (): Buffer =>
  (bomb ??= gzipSync(Buffer.alloc(32 << 20, '1,1,4,1000000000\n'), { level: 9 }));

interface Setup {
  /** Relative to the case folder unless absolute. */
  data?: string;
  out?: string;
  /** `ml` overrides, merged over the corpus defaults. */
  ml?: Record<string, unknown>;
  format?: string;
  openWriteStream?: (file: string) => WriteStream;
}

interface Case {
  name: string;
  /** Writes the input under `dir`; returns where the command reads and writes. */
  make: (dir: string) => Promise<Setup | void>;
  exit: 0 | 1 | 2;
  reason: RegExp;
  /** Why the case cannot run here (it is listed, and skipped). */
  skip?: string | false;
}

const file =
  (name: string, body: string | Buffer, setup: Setup = {}) =>
  async (dir: string): Promise<Setup> => {
    await writeFile(join(dir, name), body);
    return { data: name, ...setup };
  };
const files =
  (entries: Record<string, string | Buffer>, setup: Setup = {}) =>
  async (dir: string): Promise<Setup> => {
    await mkdir(join(dir, 'data'));
    for (const [name, body] of Object.entries(entries)) {
      await mkdir(join(dir, 'data', name, '..'), { recursive: true });
      await writeFile(join(dir, 'data', name), body);
    }
    return { data: 'data', ...setup };
  };
const mkfifo = (path: string): void => {
  execFileSync(MKFIFO!, [path]);
};

/** A write stream whose writes fail with ENOSPC after a short delay (while the writer waits for drain). */
function fullDisk(file: string): WriteStream {
  const stream = createWriteStream(file, { highWaterMark: 16 });
  stream._write = (_chunk, _encoding, callback) => {
    setTimeout(
      () => callback(Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' })),
      2,
    );
  };
  return stream;
}

const ACCEPTED = /^accepted \d+ ratings/;

const CASES: Case[] = [
  // Good input, in every accepted shape: exit 0.
  {
    name: 'good ratings.csv',
    make: file('ratings.csv', goodCsv()),
    exit: 0,
    reason: /^accepted 200 ratings by 20 users/,
  },
  { name: 'good u.data (tab)', make: file('u.data', lines(rows(20, 10, '\t'))), exit: 0, reason: ACCEPTED },
  {
    name: 'good ratings.dat (::)',
    make: file('ratings.dat', lines(rows(20, 10, '::'))),
    exit: 0,
    reason: ACCEPTED,
  },
  { name: 'gzipped csv', make: file('ratings.csv.gz', gzipSync(goodCsv())), exit: 0, reason: ACCEPTED },
  {
    name: 'gzip without .gz name',
    make: file('ratings.csv', gzipSync(goodCsv())),
    exit: 0,
    reason: ACCEPTED,
  },
  {
    name: 'concatenated gzip members',
    make: file(
      'r.csv.gz',
      Buffer.concat([gzipSync(lines(rows().slice(0, 100))), gzipSync(lines(rows().slice(100)))]),
    ),
    exit: 0,
    reason: /^accepted 200 ratings/,
  },
  { name: 'UTF-8 BOM', make: file('r.csv', `\uFEFF${goodCsv()}`), exit: 0, reason: ACCEPTED },
  {
    name: 'CRLF',
    make: file('r.csv', lines([HEADER, ...rows()], '\r\n')),
    exit: 0,
    reason: /^accepted 200 ratings/,
  },
  {
    name: 'CR-only line ends',
    make: file('r.csv', lines([HEADER, ...rows()], '\r')),
    exit: 0,
    reason: /^accepted 200 ratings/,
  },
  {
    name: 'header in another order',
    make: file(
      'r.csv',
      lines([
        'movieId,userId,timestamp,rating',
        ...rows()
          .map((r) => r.split(','))
          .map(([u, m, ra, t]) => [m, u, t, ra].join(',')),
      ]),
    ),
    exit: 0,
    reason: /^accepted 200 ratings/,
  },
  {
    name: 'spaces around fields',
    make: file('r.csv', lines(rows().map((r) => r.replace(/,/g, ' , ')))),
    exit: 0,
    reason: ACCEPTED,
  },
  {
    name: 'no newline at the end',
    make: file('r.csv', goodCsv().trimEnd()),
    exit: 0,
    reason: /^accepted 200 ratings/,
  },
  {
    name: 'trailing blank lines',
    make: file('r.csv', `${goodCsv()}\n\n  \n`),
    exit: 0,
    reason: /0 bad rows dropped/,
  },
  {
    name: 'duplicate rows',
    make: file('r.csv', goodCsv() + lines(rows())),
    exit: 0,
    reason: /200 duplicates replaced/,
  },
  {
    name: 'one user',
    make: file('r.csv', lines(rows(1, 20))),
    exit: 0,
    reason: /^accepted 20 ratings by 1 user of/,
  },
  {
    name: 'one bad row within maxBadRowShare',
    make: file('r.csv', oneBad('1,2,NaN,3')),
    exit: 0,
    reason: /1 bad row dropped \(0\.50%: bad_rating 1\)/,
  },
  {
    name: 'future timestamp within tolerance',
    make: file('r.csv', oneBad(`99,1,4,${NOW_S + 3600}`)),
    exit: 0,
    reason: /0 bad rows dropped/,
  },
  {
    name: 'one future timestamp dropped',
    make: file('r.csv', oneBad('99,1,4,32503680000')),
    exit: 0,
    reason: /future_timestamp 1/,
  },
  {
    name: 'bad header line dropped',
    make: file('r.csv', lines(['foo,bar,baz,qux', ...rows()])),
    exit: 0,
    reason: /bad_header 1/,
  },
  {
    name: '10 MB line among good rows',
    make: file('r.csv', oneBad('1'.repeat(10 << 20))),
    exit: 0,
    reason: /line_too_long 1/,
  },
  {
    name: 'MovieLens folder: ratings.csv + movies.csv',
    make: files({
      'ratings.csv': goodCsv(),
      'movies.csv': 'movieId,title,genres\n1,Toy Story (1995),Comedy\n',
    }),
    exit: 0,
    reason: /from 1 file/,
  },
  {
    name: 'folder with a FIFO next to the ratings',
    make: async (dir) => {
      const setup = await files({ 'ratings.csv': goodCsv() })(dir);
      mkfifo(join(dir, 'data', 'pipe.csv'));
      return setup;
    },
    exit: 0,
    reason: /from 1 file/,
    skip: !HAS_MKFIFO && 'no mkfifo on this machine',
  },

  // Data rejected: exit 2, validation.json accepted false with the reason.
  { name: 'empty file', make: file('r.csv', ''), exit: 2, reason: /no rows/ },
  { name: 'header only', make: file('r.csv', `${HEADER}\n`), exit: 2, reason: /no rows/ },
  { name: 'header only, CRLF', make: file('r.csv', `${HEADER}\r\n`), exit: 2, reason: /no rows/ },
  { name: 'blank lines only', make: file('r.csv', '\n\n \n\t\n'), exit: 2, reason: /no rows/ },
  {
    name: 'binary garbage',
    make: file('r.csv', randomBytes(200_000, 7)),
    exit: 2,
    reason: /none of the [\d,]+ rows in 1 file is valid/,
  },
  {
    name: 'NUL bytes',
    make: file('r.csv', Buffer.from(goodCsv().replace(/,/g, '\0'))),
    exit: 2,
    reason: /none of the .* rows .* is valid \(wrong_column_count/,
  },
  {
    name: 'semicolon delimiter',
    make: file('r.csv', lines(rows().map((r) => r.replace(/,/g, ';')))),
    exit: 2,
    reason: /wrong_column_count 200/,
  },
  {
    name: 'pipe delimiter',
    make: file('r.csv', lines(rows().map((r) => r.replace(/,/g, '|')))),
    exit: 2,
    reason: /wrong_column_count 200/,
  },
  {
    name: 'mixed delimiters',
    make: file('r.csv', lines(rows().map((r, i) => (i % 2 ? r.replace(/,/g, '\t') : r)))),
    exit: 2,
    reason: /50% of rows are bad.*wrong_column_count 100/,
  },
  {
    name: 'too few columns',
    make: file('r.csv', lines(rows().map((r) => r.replace(/,\d+$/, '')))),
    exit: 2,
    reason: /wrong_column_count 200/,
  },
  {
    name: 'too many columns',
    make: file('r.csv', lines(rows().map((r) => `${r},x`))),
    exit: 2,
    reason: /wrong_column_count 200/,
  },
  {
    name: 'quoted fields',
    make: file('r.csv', lines(rows().map((r) => r.replace(/(\d+)/g, '"$1"')))),
    exit: 2,
    reason: /non_integer_id 199, bad_header 1/,
  },
  {
    name: 'NaN rating',
    make: file(
      'r.csv',
      tenPercent((i) => `1,${i},NaN,1`),
    ),
    exit: 2,
    reason: /10% of rows are bad.*bad_rating 20/,
  },
  {
    name: 'empty rating',
    make: file(
      'r.csv',
      tenPercent((i) => `1,${i},,1`),
    ),
    exit: 2,
    reason: /bad_rating 20/,
  },
  {
    name: 'rating out of range',
    make: file(
      'r.csv',
      tenPercent((i) => `1,${i},10,1`),
    ),
    exit: 2,
    reason: /rating_out_of_range 20/,
  },
  {
    name: 'huge ids',
    make: file(
      'r.csv',
      tenPercent((i) => `${2 ** 53},${i},4,1`),
    ),
    exit: 2,
    reason: /id_out_of_range 20/,
  },
  {
    name: 'ids above the limit',
    make: file(
      'r.csv',
      tenPercent((i) => `1,${16_000_000 + i},4,1`),
    ),
    exit: 2,
    reason: /id_out_of_range 20/,
  },
  {
    name: 'negative ids',
    make: file(
      'r.csv',
      tenPercent((i) => `-1,${i},4,1`),
    ),
    exit: 2,
    reason: /non_integer_id 20/,
  },
  {
    name: 'decimal ids',
    make: file(
      'r.csv',
      tenPercent((i) => `1.5,${i},4,1`),
    ),
    exit: 2,
    reason: /non_integer_id 20/,
  },
  {
    name: 'dates as timestamps',
    make: file(
      'r.csv',
      tenPercent((i) => `1,${i},4,2024-05-01`),
    ),
    exit: 2,
    reason: /bad_timestamp 20/,
  },
  {
    name: 'negative timestamps',
    make: file(
      'r.csv',
      tenPercent((i) => `1,${i},4,-5`),
    ),
    exit: 2,
    reason: /bad_timestamp 20/,
  },
  {
    name: 'future timestamps (year 3000)',
    make: file(
      'r.csv',
      tenPercent((i) => `1,${i},4,32503680000`),
    ),
    exit: 2,
    reason: /future_timestamp 20/,
  },
  {
    name: 'future timestamps beyond a 0 s tolerance',
    make: file(
      'r.csv',
      tenPercent((i) => `1,${i},4,${NOW_S + 1}`),
      { ml: { ingest: { maxFutureSeconds: 0 } } },
    ),
    exit: 2,
    reason: /future_timestamp 20/,
  },
  {
    name: 'stray CRs',
    make: file(
      'r.csv',
      tenPercent((i) => `1,${i},4\r,1`),
    ),
    exit: 2,
    reason: /stray_cr 20/,
  },
  {
    name: 'blank lines between rows',
    make: file(
      'r.csv',
      tenPercent(() => ''),
    ),
    exit: 2,
    reason: /empty_line 20/,
  },
  {
    name: 'a single 10 MB line',
    make: file('r.csv', '7'.repeat(10 << 20)),
    exit: 2,
    reason: /none of the 1 rows .*line_too_long 1/,
  },
  {
    name: 'truncated gzip',
    make: file('r.csv.gz', gzipSync(goodCsv()).subarray(0, 200)),
    exit: 2,
    reason: /r\.csv\.gz: not a valid gzip stream/,
  },
  {
    name: 'corrupt gzip (bytes flipped)',
    make: file(
      'r.csv.gz',
      (() => {
        const z = gzipSync(goodCsv());
        for (let i = 20; i < 60; i++) z[i] ^= 0xff;
        return z;
      })(),
    ),
    exit: 2,
    reason: /not a valid gzip stream/,
  },
  {
    name: 'gzip magic only',
    make: file('r.csv', Buffer.from([0x1f, 0x8b])),
    exit: 2,
    reason: /not a valid gzip stream/,
  },
  { name: 'gzip of nothing', make: file('r.csv.gz', gzipSync('')), exit: 2, reason: /no rows/ },
  {
    name: 'gzip bomb',
    make: async (dir) => file('bomb.csv.gz', gzipBomb())(dir),
    exit: 2,
    reason: /bomb\.csv\.gz: decompresses to more than 4,194,304 bytes \(ml\.ingest\.maxDecompressedBytes\)/,
  },
  {
    name: 'UTF-16 LE, no BOM',
    make: file('r.csv', Buffer.from(goodCsv(), 'utf16le')),
    exit: 2,
    reason: /the file is UTF-16 \(little-endian, no byte order mark\); save it as UTF-8/,
  },
  {
    name: 'UTF-16 BE, no BOM',
    make: file('r.csv', Buffer.from(goodCsv(), 'utf16le').swap16()),
    exit: 2,
    reason: /the file is UTF-16 \(big-endian, no byte order mark\); save it as UTF-8/,
  },
  {
    name: 'UTF-16 LE with BOM',
    make: file('r.csv', Buffer.from(`\uFEFF${goodCsv()}`, 'utf16le')),
    exit: 2,
    reason: /the file is UTF-16 \(byte order mark FF FE\); save it as UTF-8/,
  },
  {
    name: 'UTF-16 BE with BOM',
    make: file('r.csv', Buffer.from(`\uFEFF${goodCsv()}`, 'utf16le').swap16()),
    exit: 2,
    reason: /UTF-16 \(byte order mark FE FF\)/,
  },
  {
    name: 'gzipped UTF-16',
    make: file('r.csv.gz', gzipSync(Buffer.from(goodCsv(), 'utf16le'))),
    exit: 2,
    reason: /UTF-16.*save it as UTF-8/,
  },
  {
    name: 'one row',
    make: file('r.csv', '1,2,4,1000000000\n'),
    exit: 2,
    reason: /only rating is of one movie \(id 2\)/,
  },
  {
    name: 'one movie',
    make: file('r.csv', lines(rows().map((r) => r.replace(/^(\d+),\d+,/, '$1,5,')))),
    exit: 2,
    reason: /20 ratings are all of one movie \(id 5\)/,
  },
  {
    name: 'one pair, repeated',
    make: file('r.csv', lines(Array.from({ length: 50 }, (_, i) => `1,1,4,${1e9 + i}`))),
    exit: 2,
    reason: /only rating is of one movie/,
  },
  {
    name: 'no user with enough history',
    make: file('r.csv', lines(rows(30, 3))),
    exit: 2,
    reason: /cannot be split for evaluation: the temporal-per-user split left no test ratings/,
  },
  {
    name: 'global-time cut-off after all ratings',
    make: file('r.csv', goodCsv(), {
      ml: { split: { mode: 'global-time', cutoffTimestamp: 2_000_000_000 } },
    }),
    exit: 2,
    reason: /cannot be split for evaluation: the global-time split left no test ratings/,
  },
  {
    name: '--format override that does not fit',
    make: file('r.csv', goodCsv(), { format: 'u.data' }),
    exit: 2,
    reason: /wrong_column_count/,
  },
  {
    name: 'folder of batches: good + garbage',
    make: files({ 'a.csv': goodCsv(), 'b.csv': randomBytes(50_000, 3) }),
    exit: 2,
    reason: /of rows are bad/,
  },
  {
    name: 'folder of batches: good + truncated gzip',
    make: files({ 'a.csv': goodCsv(), 'b.csv.gz': gzipSync(goodCsv()).subarray(0, 100) }),
    exit: 2,
    reason: /1 of 2 files could not be read: b\.csv\.gz: not a valid gzip stream/,
  },
  {
    name: 'folder without a ratings file (movies.csv only)',
    make: files({ 'movies.csv': 'movieId,title,genres\n1,Toy Story (1995),Comedy\n2,Heat (1995),Action\n' }),
    exit: 2,
    reason: /none of the 3 rows in 1 file is valid/,
  },

  // Errors: exit 1, one line naming the path.
  {
    name: 'missing --data',
    make: async () => ({ data: 'nope.csv' }),
    exit: 1,
    reason: /--data .*nope\.csv: no such file or folder \(ENOENT\)/,
  },
  {
    name: 'empty folder',
    make: async (dir) => {
      await mkdir(join(dir, 'data'));
      return { data: 'data' };
    },
    exit: 1,
    reason: /the folder holds no files/,
  },
  {
    name: 'symlink loop as --data',
    make: async (dir) => {
      await symlink(join(dir, 'loop.csv'), join(dir, 'loop.csv'));
      return { data: 'loop.csv' };
    },
    exit: 1,
    reason: /loop\.csv: too many levels of symbolic links .*\(ELOOP\)/,
  },
  {
    name: 'symlink loop, folder holds nothing else',
    make: async (dir) => {
      await mkdir(join(dir, 'data'));
      await symlink(join(dir, 'data', 'a'), join(dir, 'data', 'b'));
      await symlink(join(dir, 'data', 'b'), join(dir, 'data', 'a'));
      return { data: 'data' };
    },
    exit: 1,
    reason: /holds no files/,
  },
  {
    name: 'FIFO as --data',
    make: async (dir) => {
      mkfifo(join(dir, 'pipe.csv'));
      return { data: 'pipe.csv' };
    },
    exit: 1,
    reason: /pipe\.csv: is a FIFO \(named pipe\), not a regular file or folder/,
    skip: !HAS_MKFIFO && 'no mkfifo on this machine',
  },
  {
    name: 'character device as --data',
    make: async () => ({ data: '/dev/null' }),
    exit: 1,
    reason: /\/dev\/null: is a device, not a regular file/,
  },
  {
    name: 'unreadable file',
    make: async (dir) => {
      await writeFile(join(dir, 'r.csv'), goodCsv());
      await chmod(join(dir, 'r.csv'), 0);
      return { data: 'r.csv' };
    },
    exit: 1,
    reason: /r\.csv: cannot read: permission denied \(EACCES\)/,
    skip: IS_ROOT && 'running as root: root reads every file',
  },
  {
    name: 'unreadable subfolder',
    make: async (dir) => {
      const setup = await files({ 'a/r.csv': goodCsv(), 'b/r.csv': goodCsv() })(dir);
      await chmod(join(dir, 'data', 'b'), 0);
      return setup;
    },
    exit: 1,
    reason: /EACCES.*data\/b/,
    skip: IS_ROOT && 'running as root: root reads every folder',
  },
  {
    name: '--out on /proc',
    make: file('r.csv', goodCsv(), { out: '/proc/reelflow-corpus/out' }),
    exit: 1,
    reason: /--out \/proc\/reelflow-corpus\/out: cannot create the folder: no such file or folder \(ENOENT\)/,
  },
  {
    name: '--out is a file',
    make: async (dir) => {
      await writeFile(join(dir, 'out'), 'x');
      return file('r.csv', goodCsv())(dir);
    },
    exit: 1,
    reason: /--out .*\/out: cannot create the folder: .*\(ENOTDIR\)/,
  },
  {
    name: '--out below a file (ENOTDIR)',
    make: async (dir) => {
      await writeFile(join(dir, 'f'), 'x');
      return file('r.csv', goodCsv(), { out: join(dir, 'f', 'out') })(dir);
    },
    exit: 1,
    reason: /--out .*\/f\/out: cannot create the folder: .*\(ENOTDIR\)/,
  },
  {
    name: 'validation.json is a folder (EISDIR)',
    make: async (dir) => {
      await mkdir(join(dir, 'out', 'validation.json'), { recursive: true });
      return file('r.csv', goodCsv())(dir);
    },
    exit: 1,
    reason: /validation\.json: cannot write: is a folder, not a file \(EISDIR\)/,
  },
  {
    name: 'split/ is a file (ENOTDIR while writing)',
    make: async (dir) => {
      await mkdir(join(dir, 'out'));
      await writeFile(join(dir, 'out', 'split'), 'x');
      return file('r.csv', goodCsv())(dir);
    },
    exit: 1,
    reason: /out\/split: cannot create the folder: .*\(ENOTDIR\)/,
  },
  {
    name: 'disk full while streaming (injected ENOSPC)',
    make: file('r.csv', goodCsv(), { openWriteStream: fullDisk }),
    exit: 1,
    reason: /out\/split\/train\.csv: cannot write: no space left on device \(ENOSPC\)/,
  },
  {
    name: 'disk full while streaming (/dev/full)',
    make: async (dir) => {
      await mkdir(join(dir, 'out', 'train'), { recursive: true });
      await symlink('/dev/full', join(dir, 'out', 'train', 'part-00000.recordio'));
      return file('r.csv', goodCsv())(dir);
    },
    exit: 1,
    reason: /out\/train\/part-00000\.recordio: cannot write: no space left on device \(ENOSPC\)/,
    skip: !HAS_DEV_FULL && 'no /dev/full on this machine',
  },
  {
    name: 'disk full writing validation.json (/dev/full)',
    make: async (dir) => {
      await mkdir(join(dir, 'out'));
      await symlink('/dev/full', join(dir, 'out', 'validation.json'));
      return file('r.csv', '')(dir);
    },
    exit: 1,
    reason: /validation\.json: cannot write: no space left on device \(ENOSPC\)/,
    skip: !HAS_DEV_FULL && 'no /dev/full on this machine',
  },
  {
    name: 'config typo ml.split.testshare',
    make: file('r.csv', goodCsv(), { ml: { split: { testshare: 0.3 } } }),
    exit: 1,
    reason: /ml\.split\.testshare: unknown key 'testshare'/,
  },
  {
    name: 'config typo ml.fm.epoch',
    make: file('r.csv', goodCsv(), { ml: { fm: { epoch: 3 } } }),
    exit: 1,
    reason: /ml\.fm\.epoch: 'epoch' is not a documented hyperparameter/,
  },
  {
    name: 'config typo ml.ingest.maxFutureSecond',
    make: file('r.csv', goodCsv(), { ml: { ingest: { maxFutureSecond: 1 } } }),
    exit: 1,
    reason: /ml\.ingest\.maxFutureSecond: unknown key/,
  },
];

interface Outcome {
  exit: number;
  stdout: string;
  stderr: string;
  message: string;
}

async function runCase(c: Case, dir: string): Promise<Outcome> {
  const setup = (await c.make(dir)) ?? {};
  const at = (p: string | undefined, fallback: string): string =>
    p === undefined ? join(dir, fallback) : p.startsWith('/') ? p : join(dir, p);
  const out = at(setup.out, 'out');
  const configFile = join(dir, 'config.json');
  const ml = { ingest: { maxDecompressedBytes: MAX_DECOMPRESSED }, ...(setup.ml ?? {}) } as Record<
    string,
    unknown
  >;
  if (setup.ml?.ingest)
    ml.ingest = { maxDecompressedBytes: MAX_DECOMPRESSED, ...(setup.ml.ingest as object) };
  await writeFile(configFile, JSON.stringify({ ml }));
  let stdout = '';
  let stderr = '';
  let timer: NodeJS.Timeout | undefined;
  const run = prepareCommand(
    {
      values: { data: at(setup.data, 'data'), out, config: configFile, format: setup.format },
      positionals: [],
    },
    {
      stdout: (t) => (stdout += t),
      stderr: (t) => (stderr += t),
      now: NOW,
      openWriteStream: setup.openWriteStream,
    },
  );
  const hang = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`hung for ${CASE_TIMEOUT_MS} ms`)), CASE_TIMEOUT_MS);
  });
  try {
    const exit = await Promise.race([run, hang]);
    let message = (stderr.trim().split('\n').pop() ?? '').replace(/^reelflow prepare: /, '');
    if (exit !== 1) {
      const report = JSON.parse(await readFile(join(out, 'validation.json'), 'utf8')) as {
        accepted: boolean;
        message: string;
      };
      expect(report.accepted).toBe(exit === 0);
      message = report.message;
    }
    return { exit, stdout, stderr, message };
  } finally {
    clearTimeout(timer);
  }
}

describe('reelflow prepare: bad-input corpus', () => {
  let root: string;
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'reelflow-corpus-'));
  });
  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('has at least 60 cases, each with a unique name', () => {
    expect(CASES.length).toBeGreaterThanOrEqual(60);
    expect(new Set(CASES.map((c) => c.name)).size).toBe(CASES.length);
  });

  // A case this machine cannot stage (e.g. an unreadable file when running as root) gets no test at
  // all, rather than one that passes without running; the summary below names it.
  CASES.forEach((c, i) => {
    if (c.skip) return;
    it(
      `${c.name} -> exit ${c.exit}`,
      async () => {
        const dir = join(root, String(i).padStart(3, '0'));
        await mkdir(dir);
        const outcome = await runCase(c, dir);
        expect({ exit: outcome.exit, message: outcome.message }).toEqual({
          exit: c.exit,
          message: expect.stringMatching(c.reason),
        });
        // Never a stack trace; an error is one line.
        expect(outcome.stderr).not.toMatch(/\n\s+at /);
        // Besides the progress lines (indented), an error is one line.
        const said = outcome.stderr.split('\n').filter((line) => line !== '' && !line.startsWith('  '));
        if (c.exit === 1) expect(said).toEqual([`reelflow prepare: ${outcome.message}`]);
      },
      CASE_TIMEOUT_MS + 5_000,
    );
  });

  it('holds at least 60 cases, and names the ones this machine cannot stage', () => {
    const notRun = CASES.filter((c) => c.skip).map((c) => `${c.name}: ${String(c.skip)}`);
    expect(CASES.length).toBeGreaterThanOrEqual(60);
    expect(CASES.length - notRun.length).toBeGreaterThanOrEqual(60);
    if (notRun.length > 0) process.stdout.write(`bad-input corpus, not run here: ${notRun.join('; ')}\n`);
  });
});
