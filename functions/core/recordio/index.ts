/**
 * SageMaker recordIO-protobuf (`application/x-recordio-protobuf`): the `aialgs.data.Record` payload,
 * dmlc RecordIO framing, fast framed-row encoders and sharded writers. Byte-identical to the SDK's
 * `write_numpy_to_dense_tensor` / `write_spmatrix_to_sparse_tensor`.
 */
export * from './types';
export * from './errors';
export { VALUES_KEY, decodeRecord, encodeRecord } from './protobuf';
export {
  MAX_RECORD_BYTES,
  RECORDIO_MAGIC,
  countRecordIORecords,
  frameRecord,
  framedSize,
  iterateRecordIO,
  iterateRecordIOPayloads,
  padOf,
  readRecordIO,
  writeRecordIO,
} from './framing';
export { FramedRowEncoder, encodeDenseRowFramed, encodeSparseRowFramed } from './row-encoder';
export {
  MemoryShardedRecordIOWriter,
  ShardedRecordIOWriter,
  shardFileName,
  type FramedRecordSink,
  type ShardedRecordIOWriterOptions,
} from './sharded-writer';
