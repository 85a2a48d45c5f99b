/**
 * The serving bundle: everything the pre and post containers of one model version need, built by the
 * run from its own FM artifact and training split, and shipped as the containers' model data
 * (`model.tar.gz`, extracted by SageMaker into /opt/ml/model).
 *
 * Files (raw little-endian typed arrays, described by manifest.json, so loading is a copy, not a parse):
 *   manifest.json     version, sizes, dimensions
 *   user-ids.i32      MovieLens user ids, ascending (row i of the tables below)
 *   user-vectors.f32  users x factorDim: [v_user, 1]
 *   seen-offsets.u32  users + 1 offsets into seen-movies
 *   seen-movies.i32   each user's training movies, ascending per user
 *   popular.i32       movie ids, most rated in training first (answers for unknown users, backfill)
 */
import { endianness } from 'node:os';
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { readTarGz, writeTarGz } from '../archive';
import { sortedIndexOf } from '../ingest/id-map';
import { TAG_BITS } from './user-tags';

if (endianness() !== 'LE')
  throw new Error('reelflow serving bundles are little-endian; this platform is not');

export const BUNDLE_FORMAT_VERSION = 1;

export interface ServingBundleManifest {
  readonly formatVersion: number;
  /** The run id of the version: what the API returns as `modelVersion`. */
  readonly modelVersion: string;
  readonly users: number;
  readonly movies: number;
  /** Dimension of the user and movie vectors (num_factors + 1). */
  readonly factorDim: number;
  /** Tag bits appended to the k-NN index (docs/architecture.md, user tags). */
  readonly tagBits: number;
  /** Neighbours the k-NN model returns. */
  readonly k: number;
  /** Recommendations per answer. */
  readonly topN: number;
  readonly seenTotal: number;
  readonly popular: number;
}

export interface ServingBundle {
  readonly manifest: ServingBundleManifest;
  readonly userIds: Int32Array;
  readonly userVectors: Float32Array;
  readonly seenOffsets: Uint32Array;
  readonly seenMovies: Int32Array;
  readonly popular: Int32Array;
}

/** What `buildServingBundle` needs; vectors come from `buildKnnVectors`. */
export interface ServingBundleInput {
  readonly modelVersion: string;
  readonly userIds: Int32Array;
  readonly userVectors: Float32Array;
  readonly factorDim: number;
  readonly movies: number;
  /** Training movies of user i: `seen(i)` for i in 0..users-1 (any order, duplicates allowed). */
  readonly seen: (userIndex: number) => ArrayLike<number>;
  readonly popular: Int32Array;
  readonly k: number;
  readonly topN: number;
}

/** Thrown for a bundle that is missing files, inconsistent or from another format version. */
export class ServingBundleError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'ServingBundleError';
  }
}

/** Assembles and validates a bundle (user ids ascending, seen lists sorted and de-duplicated). */
export function buildServingBundle(input: ServingBundleInput): ServingBundle {
  const users = input.userIds.length;
  for (let i = 1; i < users; i++) {
    if (input.userIds[i] <= input.userIds[i - 1])
      throw new ServingBundleError('userIds must be strictly ascending');
  }
  if (input.userVectors.length !== users * input.factorDim) {
    throw new ServingBundleError(
      `userVectors hold ${input.userVectors.length} floats, expected ${users} x ${input.factorDim}`,
    );
  }
  const offsets = new Uint32Array(users + 1);
  const lists: Int32Array[] = [];
  for (let u = 0; u < users; u++) {
    const sorted = Int32Array.from(input.seen(u)).sort();
    let n = 0;
    for (let i = 0; i < sorted.length; i++)
      if (i === 0 || sorted[i] !== sorted[i - 1]) sorted[n++] = sorted[i];
    lists.push(sorted.subarray(0, n));
    offsets[u + 1] = offsets[u] + n;
  }
  const seenMovies = new Int32Array(offsets[users]);
  lists.forEach((list, u) => seenMovies.set(list, offsets[u]));
  return {
    manifest: {
      formatVersion: BUNDLE_FORMAT_VERSION,
      modelVersion: input.modelVersion,
      users,
      movies: input.movies,
      factorDim: input.factorDim,
      tagBits: TAG_BITS,
      k: input.k,
      topN: input.topN,
      seenTotal: seenMovies.length,
      popular: input.popular.length,
    },
    userIds: input.userIds,
    userVectors: input.userVectors,
    seenOffsets: offsets,
    seenMovies,
    popular: input.popular,
  };
}

