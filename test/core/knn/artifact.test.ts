import { readTarGz, writeTarGz } from '../../../functions/core/archive';
import {
  FAISS_FLAT_HEADER_BYTES,
  KnnArtifactError,
  readFaissFlatIndex,
  readKnnModelTarGz,
  writeFaissFlatIndex,
  writeKnnModelTarGz,
} from '../../../functions/core/knn/artifact';
import { buildKnnIndex, knnSearch, type KnnIndex, type KnnMetric } from '../../../functions/core/knn/search';
import { Rng } from '../../../functions/core/random';

/**
 * `faiss.write_index` output of faiss 1.7.3 (Debian python3-faiss) for IndexFlatIP(3) / IndexFlatL2(3)
 * holding [[1, -2.5, 0.25], [3, 0.5, -1]].
 */
const FAISS_IP_HEX =
  '4978464903000000020000000000000000001000000000000000100000000000010000000006000000000000000000803f000020c00000803e000040400000003f000080bf';
const FAISS_L2_HEX =
  '4978463203000000020000000000000000001000000000000000100000000000010100000006000000000000000000803f000020c00000803e000040400000003f000080bf';
const SMALL = Float32Array.from([1, -2.5, 0.25, 3, 0.5, -1]);

function randomIndex(seed: number, count: number, dim: number, metric: KnnMetric): KnnIndex {
  const rng = new Rng(seed);
  return buildKnnIndex(
    Float32Array.from({ length: count * dim }, () => rng.normal()),
    Float32Array.from({ length: count }, (_, i) => i + 1),
    dim,
    metric,
  );
}

async function tarWith(entries: Record<string, Uint8Array | string>): Promise<Buffer> {
  return writeTarGz(
    Object.entries(entries).map(([name, v]) => [name, typeof v === 'string' ? Buffer.from(v) : v] as const),
  );
}

describe('faiss flat index', () => {
  it.each([
    ['INNER_PRODUCT', FAISS_IP_HEX],
    ['L2', FAISS_L2_HEX],
  ] as const)('writes the bytes faiss itself writes (%s)', (metric, hex) => {
    const bytes = writeFaissFlatIndex({ dim: 3, count: 2, metric, vectors: SMALL });
    expect(Buffer.from(bytes).toString('hex')).toBe(hex);
  });

  it('lays the header out as documented: fourcc, d, ntotal, 2 dummies, is_trained, metric, float count', () => {
    const bytes = writeFaissFlatIndex({ dim: 3, count: 2, metric: 'L2', vectors: SMALL });
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    expect(Buffer.from(bytes.subarray(0, 4)).toString('latin1')).toBe('IxF2');
    expect(view.getInt32(4, true)).toBe(3);
    expect(view.getBigInt64(8, true)).toBe(2n);
    expect(view.getBigInt64(16, true)).toBe(1048576n);
    expect(view.getBigInt64(24, true)).toBe(1048576n);
    expect(view.getUint8(32)).toBe(1);
    expect(view.getInt32(33, true)).toBe(1);
    expect(view.getBigUint64(37, true)).toBe(6n);
    expect(FAISS_FLAT_HEADER_BYTES).toBe(45);
    expect(bytes.length).toBe(45 + 6 * 4);
    expect(view.getFloat32(45, true)).toBe(1);
    expect(view.getFloat32(45 + 5 * 4, true)).toBe(-1);
  });

  it('reads indexes written by faiss', () => {
    const ip = readFaissFlatIndex(Buffer.from(FAISS_IP_HEX, 'hex'));
    expect(ip).toEqual({ dim: 3, count: 2, metric: 'INNER_PRODUCT', vectors: SMALL });
    expect(readFaissFlatIndex(Buffer.from(FAISS_L2_HEX, 'hex')).metric).toBe('L2');
  });

  it('reads an index that starts at an odd offset of a larger buffer', () => {
    const padded = new Uint8Array(1 + FAISS_IP_HEX.length / 2);
    padded.set(Buffer.from(FAISS_IP_HEX, 'hex'), 1);
    expect(readFaissFlatIndex(padded.subarray(1)).vectors).toEqual(SMALL);
  });

  it('rejects other index types, truncation, trailing bytes and inconsistent headers', () => {
    const good = Buffer.from(FAISS_IP_HEX, 'hex');
    const ivf = Buffer.from(good);
    ivf.write('IwFl', 0, 'latin1');
    expect(() => readFaissFlatIndex(ivf)).toThrow(/starts with 'IwFl': only faiss flat indexes/);
    expect(() => readFaissFlatIndex(Uint8Array.from([0x1f, 0x8b, 0, 0, 0]))).toThrow(/unknown bytes/);
    expect(() => readFaissFlatIndex(good.subarray(0, 2))).toThrow(/too short/);
    expect(() => readFaissFlatIndex(good.subarray(0, 30))).toThrow(/truncated inside the faiss index header/);
    expect(() => readFaissFlatIndex(good.subarray(0, good.length - 4))).toThrow(/\(truncated\)/);
    expect(() => readFaissFlatIndex(Buffer.concat([good, Buffer.alloc(4)]))).toThrow(/\(trailing bytes\)/);
    const wrongMetric = Buffer.from(good);
    wrongMetric.writeInt32LE(1, 33);
    expect(() => readFaissFlatIndex(wrongMetric)).toThrow(/metric_type 1, expected 0/);
    const wrongCount = Buffer.from(good);
    wrongCount.writeBigUInt64LE(7n, 37);
    expect(() => readFaissFlatIndex(wrongCount)).toThrow(/holds 7 floats, expected ntotal 2 × d 3/);
    const badDim = Buffer.from(good);
    badDim.writeInt32LE(0, 4);
    expect(() => readFaissFlatIndex(badDim)).toThrow(/invalid dimension 0/);
    expect(() => writeFaissFlatIndex({ dim: 3, count: 3, metric: 'L2', vectors: SMALL })).toThrow(
      KnnArtifactError,
    );
  });
});

