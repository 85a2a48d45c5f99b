/**
 * The iALS model file, `ials-model.bin`, that the training job writes to /opt/ml/model/ (SageMaker packs
 * that folder into the job's `model.tar.gz`) and BuildVectors reads back. Little-endian, every field
 * 4-byte aligned so the matrices can be viewed in place:
 *
 *   offset  size          field
 *   0       8             magic "RFIALS\0\0"
 *   8       4  uint32     format version (1)
 *   12      4  uint32     K (factors)
 *   16      4  uint32     U (users)
 *   20      4  uint32     M (movies)
 *   24      4U int32      user ids, ascending (row order of the user factors)
 *   ..      4M int32      movie ids, ascending
 *   ..      4UK float32   user factors, row-major
 *   ..      4MK float32   movie factors, row-major
 *   ..      4M  float32   movie biases (zeros for a model trained without `item_bias`)
 *
 * The file is exactly that long; anything else is an `IalsModelFileError`.
 */
import { readTarGz } from '../archive';
import type { IalsModel } from './model';

/** The model's file name inside /opt/ml/model/ and the job's model.tar.gz. */
export const IALS_MODEL_FILE = 'ials-model.bin';

const MAGIC = Buffer.from('RFIALS\0\0', 'latin1');
const VERSION = 1;
const HEADER_BYTES = 24;

/** Thrown when bytes are not an iALS model file (or a model.tar.gz holding one). */
export class IalsModelFileError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'IalsModelFileError';
  }
}

/** The model as `ials-model.bin` bytes. */
export function encodeIalsModel(model: IalsModel): Uint8Array {
  const k = model.factors;
  const u = model.userIds.length;
  const m = model.movieIds.length;
  if (
    model.userFactors.length !== u * k ||
    model.itemFactors.length !== m * k ||
    model.itemBias.length !== m
  ) {
    throw new IalsModelFileError(
      `factor arrays (${model.userFactors.length}, ${model.itemFactors.length}, ${model.itemBias.length}) do not match ` +
        `${u} users, ${m} movies and ${k} factors`,
    );
  }
  const out = Buffer.alloc(HEADER_BYTES + 4 * (u + 2 * m + u * k + m * k));
  MAGIC.copy(out, 0);
  out.writeUInt32LE(VERSION, 8);
  out.writeUInt32LE(k, 12);
  out.writeUInt32LE(u, 16);
  out.writeUInt32LE(m, 20);
  let offset = HEADER_BYTES;
  for (const part of [model.userIds, model.movieIds, model.userFactors, model.itemFactors, model.itemBias]) {
    const bytes = new Uint8Array(part.buffer, part.byteOffset, part.byteLength);
    // Typed arrays are in the platform's byte order; every platform Node.js runs on here is little-endian.
    out.set(bytes, offset);
    offset += bytes.byteLength;
  }
  return out;
}

/** `ials-model.bin` bytes → the model (copies, so the result does not alias `bytes`). */
export function decodeIalsModel(bytes: Uint8Array, what = IALS_MODEL_FILE): IalsModel {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (buf.length < HEADER_BYTES || !buf.subarray(0, 8).equals(MAGIC)) {
    throw new IalsModelFileError(`${what} is not an iALS model file (no RFIALS header)`);
  }
  const version = buf.readUInt32LE(8);
  if (version !== VERSION)
    throw new IalsModelFileError(`${what} has format version ${version}, expected ${VERSION}`);
  const k = buf.readUInt32LE(12);
  const u = buf.readUInt32LE(16);
  const m = buf.readUInt32LE(20);
  const expected = HEADER_BYTES + 4 * (u + 2 * m + u * k + m * k);
  if (k === 0 || buf.length !== expected) {
    throw new IalsModelFileError(
      `${what} is ${buf.length} bytes, but its header (${k} factors, ${u} users, ${m} movies) needs ${expected}`,
    );
  }
  let offset = HEADER_BYTES;
  const take = (count: number): Uint8Array => {
    const slice = Uint8Array.prototype.slice.call(buf, offset, offset + 4 * count);
    offset += 4 * count;
    return slice;
  };
  const userIds = new Int32Array(take(u).buffer);
  const movieIds = new Int32Array(take(m).buffer);
  const userFactors = new Float32Array(take(u * k).buffer);
  const itemFactors = new Float32Array(take(m * k).buffer);
  const itemBias = new Float32Array(take(m).buffer);
  checkAscending(userIds, 'user', what);
  checkAscending(movieIds, 'movie', what);
  return { factors: k, userIds, movieIds, userFactors, itemFactors, itemBias };
}

/** The model inside a training job's `model.tar.gz` (what BuildVectors downloads). */
export async function readIalsModelArtifact(tarGz: Uint8Array, what = 'model.tar.gz'): Promise<IalsModel> {
  const files = await readTarGz(tarGz, what);
  const bytes = files.get(IALS_MODEL_FILE);
  if (!bytes) {
    throw new IalsModelFileError(
      `${what} holds no ${IALS_MODEL_FILE} (files: ${Array.from(files.keys()).join(', ') || 'none'}): ` +
        `it is not an iALS training job's model`,
    );
  }
  return decodeIalsModel(bytes, `${what}/${IALS_MODEL_FILE}`);
}

function checkAscending(ids: Int32Array, what: string, file: string): void {
  for (let i = 1; i < ids.length; i++) {
    if (!(ids[i - 1] < ids[i]))
      throw new IalsModelFileError(`${file}: ${what} ids are not strictly ascending at row ${i}`);
  }
}
