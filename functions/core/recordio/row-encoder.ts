/**
 * Fast paths for the two record shapes reelflow writes by the tens of millions: a float32 sparse row
 * (the FM channels) and a float32 dense row (k-NN input, endpoint requests), each with an optional
 * float32 label under `values`. They write the frame and the protobuf payload straight into one reused
 * buffer, with the sizes computed from the row, so encoding a row allocates nothing.
 *
 * The bytes are exactly those of the general path (`frameRecord(encodeRecord(...))`) for the record
 *   features = { values: { dtype: 'float32', values, keys, shape: [featureDim] } }   (sparse)
 *   features = { values: { dtype: 'float32', values } }                             (dense)
 *   label    = { values: { dtype: 'float32', values: [label] } }                     (when given)
 * which is what the SDK's `write_spmatrix_to_sparse_tensor` / `write_numpy_to_dense_tensor` write.
 */
import { ByteWriter, varintSize } from './byte-writer';
import { RecordIOEncodeError } from './errors';
import { padOf, writeFrameHeader } from './framing';

/** Payload bytes of the label field: 12 12 | 0a 06 "values" | 12 08 | 12 06 | 0a 04 | f32. */
const LABEL_FIELD_BYTES = 20;
/** Bytes of the map key field `0a 06 "values"`. */
const VALUES_KEY_FIELD_BYTES = 8;

/**
 * Encodes framed rows into one growable buffer that is reused from row to row. Every method returns a
 * view of that buffer: it is valid until the next call on the same encoder, so hand it to something
 * that copies it at once (`ShardedRecordIOWriter.write` does) or `slice()` it.
 */
export class FramedRowEncoder {
  private readonly w = new ByteWriter(256);

  /** A framed sparse float32 row: non-zeros `values` at columns `keys`, `shape = [featureDim]`. */
  sparse(keys: ArrayLike<number>, values: ArrayLike<number>, featureDim: number, label?: number): Uint8Array {
    if (keys.length !== values.length) {
      throw new RecordIOEncodeError(
        `a sparse row needs one key per value, got ${keys.length} keys for ${values.length} values`,
      );
    }
    return this.sparseRange(keys, values, 0, keys.length, featureDim, label);
  }

  /**
   * `sparse` for the slice `[start, end)` of `keys`/`values`, e.g. one row of a CSR matrix, without
   * creating subarray views per row.
   */
  sparseRange(
    keys: ArrayLike<number>,
    values: ArrayLike<number>,
    start: number,
    end: number,
    featureDim: number,
    label?: number,
  ): Uint8Array {
    if (!Number.isSafeInteger(featureDim) || featureDim < 0) {
      throw new RecordIOEncodeError(`featureDim must be a non-negative integer, got ${featureDim}`);
    }
    const n = end - start;
    let keysBytes = 0;
    for (let i = start; i < end; i++) {
      const k = keys[i];
      if (!(k >= 0 && k < featureDim) || Math.floor(k) !== k) {
        throw new RecordIOEncodeError(
          `key ${k} (entry ${i - start}) is not a column index in [0, ${featureDim})`,
        );
      }
      keysBytes += varintSize(k);
    }
    const shapeBytes = varintSize(featureDim);
    const tensorSize =
      (n > 0 ? 2 + varintSize(4 * n) + 4 * n + varintSize(keysBytes) + keysBytes : 0) +
      1 +
      varintSize(shapeBytes) +
      shapeBytes;
    const w = this.w;
    w.reset();
    this.writeFeaturesStart(tensorSize, label);
    if (n > 0) {
      w.u8(0x0a);
      w.varint(4 * n);
      for (let i = start; i < end; i++) w.f32(values[i]);
      w.u8(0x12);
      w.varint(keysBytes);
      for (let i = start; i < end; i++) w.varint(keys[i]);
    }
    w.u8(0x1a);
    w.varint(shapeBytes);
    w.varint(featureDim);
    this.writeLabelAndPad(label);
    return w.written();
  }

  /** A framed dense float32 row. */
  dense(values: ArrayLike<number>, label?: number): Uint8Array {
    return this.denseRange(values, 0, values.length, label);
  }

  /** `dense` for the slice `[start, end)` of `values` (one row of a row-major matrix). */
  denseRange(values: ArrayLike<number>, start: number, end: number, label?: number): Uint8Array {
    const n = end - start;
    const tensorSize = n > 0 ? 1 + varintSize(4 * n) + 4 * n : 0;
    const w = this.w;
    w.reset();
    this.writeFeaturesStart(tensorSize, label);
    if (n > 0) {
      w.u8(0x0a);
      w.varint(4 * n);
      for (let i = start; i < end; i++) w.f32(values[i]);
    }
    this.writeLabelAndPad(label);
    return w.written();
  }

  /** Frame header, then `features` up to the Float32Tensor's length prefix. */
  private writeFeaturesStart(tensorSize: number, label: number | undefined): void {
    const valueSize = 1 + varintSize(tensorSize) + tensorSize;
    const entrySize = VALUES_KEY_FIELD_BYTES + 1 + varintSize(valueSize) + valueSize;
    const payloadSize = 1 + varintSize(entrySize) + entrySize + (label === undefined ? 0 : LABEL_FIELD_BYTES);
    const w = this.w;
    writeFrameHeader(payloadSize, w);
    w.u8(0x0a);
    w.varint(entrySize);
    writeValuesKey(w);
    w.u8(0x12);
    w.varint(valueSize);
    w.u8(0x12);
    w.varint(tensorSize);
  }

  private writeLabelAndPad(label: number | undefined): void {
    const w = this.w;
    if (label !== undefined) {
      w.u8(0x12);
      w.u8(0x12);
      writeValuesKey(w);
      w.u8(0x12);
      w.u8(0x08);
      w.u8(0x12);
      w.u8(0x06);
      w.u8(0x0a);
      w.u8(0x04);
      w.f32(label);
    }
    w.zeros(padOf(w.pos - 8));
  }
}

/** `0a 06 "values"`: the key field of a map entry. */
function writeValuesKey(w: ByteWriter): void {
  w.u8(0x0a);
  w.u8(0x06);
  w.u8(0x76);
  w.u8(0x61);
  w.u8(0x6c);
  w.u8(0x75);
  w.u8(0x65);
  w.u8(0x73);
}

const shared = new FramedRowEncoder();

/**
 * One framed sparse float32 row (features `values` with `keys` and `shape = [featureDim]`, optional
 * float32 label), as a new array. For bulk writing use a `FramedRowEncoder`, which avoids the copy.
 */
export function encodeSparseRowFramed(
  keys: ArrayLike<number>,
  values: ArrayLike<number>,
  featureDim: number,
  label?: number,
): Uint8Array {
  return shared.sparse(keys, values, featureDim, label).slice();
}

/** One framed dense float32 row with an optional float32 label, as a new array. */
export function encodeDenseRowFramed(values: ArrayLike<number>, label?: number): Uint8Array {
  return shared.dense(values, label).slice();
}
