/**
 * Thrown when bytes are not valid recordIO-protobuf: bad framing magic, a truncated record, a
 * malformed protobuf payload, or a value this reader refuses to round silently (a uint64 above 2^53 - 1).
 * `offset` is the byte position of the problem in the buffer that was being read.
 */
export class RecordIOFormatError extends Error {
  readonly offset: number;

  constructor(message: string, offset: number, options?: ErrorOptions) {
    super(message, options);
    this.name = 'RecordIOFormatError';
    this.offset = offset;
  }
}

/**
 * Thrown when a record cannot be written as given: a key that is not a uint64 integer, an int32 value
 * out of range, sparse keys and values of different lengths, a payload too large for the 29-bit length.
 */
export class RecordIOEncodeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RecordIOEncodeError';
  }
}
