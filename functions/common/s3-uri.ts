/** `s3://bucket/key` URIs, as the run contracts carry them (functions/contracts.ts). */

/** Thrown for a string that is not an `s3://bucket/key` URI. */
export class S3UriError extends Error {
  constructor(uri: string) {
    super(`not an s3:// URI: '${uri}'`);
    this.name = 'S3UriError';
  }
}

export interface S3Location {
  readonly bucket: string;
  readonly key: string;
}

/** Splits `s3://bucket/key` (the key may be empty for a bucket root or end with `/` for a prefix). */
export function parseS3Uri(uri: string): S3Location {
  const match = /^s3:\/\/([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(?:\/(.*))?$/.exec(uri);
  if (!match) throw new S3UriError(uri);
  return { bucket: match[1], key: match[2] ?? '' };
}

/** Thrown for a run id that could not name a run's S3 prefix or SageMaker resources. */
export class InvalidRunIdError extends Error {
  constructor(runId: string) {
    super(`invalid run id '${runId}': expected letters, digits and single hyphens`);
    this.name = 'InvalidRunIdError';
  }
}

/** `runs/<runId>/<path>`: the key of a run artifact. The run id is checked so it cannot leave the prefix. */
export function runKey(runId: string, path: string): string {
  if (!/^[A-Za-z0-9](-?[A-Za-z0-9])*$/.test(runId)) throw new InvalidRunIdError(runId);
  return `runs/${runId}/${path}`;
}
