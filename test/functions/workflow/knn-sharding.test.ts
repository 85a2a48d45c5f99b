import '../quiet-powertools';
import { parseMlConfig } from '../../../functions/core/config';
import { knnFeatureDim } from '../../../functions/core/prepare';
import { FramedRowEncoder } from '../../../functions/core/recordio';
import { KNN_MIN_ROWS_PER_SHARD, knnSharding } from '../../../functions/workflow/build-vectors';

describe('knnSharding (BuildVectors: enough k-NN train files for the configured instances)', () => {
  const config = parseMlConfig({});
  const dim = knnFeatureDim(config);
  const rowBytes = new FramedRowEncoder().denseRange(new Float32Array(dim), 0, dim, 1).length;

  it('cuts the shards so that the rows make at least the wanted number of files', () => {
    const rows = 20_024;
    const { config: sharded, files } = knnSharding(config, rows, 4);
    expect(files).toBe(4);
    const max = sharded.encoding.shardMaxBytes;
    // A shard ends before the row that would pass max: ceil(rows / 4) rows fit one shard, so 4 files.
    expect(Math.floor(max / rowBytes)).toBe(Math.ceil(rows / 4));
    expect(sharded.knn).toEqual(config.knn);
  });

  it('keeps the configured shards when one instance is wanted or the rows are too few for more', () => {
    expect(knnSharding(config, 100_000, 1)).toEqual({ config, files: 1 });
    expect(knnSharding(config, 2 * KNN_MIN_ROWS_PER_SHARD - 1, 8)).toEqual({ config, files: 1 });
    expect(knnSharding(config, 3 * KNN_MIN_ROWS_PER_SHARD, 8).files).toBe(3);
  });
});
