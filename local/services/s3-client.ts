/**
 * An S3 client for the local S3 (s3rver on loopback): the handlers' own configuration
 * (`s3ClientConfig`: path-style addressing, checksums only when required) plus the endpoint and the fixed
 * credentials s3rver accepts. Kept apart from the server (s3.ts) so the job workers, which only read and
 * write objects, do not load s3rver.
 */
import { S3Client } from '@aws-sdk/client-s3';
import { s3ClientConfig } from '../../functions/common/s3-io';
import { LOCAL_REGION } from './local-account';

/** Fixed credentials s3rver accepts; the SDK needs some to sign requests. */
export const LOCAL_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } as const;

/**
 * A client bound to the local S3 at `endpoint`. Checksums only WHEN_REQUIRED: with the SDK v3 default a
 * streamed PutObject is sent aws-chunked and s3rver would store the chunk framing in the object.
 */
export function localS3Client(endpoint: string): S3Client {
  return new S3Client({
    ...s3ClientConfig({ AWS_ENDPOINT_URL_S3: endpoint }),
    endpoint,
    region: LOCAL_REGION,
    credentials: LOCAL_CREDENTIALS,
  });
}
