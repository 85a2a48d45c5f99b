/**
 * Which files of `--data <file|folder>` are rating batches, and the keys they are uploaded under.
 *
 * A file is taken as it is. In a folder, a MovieLens download is recognised by its ratings file
 * (`ratings.csv`, `ratings.dat` or ml-100k's `u.data`, optionally gzipped) and only that file is taken:
 * the others (movies, tags, links, the ml-100k split files, which repeat u.data) are not ratings. A folder
 * without one is a folder of batches: every file is taken, in name order (the upload order).
 *
 * With the `predefined` split a folder gives its `<x>.base` / `<x>.test` pair instead (ml-100k's `ua`
 * pair when it holds several, as the workshop used), uploaded under keys that keep the pair's names
 * (`ratings/<stamp>-ua.base`, `ratings/<stamp>-ua.test`), so Prepare still recognises the pair.
 */
import { readdir, stat } from 'node:fs/promises';
import { basename, join, relative, sep } from 'node:path';

/** Thrown when `--data` names nothing usable. */
export class DataPathError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DataPathError';
  }
}

export interface DataSelection {
  readonly files: readonly string[];
  /** Files of the folder that were left out, for the note shown to the person. */
  readonly skipped: readonly string[];
  /**
   * The files are a predefined split's `<x>.base` / `<x>.test` pair: their upload keys must keep the
   * names as they are (uploadKey without an order index), or the split no longer matches them.
   */
  readonly predefinedPair?: boolean;
}

const MOVIELENS_RATINGS = /^(ratings\.csv|ratings\.dat|u\.data)(\.gz)?$/i;
/** A predefined split's file: `ua.base`, `u1.test`, optionally gzipped (the split's own naming). */
const SPLIT_FILE = /^(.+)\.(base|test)(\.gz|\.gzip)?$/i;
/** The pair the workshop used, preferred when a folder holds several (ml-100k has u1..u5, ua, ub). */
const WORKSHOP_PAIR = 'ua';

/**
 * The rating files of `path`. `predefinedSplit` takes a folder's `<x>.base` / `<x>.test` pair (see the
 * module doc).
 */
export async function selectRatingFiles(
  path: string,
  options: { readonly predefinedSplit?: boolean } = {},
): Promise<DataSelection> {
  let info;
  try {
    info = await stat(path);
  } catch {
    throw new DataPathError(`--data ${path}: no such file or folder`);
  }
  if (info.isFile()) return { files: [path], skipped: [] };
  const files: string[] = [];
  const walk = async (dir: string): Promise<void> => {
    for (const entry of await readdir(dir, { withFileTypes: true })) {
      if (entry.name.startsWith('.')) continue;
      const full = join(dir, entry.name);
      if (entry.isDirectory()) await walk(full);
      else if (entry.isFile()) files.push(full);
    }
  };
  await walk(path);
  files.sort((a, b) => (relative(path, a) < relative(path, b) ? -1 : 1));
  if (files.length === 0) throw new DataPathError(`--data ${path}: the folder holds no files`);
  if (options.predefinedSplit) return predefinedPair(path, files);
  const ratings = files.filter((f) => MOVIELENS_RATINGS.test(basename(f)));
  if (ratings.length > 0) return { files: ratings, skipped: files.filter((f) => !ratings.includes(f)) };
  return { files, skipped: [] };
}

/** The folder's `<x>.base` / `<x>.test` pair: `ua` if present, else the only complete pair. */
function predefinedPair(path: string, files: readonly string[]): DataSelection {
  const pairs = new Map<string, { base?: string; test?: string }>();
  for (const file of files) {
    const match = SPLIT_FILE.exec(basename(file));
    if (!match) continue;
    const key = relative(path, join(file, '..', match[1]));
    const pair = pairs.get(key) ?? {};
    const role = match[2].toLowerCase() as 'base' | 'test';
    if (pair[role]) {
      throw new DataPathError(`--data ${path}: two ${match[1]}.${role} files (${pair[role]}, ${file})`);
    }
    pair[role] = file;
    pairs.set(key, pair);
  }
  const complete = Array.from(pairs).filter(([, p]) => p.base && p.test);
  const chosen =
    complete.find(([name]) => basename(name) === WORKSHOP_PAIR) ??
    (complete.length === 1 ? complete[0] : undefined);
  if (!chosen) {
    const found = complete.map(([name]) => `${name}.base/.test`).join(', ');
    throw new DataPathError(
      `--data ${path}: the predefined split needs one <x>.base / <x>.test pair (ml-100k ua.base and ua.test); ` +
        (complete.length === 0
          ? 'the folder holds none'
          : `the folder holds ${complete.length} (${found}) and no ua pair`),
    );
  }
  const taken = [chosen[1].base!, chosen[1].test!];
  return { files: taken, skipped: files.filter((f) => !taken.includes(f)), predefinedPair: true };
}

/**
 * The upload key of a file: `ratings/<UTC timestamp>-<name>`, so uploads sort in arrival order and a
 * re-upload of the same file is a new batch. Path separators of a folder's sub-paths become `-`; files
 * of one folder get `index` so they keep their order within the same second.
 */
export function uploadKey(file: string, root: string, now: Date = new Date(), index?: number): string {
  const stamp = now
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');
  const name = (root === file ? basename(file) : relative(root, file))
    .split(sep)
    .join('-')
    .replace(/[^A-Za-z0-9._-]/g, '_');
  const order = index === undefined ? '' : `${String(index).padStart(3, '0')}-`;
  return `ratings/${stamp}-${order}${name}`;
}
