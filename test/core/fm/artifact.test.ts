import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { zipSync } from 'fflate';
import {
  type ArchiveEntries,
  readTarGz,
  readZip,
  writeTarGz,
  writeZip,
} from '../../../functions/core/archive';
import {
  FmArtifactError,
  fmLogit,
  readFmModelAlgo,
  readFmModelTarGz,
  writeFmModelTarGz,
} from '../../../functions/core/fm/artifact';
import { NDArrayFormatError, readNDArrayList } from '../../../functions/core/mxnet/ndarray';
import { Rng } from '../../../functions/core/random';
import type { FmModel } from '../../../functions/core/types';
import { fmParamsBytes, listHeader, V2, v2Float32 } from '../mxnet/ndarray-bytes';

const KMEANS_TAR = join(__dirname, '..', '..', 'fixtures', 'mxnet', 'kmeans-model.tar.gz');

// A small known model, D = 5 features, K = 2 factors; every value is exact in float32.
const D = 5;
const K = 2;
const W0 = 0.25;
const W1 = [1, -2, 3.5, 0.125, -0.75];
/** Feature-major: row i = [v_i0, v_i1]. */
const V = [
  [0.5, -0.5],
  [1, 1.5],
  [-2, 0],
  [0.125, 8],
  [-1, 3],
];
const V_FLAT = V.flat();
/** The same factors as (K, D), the layout of the Linear_Plus_Bias variant. */
const V_TRANSPOSED = [0, 1].flatMap((f) => V.map((row) => row[f]));

async function artifact(members: Array<[string, Uint8Array]>, zip = writeZip): Promise<Buffer> {
  return writeTarGz([['model_algo-1', zip(members)]]);
}

function standardParams(prefix = 'arg:'): Uint8Array {
  return fmParamsBytes({
    names: [`${prefix}w0_weight`, `${prefix}w1_weight`, `${prefix}v`],
    shapes: [[1], [D, 1], [D, K]],
    values: [[W0], W1, V_FLAT],
  });
}

function expectKnownModel(model: FmModel): void {
  expect(model.featureDim).toBe(D);
  expect(model.numFactors).toBe(K);
  expect(model.w0).toBe(W0);
  expect(Array.from(model.w1)).toEqual(W1);
  expect(Array.from(model.v)).toEqual(V_FLAT);
  expect(model.w1).toBeInstanceOf(Float32Array);
  expect(model.v).toBeInstanceOf(Float32Array);
}

async function errorOf(promise: Promise<unknown>): Promise<FmArtifactError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(FmArtifactError);
    return error as FmArtifactError;
  }
  throw new Error('expected an FmArtifactError');
}

/** FM logit by the textbook double sum over pairs, independent of the O(nnz·K) identity. */
function naiveLogit(model: FmModel, x: Map<number, number>): number {
  const entries = [...x.entries()];
  let y = model.w0;
  for (const [i, xi] of entries) y += model.w1[i] * xi;
  for (let a = 0; a < entries.length; a++) {
    for (let b = a + 1; b < entries.length; b++) {
      const [i, xi] = entries[a];
      const [j, xj] = entries[b];
      let dot = 0;
      for (let f = 0; f < model.numFactors; f++) {
        dot += model.v[i * model.numFactors + f] * model.v[j * model.numFactors + f];
      }
      y += dot * xi * xj;
    }
  }
  return y;
}

function randomModel(rng: Rng, featureDim: number, numFactors: number): FmModel {
  return {
    featureDim,
    numFactors,
    w0: Math.fround(rng.normal()),
    w1: Float32Array.from({ length: featureDim }, () => rng.normal()),
    v: Float32Array.from({ length: featureDim * numFactors }, () => rng.normal() * 0.5),
  };
}