/** Serializes a bundle as the containers' model data (`.tar.gz`). */
export function writeServingBundle(bundle: ServingBundle): Promise<Buffer> {
  return writeTarGz([
    ['manifest.json', Buffer.from(`${JSON.stringify(bundle.manifest, null, 2)}\n`)],
    ['user-ids.i32', bytesOf(bundle.userIds)],
    ['user-vectors.f32', bytesOf(bundle.userVectors)],
    ['seen-offsets.u32', bytesOf(bundle.seenOffsets)],
    ['seen-movies.i32', bytesOf(bundle.seenMovies)],
    ['popular.i32', bytesOf(bundle.popular)],
  ]);
}

/** Reads a bundle from its `.tar.gz` bytes. */
export async function readServingBundle(bytes: Uint8Array): Promise<ServingBundle> {
  return fromFiles(await readTarGz(bytes, 'serving bundle'));
}

/** Reads a bundle from a directory (SageMaker extracts model data into /opt/ml/model). */
export async function readServingBundleDir(dir: string): Promise<ServingBundle> {
  const files = new Map<string, Uint8Array>();
  for (const name of await readdir(dir)) {
    if (name === 'manifest.json' || /\.(i32|u32|f32)$/.test(name))
      files.set(name, await readFile(join(dir, name)));
  }
  return fromFiles(files);
}

function fromFiles(files: Map<string, Uint8Array>): ServingBundle {
  const manifestBytes = files.get('manifest.json');
  if (!manifestBytes) throw new ServingBundleError('serving bundle has no manifest.json');
  let manifest: ServingBundleManifest;
  try {
    manifest = JSON.parse(Buffer.from(manifestBytes).toString('utf8')) as ServingBundleManifest;
  } catch (error) {
    throw new ServingBundleError('serving bundle manifest.json is not valid JSON', { cause: error });
  }
  if (manifest.formatVersion !== BUNDLE_FORMAT_VERSION) {
    throw new ServingBundleError(
      `serving bundle format ${manifest.formatVersion} is not supported (expected ${BUNDLE_FORMAT_VERSION})`,
    );
  }
  const users = manifest.users;
  const bundle: ServingBundle = {
    manifest,
    userIds: view(files, 'user-ids.i32', Int32Array, users),
    userVectors: view(files, 'user-vectors.f32', Float32Array, users * manifest.factorDim),
    seenOffsets: view(files, 'seen-offsets.u32', Uint32Array, users + 1),
    seenMovies: view(files, 'seen-movies.i32', Int32Array, manifest.seenTotal),
    popular: view(files, 'popular.i32', Int32Array, manifest.popular),
  };
  if (bundle.seenOffsets[users] !== manifest.seenTotal) {
    throw new ServingBundleError('serving bundle seen-offsets do not end at seenTotal');
  }
  if (manifest.tagBits !== TAG_BITS) {
    throw new ServingBundleError(
      `serving bundle uses ${manifest.tagBits} tag bits; this code reads ${TAG_BITS}`,
    );
  }
  return bundle;
}

type TypedArrayCtor<T> = {
  new (buffer: ArrayBuffer, offset: number, length: number): T;
  BYTES_PER_ELEMENT: number;
};

function view<T>(files: Map<string, Uint8Array>, name: string, Ctor: TypedArrayCtor<T>, length: number): T {
  const bytes = files.get(name);
  if (!bytes) throw new ServingBundleError(`serving bundle has no ${name}`);
  if (bytes.byteLength !== length * Ctor.BYTES_PER_ELEMENT) {
    throw new ServingBundleError(
      `serving bundle ${name} holds ${bytes.byteLength} bytes, expected ${length * Ctor.BYTES_PER_ELEMENT}`,
    );
  }
  // Copy into a fresh, aligned buffer: tar members sit at arbitrary offsets.
  const copy = new ArrayBuffer(bytes.byteLength);
  new Uint8Array(copy).set(bytes);
  return new Ctor(copy, 0, length);
}

function bytesOf(array: Int32Array | Uint32Array | Float32Array): Uint8Array {
  return new Uint8Array(array.buffer, array.byteOffset, array.byteLength);
}

/** Row of `userId` in the bundle, or -1 (binary search over the ascending ids). */
export function userRow(bundle: ServingBundle, userId: number): number {
  return sortedIndexOf(bundle.userIds, userId);
}

/** The training movies of the user in row `row` (ascending). */
export function seenMoviesOf(bundle: ServingBundle, row: number): Int32Array {
  return bundle.seenMovies.subarray(bundle.seenOffsets[row], bundle.seenOffsets[row + 1]);
}
