/**
 * Which files of `--data <file|folder>` are rating batches, and the keys they are uploaded under.
 *
 * A file is taken as it is. In a folder, a MovieLens download is recognised by its ratings file
 * (`ratings.csv`, `ratings.dat` or ml-100k's `u.data`, optionally gzipped) and only that file is taken:
 * the others (movies, tags, links, the ml-100k split files, which repeat u.data) are not ratings. A folder
 * without one is a folder of batches: every file is taken, in name order (the upload order).
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
}

const MOVIELENS_RATINGS = /^(ratings\.csv|ratings\.dat|u\.data)(\.gz)?$/i;

/**
 * The rating files of `path`. `allFiles` takes every file of a folder (the predefined split reads
 * ml-100k's `ua.base` / `ua.test` next to `u.data`).
 */
export async function selectRatingFiles(
  path: string,
  options: { readonly allFiles?: boolean } = {},
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
  if (options.allFiles) return { files, skipped: [] };
  const ratings = files.filter((f) => MOVIELENS_RATINGS.test(basename(f)));
  if (ratings.length > 0) return { files: ratings, skipped: files.filter((f) => !ratings.includes(f)) };
  return { files, skipped: [] };
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