describe('readFmModelTarGz', () => {
  it('reads a hand-built SageMaker-layout artifact (arg: names, (D, K) factors)', async () => {
    // GIVEN params built byte by byte, zipped with symbol.json, tarred as model_algo-1
    const bytes = await artifact([
      ['symbol.json', Buffer.from('{"nodes": []}')],
      ['params', standardParams()],
    ]);
    // WHEN / THEN
    expectKnownModel(await readFmModelTarGz(bytes));
  });

  it('reads names without the arg: prefix, a stored (uncompressed) zip and model-0000.params', async () => {
    const stored = (members: ArchiveEntries) =>
      zipSync(Object.fromEntries(members.map(([name, b]) => [name, [b, { level: 0 }]])));
    const bytes = await artifact([['model-0000.params', standardParams('')]], stored);
    expectKnownModel(await readFmModelTarGz(bytes));
  });

  it('reads the Linear_Plus_Bias variant with a (K, D) factor matrix into the same feature-major model', async () => {
    const params = fmParamsBytes({
      names: ['Linear_Plus_Bias_bias', 'Linear_Plus_Bias_weight', 'v'],
      shapes: [[1], [1, D], [K, D]],
      values: [[W0], W1, V_TRANSPOSED],
    });
    expectKnownModel(await readFmModelTarGz(await artifact([['params', params]])));
  });

  it('takes feature_dim from meta.json (strings allowed) and from the option, and checks they agree', async () => {
    const meta = (featureDim: unknown) =>
      Buffer.from(JSON.stringify({ training_parameters: { feature_dim: featureDim, num_factors: '2' } }));
    const withMeta = (featureDim: unknown) =>
      artifact([
        ['params', standardParams()],
        ['meta.json', meta(featureDim)],
      ]);
    expectKnownModel(await readFmModelTarGz(await withMeta('5'), { featureDim: 5 }));
    expectKnownModel(await readFmModelTarGz(await withMeta(5)));
    expect((await errorOf(readFmModelTarGz(await withMeta('6')))).message).toMatch(
      /meta.json feature_dim is 6 but the length of w1_weight is 5/,
    );
    expect((await errorOf(readFmModelTarGz(await withMeta('5'), { featureDim: 4 }))).message).toMatch(
      /the featureDim option is 4 but meta.json feature_dim is 5/,
    );
    expect((await errorOf(readFmModelTarGz(await withMeta('five')))).message).toMatch(
      /training_parameters.feature_dim is "five", not a positive integer/,
    );
  });

  it('finds the orientation of v from feature_dim and refuses to guess when D == K', async () => {
    // GIVEN D = K = 2: a (2, 2) v could be either orientation
    const square = fmParamsBytes({
      names: ['arg:w0_weight', 'arg:w1_weight', 'arg:v'],
      shapes: [[1], [2, 1], [2, 2]],
      values: [[0], [1, 2], [1, 2, 3, 4]],
    });
    expect((await errorOf(readFmModelTarGz(await artifact([['params', square]])))).message).toMatch(
      /num_factors == feature_dim == 2: its orientation cannot be told apart/,
    );
    // GIVEN a v that matches neither dimension
    const wrong = fmParamsBytes({
      names: ['arg:w0_weight', 'arg:w1_weight', 'arg:v'],
      shapes: [[1], [D, 1], [4, 3]],
      values: [[0], W1, new Array(12).fill(0)],
    });
    expect((await errorOf(readFmModelTarGz(await artifact([['params', wrong]])))).message).toMatch(
      /v has shape \[4,3\], neither dimension is feature_dim 5/,
    );
  });

  it('fails clearly on missing arrays, wrong shapes, non-float32 dtypes and unnamed arrays', async () => {
    const read = async (params: Uint8Array) =>
      (await errorOf(readFmModelTarGz(await artifact([['params', params]])))).message;
    const base = { shapes: [[1], [D, 1], [D, K]], values: [[W0], W1, V_FLAT] } as const;
    const named = (names: [string, string, string], shapes = base.shapes as unknown as number[][]) =>
      fmParamsBytes({
        names,
        shapes: shapes as [number[], number[], number[]],
        values: base.values as unknown as [number[], number[], number[]],
      });
    expect(await read(named(['arg:w0_weight', 'arg:w1_weight', 'arg:u']))).toMatch(
      /has no v array \(arrays: w0_weight, w1_weight, u\)/,
    );
    expect(await read(named(['arg:w0_weight', 'arg:bias', 'arg:v']))).toMatch(
      /has no w1_weight \(or Linear_Plus_Bias_weight\) array/,
    );
    expect(await read(named(['arg:w0_weight', 'arg:w1_weight', 'arg:v'], [[1], [1, 1, D], [D, K]]))).toMatch(
      /w1_weight has shape \[1,1,5\], expected \[feature_dim, 1\] or \[1, feature_dim\]/,
    );
    expect(
      await read(
        fmParamsBytes({
          names: ['arg:w0_weight', 'arg:w1_weight', 'arg:v'],
          shapes: [[2], [D, 1], [D, K]],
          values: [[W0, 1], W1, V_FLAT],
        }),
      ),
    ).toMatch(/w0_weight has shape \[2\], expected one element/);

    // w0 stored as float64 (dtype flag 1, 8 data bytes), the rest as usual
    const f64 = listHeader(3).u32(V2).i32(0).i32(1).i64(1).i32(1).i32(0).i32(1);
    f64.raw(new Uint8Array(Float64Array.of(W0).buffer));
    v2Float32(f64, [D, 1], W1);
    v2Float32(f64, [D, K], V_FLAT);
    f64.u64(3).string('arg:w0_weight').string('arg:w1_weight').string('arg:v');
    expect(await read(f64.bytes())).toMatch(/w0_weight has dtype float64, expected float32/);

    const int32Params = fmParamsBytes({
      names: ['arg:w0_weight', 'arg:w1_weight', 'arg:v'],
      shapes: [[1], [D, 1], [D, K]],
      values: [[0], W1, V_FLAT],
    });
    new DataView(int32Params.buffer).setInt32(52, 4, true); // w0's dtype: int32, same byte size
    expect(await read(int32Params)).toMatch(/w0_weight has dtype int32, expected float32/);

    const unnamed = standardParams().slice();
    const cut = unnamed.length - (8 + 13) - (8 + 13) - (8 + 5) - 8;
    const withoutNames = new Uint8Array(cut + 8);
    withoutNames.set(unnamed.subarray(0, cut));
    expect(await read(withoutNames)).toMatch(/holds 3 unnamed arrays/);
  });

  it('fails clearly on truncated gzip, foreign bytes, a missing member and a missing params', async () => {
    const good = await artifact([['params', standardParams()]]);
    expect((await errorOf(readFmModelTarGz(good.subarray(0, good.length - 30)))).message).toMatch(
      /model.tar.gz is not a valid gzip stream/,
    );
    expect(
      (await errorOf(readFmModelTarGz(Buffer.from('<html>not a model</html>'.repeat(40))))).message,
    ).toMatch(/model.tar.gz is not a tar archive/);
    expect((await errorOf(readFmModelTarGz(gzipSync(Buffer.alloc(2048, 1))))).message).toMatch(
      /not a tar archive/,
    );
    const wrongMember = await writeTarGz([['model_algo-2', writeZip([['params', standardParams()]])]]);
    expect((await errorOf(readFmModelTarGz(wrongMember))).message).toMatch(
      /no model_algo-1 member \(members: model_algo-2\)/,
    );
    const noParams = await artifact([['symbol.json', Buffer.from('{}')]]);
    expect((await errorOf(readFmModelTarGz(noParams))).message).toMatch(
      /no params member \(members: symbol.json\)/,
    );
    const truncatedZip = await writeTarGz([
      ['model_algo-1', writeZip([['params', standardParams()]]).subarray(0, 60)],
    ]);
    expect((await errorOf(readFmModelTarGz(truncatedZip))).message).toMatch(/corrupt or truncated zip/);
  });

  it('says a k-means artifact is a bare NDArray list, not an FM model', async () => {
    const error = await errorOf(readFmModelTarGz(readFileSync(KMEANS_TAR)));
    expect(error.message).toMatch(
      /model_algo-1 is a bare MXNet NDArray list, the artifact of k-means or PCA/,
    );
    expect(() => readFmModelAlgo(Buffer.from('IxFI\x00\x00\x00\x00'))).toThrow(/looks like a FAISS index/);
    expect(() => readFmModelAlgo(Buffer.from([1, 2, 3]))).toThrow(
      /not a Factorization Machines zip \(starts with 0x010203\)/,
    );
  });

  it('wraps a corrupt params file as FmArtifactError with the NDArrayFormatError as cause', async () => {
    const params = standardParams();
    const error = await errorOf(readFmModelTarGz(await artifact([['params', params.subarray(0, 70)]])));
    expect(error.message).toMatch(/model_algo-1\/params: NDArray list truncated at byte/);
    expect(error.cause).toBeInstanceOf(NDArrayFormatError);
  });
});

