import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  encodeDenseRowFramed,
  encodeRecord,
  encodeSparseRowFramed,
  frameRecord,
  iterateRecordIOPayloads,
  readRecordIO,
  writeRecordIO,
  type RecordIORecord,
} from '../../../functions/core/recordio';

// Golden files written by the unmodified SageMaker SDK (v2.257.6) with Python protobuf; inputs.json
// holds the exact inputs, each record's offset, length, pad and payload, and each file's sha256.
const DIR = join(__dirname, '..', '..', 'fixtures', 'recordio');
const inputs = JSON.parse(readFileSync(join(DIR, 'inputs.json'), 'utf8')) as {
  files: Record<string, FixtureFile>;
};

interface FixtureFile {
  writer: string;
  dtype: string;
  label_dtype?: string;
  X?: number[][];
  rows?: { keys: number[]; values: number[] }[];
  feature_dim?: number;
  labels: number[] | null;
  file_bytes: number;
  sha256: string;
  records: { offset: number; payload_len: number; pad: number; payload_hex: string }[];
}

const NAMES = [
  'a_dense_labeled.recordio',
  'b_sparse_onehot_labeled.recordio',
  'c_dense_unlabeled.recordio',
  'd_sparse_unlabeled_dim2625.recordio',
  'e_dense_float64_intlabel.recordio',
];

function fixture(name: string): { spec: FixtureFile; bytes: Buffer } {
  return { spec: inputs.files[name], bytes: readFileSync(join(DIR, name)) };
}

/** The records the SDK writer built from the fixture's inputs, through the general API. */
function recordsOf(spec: FixtureFile): RecordIORecord[] {
  const labelDtype = spec.label_dtype?.startsWith('int') ? 'int32' : 'float32';
  const featureDtype = spec.dtype === 'float64' ? 'float64' : 'float32';
  const rows = spec.X
    ? spec.X.map((values) => ({ dtype: featureDtype, values }) as const)
    : spec.rows!.map(
        (row) =>
          ({ dtype: 'float32', values: row.values, keys: row.keys, shape: [spec.feature_dim!] }) as const,
      );
  return rows.map((features, i) =>
    spec.labels
      ? { features: { values: features }, label: { values: { dtype: labelDtype, values: [spec.labels[i]] } } }
      : { features: { values: features } },
  );
}

const sha256 = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');

describe('recordIO-protobuf against the SDK golden files', () => {
  it('has every fixture named here, with all four pad amounts covered', () => {
    expect(Object.keys(inputs.files).sort()).toEqual([...NAMES].sort());
    const pads = new Set(NAMES.flatMap((n) => inputs.files[n].records.map((r) => r.pad)));
    expect([...pads].sort()).toEqual([0, 1, 2, 3]);
  });

  it.each(NAMES)('writes %s byte for byte from its inputs (general path)', (name) => {
    // GIVEN the inputs the SDK was given
    const { spec, bytes } = fixture(name);
    // WHEN encoding them with writeRecordIO
    const written = writeRecordIO(recordsOf(spec));
    // THEN the stream is the SDK's file, to the byte
    expect(written.length).toBe(spec.file_bytes);
    expect(sha256(written)).toBe(spec.sha256);
    expect(Buffer.from(written).equals(bytes)).toBe(true);
  });

  it.each(NAMES)('encodes each record payload of %s as the SDK did', (name) => {
    const { spec } = fixture(name);
    recordsOf(spec).forEach((record, i) => {
      expect(Buffer.from(encodeRecord(record)).toString('hex')).toBe(spec.records[i].payload_hex);
      expect(frameRecord(encodeRecord(record)).length).toBe(
        8 + spec.records[i].payload_len + spec.records[i].pad,
      );
    });
  });

  it.each(NAMES.filter((n) => inputs.files[n].dtype === 'float32'))(
    'writes %s byte for byte with the float32 fast paths',
    (name) => {
      const { spec, bytes } = fixture(name);
      const labels = spec.labels ?? [];
      const framed = spec.X
        ? spec.X.map((row, i) => encodeDenseRowFramed(row, labels[i]))
        : spec.rows!.map((row, i) =>
            encodeSparseRowFramed(row.keys, row.values, spec.feature_dim!, labels[i]),
          );
      expect(Buffer.concat(framed).equals(bytes)).toBe(true);
    },
  );

  it.each(NAMES)(
    'reads %s back to its inputs, with the record offsets and payloads of inputs.json',
    (name) => {
      const { spec, bytes } = fixture(name);
      const payloads = Array.from(iterateRecordIOPayloads(bytes));
      expect(payloads.map((p) => Buffer.from(p).toString('hex'))).toEqual(
        spec.records.map((r) => r.payload_hex),
      );
      payloads.forEach((p, i) => expect(p.byteOffset - bytes.byteOffset).toBe(spec.records[i].offset + 8));

      const records = readRecordIO(bytes);
      expect(records).toHaveLength(spec.records.length);
      records.forEach((record, i) => {
        const features = record.features.values;
        if (spec.X) {
          expect(features.dtype).toBe(spec.dtype === 'float64' ? 'float64' : 'float32');
          expect(Array.from(features.values)).toEqual(spec.X[i]);
          expect(features.keys).toBeUndefined();
          expect(features.shape).toBeUndefined();
        } else {
          expect(features.dtype).toBe('float32');
          expect(Array.from(features.values)).toEqual(spec.rows![i].values);
          expect(Array.from(features.keys!)).toEqual(spec.rows![i].keys);
          expect(Array.from(features.shape!)).toEqual([spec.feature_dim]);
        }
        if (spec.labels) {
          expect(Array.from(record.label!.values.values)).toEqual([spec.labels[i]]);
        } else {
          expect(record.label).toBeUndefined();
        }
        expect(record.uid).toBeUndefined();
      });
    },
  );

  it('maps float64 features to Float64Tensor and an int label to Int32Tensor (fixture e)', () => {
    const [record] = readRecordIO(fixture('e_dense_float64_intlabel.recordio').bytes);
    expect(record.features.values.values).toBeInstanceOf(Float64Array);
    expect(record.label!.values.dtype).toBe('int32');
    expect(record.label!.values.values).toBeInstanceOf(Int32Array);
  });
});
