/**
 * SageMaker recordIO-protobuf (`application/x-recordio-protobuf`): the `aialgs.data.Record` payload,
 * dmlc RecordIO framing, fast framed-row encoders and sharded writers. Byte-identical to the SDK's
 * `write_numpy_to_dense_tensor` / `write_spmatrix_to_sparse_tensor`.
 */
export * from './types';
export * from './errors';
export { decodeRecord, encodeRecord } from './protobuf';
export {
  RECORDIO_MAGIC,
  countRecordIORecords,
  frameRecord,
  iterateRecordIO,
  iterateRecordIOPayloads,
  readRecordIO,
  writeRecordIO,
} from './framing';
export { FramedRowEncoder, encodeDenseRowFramed, encodeSparseRowFramed } from './row-encoder';
export { MemoryShardedRecordIOWriter, ShardedRecordIOWriter, shardFileName } from './sharded-writer';