describe('writeFmModelTarGz', () => {
  it('round-trips through the reader bit for bit', async () => {
    const model = randomModel(new Rng(7), 40, 6);
    const back = await readFmModelTarGz(await writeFmModelTarGz(model));
    expect(back).toEqual(model);
  });

  it('writes the SageMaker layout: tar.gz ⊃ model_algo-1 zip ⊃ symbol.json, params, meta.json', async () => {
    // GIVEN the known model
    const model: FmModel = {
      featureDim: D,
      numFactors: K,
      w0: W0,
      w1: Float32Array.from(W1),
      v: Float32Array.from(V_FLAT),
    };
    // WHEN
    const bytes = await writeFmModelTarGz(model, {
      hyperparameters: { predictor_type: 'binary_classifier', epochs: '100', feature_dim: '5' },
    });
    // THEN
    const members = await readTarGz(bytes);
    expect([...members.keys()]).toEqual(['model_algo-1']);
    const zip = readZip(members.get('model_algo-1')!);
    expect([...zip.keys()]).toEqual(['symbol.json', 'params', 'meta.json']);
    // params is exactly the file built field by field from the format description
    expect(Buffer.from(zip.get('params')!)).toEqual(Buffer.from(standardParams()));
    const list = readNDArrayList(zip.get('params')!);
    expect(list.names).toEqual(['arg:w0_weight', 'arg:w1_weight', 'arg:v']);
    expect(list.arrays.map((a) => a.shape)).toEqual([[1], [D, 1], [D, K]]);
    expect(JSON.parse(Buffer.from(zip.get('meta.json')!).toString())).toEqual({
      training_parameters: {
        epochs: '100',
        feature_dim: '5',
        num_factors: '2',
        predictor_type: 'binary_classifier',
      },
    });
    const symbol = JSON.parse(Buffer.from(zip.get('symbol.json')!).toString());
    const nodeNames = symbol.nodes.map((n: { name: string }) => n.name);
    expect(nodeNames).toEqual(expect.arrayContaining(['data', 'w0_weight', 'w1_weight', 'v', 'out_label']));
    expect(symbol.nodes.find((n: { name: string }) => n.name === 'v').attrs.__shape__).toBe('(5, 2)');
    expect(symbol.nodes.at(-1).op).toBe('LogisticRegressionOutput');
    for (const node of symbol.nodes as Array<{ inputs: number[][] }>) {
      for (const [input] of node.inputs) expect(input).toBeLessThan(symbol.nodes.length);
    }
    expect(symbol.arg_nodes.map((i: number) => symbol.nodes[i].op)).toEqual(
      new Array(symbol.arg_nodes.length).fill('null'),
    );
  });

  it('is deterministic: the same model and options give the same bytes', async () => {
    const model = randomModel(new Rng(11), 30, 4);
    const opts = { hyperparameters: { b: '2', a: '1' } };
    const a = await writeFmModelTarGz(model, opts);
    const b = await writeFmModelTarGz(model, { hyperparameters: { a: '1', b: '2' } });
    expect(a.equals(b)).toBe(true);
    expect(a.equals(await writeFmModelTarGz(randomModel(new Rng(12), 30, 4), opts))).toBe(false);
  });

  it('refuses inconsistent models and contradicting hyperparameters', async () => {
    const model = randomModel(new Rng(1), 6, 3);
    await expect(writeFmModelTarGz({ ...model, w1: new Float32Array(5) })).rejects.toThrow(
      /w1 has 5 weights, featureDim is 6/,
    );
    await expect(writeFmModelTarGz({ ...model, v: new Float32Array(17) })).rejects.toThrow(
      /v has 17 floats, featureDim × numFactors is 18/,
    );
    await expect(writeFmModelTarGz({ ...model, w0: NaN })).rejects.toThrow(FmArtifactError);
    await expect(writeFmModelTarGz(model, { hyperparameters: { num_factors: '64' } })).rejects.toThrow(
      /hyperparameter num_factors=64 contradicts the model's 3/,
    );
  });
});