describe('k-NN model.tar.gz', () => {
  it.each(['INNER_PRODUCT', 'L2'] as const)('round-trips an index and its settings (%s)', async (metric) => {
    // GIVEN an index of 300 random 9-dim vectors
    const index = randomIndex(metric === 'L2' ? 1 : 2, 300, 9, metric);
    // WHEN written and read back
    const bytes = await writeKnnModelTarGz(index, { k: 40, predictor_type: 'regressor' });
    const model = await readKnnModelTarGz(bytes);
    // THEN the same vectors, labels and settings, and the same search results
    expect(model.k).toBe(40);
    expect(model.predictorType).toBe('regressor');
    expect(model.index).toEqual(index);
    const queries = new Rng(3).shuffle(Float32Array.from(index.vectors.subarray(0, 27)));
    expect(knnSearch(model.index, queries, 3, 40)).toEqual(knnSearch(index, queries, 3, 40));
  });

  it('holds the three members the built-in writes, with raw float32 labels and the settings JSON', async () => {
    const index = buildKnnIndex(SMALL, Float32Array.from([527, 0.5]), 3, 'INNER_PRODUCT');
    const files = await readTarGz(await writeKnnModelTarGz(index, { k: 100, predictor_type: 'classifier' }));
    expect([...files.keys()]).toEqual(['model_algo-1', 'model_algo-1.labels', 'model_algo-1.json']);
    expect(Buffer.from(files.get('model_algo-1')!).toString('hex')).toBe(FAISS_IP_HEX);
    // 527 = 0x4403c000 and 0.5 = 0x3f000000, little-endian
    expect(Buffer.from(files.get('model_algo-1.labels')!).toString('hex')).toBe('00c003440000003f');
    expect(JSON.parse(Buffer.from(files.get('model_algo-1.json')!).toString())).toEqual({
      k: 100,
      predictor_type: 'classifier',
      dimension_reduction: null,
      normalize: false,
      version: '1.0',
    });
  });

  it('writes identical bytes for the same index', async () => {
    const index = randomIndex(4, 20, 3, 'L2');
    const a = await writeKnnModelTarGz(index, { k: 5, predictor_type: 'classifier' });
    const b = await writeKnnModelTarGz(index, { k: 5, predictor_type: 'classifier' });
    expect(a.equals(b)).toBe(true);
  });

  it('reads an artifact whose JSON has no dimension_reduction, normalize or version (a faiss-written index)', async () => {
    const bytes = await tarWith({
      'model_algo-1': Buffer.from(FAISS_L2_HEX, 'hex'),
      'model_algo-1.labels': new Uint8Array(Float32Array.from([1, 2]).buffer),
      'model_algo-1.json': '{"k": 5, "predictor_type": "classifier"}',
    });
    const model = await readKnnModelTarGz(bytes);
    expect(model.index.metric).toBe('L2');
    expect(Array.from(model.index.labels)).toEqual([1, 2]);
    expect(model.k).toBe(5);
  });

  it('rejects artifacts it cannot serve, naming the problem', async () => {
    const faiss = Buffer.from(FAISS_IP_HEX, 'hex');
    const labels = new Uint8Array(Float32Array.from([1, 2]).buffer);
    const meta =
      '{"k":5,"predictor_type":"classifier","dimension_reduction":null,"normalize":false,"version":"1.0"}';
    const read = async (entries: Record<string, Uint8Array | string>): Promise<unknown> =>
      readKnnModelTarGz(await tarWith(entries));

    await expect(readKnnModelTarGz(Buffer.from('not an archive at all'.repeat(40)))).rejects.toThrow(
      KnnArtifactError,
    );
    await expect(read({ 'model_algo-1': faiss, 'model_algo-1.labels': labels })).rejects.toThrow(
      /has no model_algo-1.json \(members: model_algo-1, model_algo-1.labels\)/,
    );
    await expect(
      read({
        'model_algo-1': faiss,
        'model_algo-1.labels': labels.subarray(0, 4),
        'model_algo-1.json': meta,
      }),
    ).rejects.toThrow(/model_algo-1.labels has 4 bytes, expected 8/);
    await expect(
      read({ 'model_algo-1': faiss, 'model_algo-1.labels': labels, 'model_algo-1.json': '{k:5' }),
    ).rejects.toThrow(/model_algo-1.json is not JSON/);
    const withMeta = (m: string): Promise<unknown> =>
      read({ 'model_algo-1': faiss, 'model_algo-1.labels': labels, 'model_algo-1.json': m });
    await expect(withMeta('[1]')).rejects.toThrow(/must be a JSON object/);
    await expect(withMeta('{"k":0,"predictor_type":"classifier"}')).rejects.toThrow(
      /k must be a positive integer/,
    );
    await expect(withMeta('{"k":5,"predictor_type":"ranker"}')).rejects.toThrow(/predictor_type must be/);
    await expect(
      withMeta(
        '{"k":5,"predictor_type":"classifier","dimension_reduction":{"type":"sign","seed":3,"target_dim":10,"input_dim":20}}',
      ),
    ).rejects.toThrow(/reduced indexes are not supported/);
    await expect(withMeta('{"k":5,"predictor_type":"classifier","normalize":true}')).rejects.toThrow(
      /normalized \(COSINE\) indexes are not supported/,
    );
    await expect(withMeta('{"k":5,"predictor_type":"classifier","version":"2.0"}')).rejects.toThrow(
      /version "2.0"/,
    );
    const nanLabels = new Uint8Array(Float32Array.from([1, NaN]).buffer);
    await expect(
      read({ 'model_algo-1': faiss, 'model_algo-1.labels': nanLabels, 'model_algo-1.json': meta }),
    ).rejects.toThrow(/index labels hold a non-finite value/);
  });

  it('refuses to write invalid settings', async () => {
    const index = randomIndex(5, 4, 2, 'L2');
    await expect(writeKnnModelTarGz(index, { k: 0, predictor_type: 'classifier' })).rejects.toThrow(
      /k must be/,
    );
    await expect(
      writeKnnModelTarGz(index, { k: 1, predictor_type: 'majority' as 'classifier' }),
    ).rejects.toThrow(/predictor_type must be/);
  });
});