describe('fmLogit', () => {
  it('equals the textbook pairwise formula on the known model', () => {
    const model: FmModel = {
      featureDim: D,
      numFactors: K,
      w0: W0,
      w1: Float32Array.from(W1),
      v: Float32Array.from(V_FLAT),
    };
    // x = [0, 1, 0, 2, 0.5]: ŷ = 0.25 + (-2) + 0.25 + (-0.375) + ⟨v1,v3⟩·2 + ⟨v1,v4⟩·0.5 + ⟨v3,v4⟩·1
    //   ⟨v1,v3⟩ = 0.125 + 12 = 12.125, ⟨v1,v4⟩ = -1 + 4.5 = 3.5, ⟨v3,v4⟩ = -0.125 + 24 = 23.875
    const expected = 0.25 - 2 + 0.25 - 0.375 + 12.125 * 2 + 3.5 * 0.5 + 23.875;
    expect(fmLogit(model, [1, 3, 4], [1, 2, 0.5])).toBeCloseTo(expected, 12);
    expect(fmLogit(model, [], [])).toBe(W0);
  });

  it('equals the pairwise formula on random sparse examples', () => {
    const model = randomModel(new Rng(5), 50, 8);
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.nat({ max: 49 }), { minLength: 0, maxLength: 8 }),
        fc.array(fc.double({ min: -3, max: 3, noNaN: true }), { minLength: 8, maxLength: 8 }),
        (cols, values) => {
          const vals = cols.map((_, i) => values[i]);
          const x = new Map(cols.map((c, i) => [c, vals[i]]));
          expect(fmLogit(model, Uint32Array.from(cols), Float32Array.from(vals))).toBeCloseTo(
            naiveLogit(model, new Map([...x].map(([c, v]) => [c, Math.fround(v)]))),
            9,
          );
        },
      ),
      { seed: 4 },
    );
  });

  it('rejects columns outside the model and mismatched lengths', () => {
    const model = randomModel(new Rng(2), 4, 2);
    expect(() => fmLogit(model, [4], [1])).toThrow(/column 4 is outside the model's 4 features/);
    expect(() => fmLogit(model, [0, 1], [1])).toThrow(RangeError);
  });
});
