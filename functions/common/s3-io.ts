/**
 * S3 adapters of the core's ports for the workflow handlers: rating batches as `RatingSource`s (streamed
 * GetObject, pinned to the ETag seen when the run listed them), an `ArtifactSink` that writes a run's
 * artifacts under a key prefix with multipart uploads from memory (no /tmp), and small readers.
 *
 * `s3ClientConfig()` is the one place a handler's S3 client is configured: in AWS it is the default
 * chain; when AWS_ENDPOINT_URL_S3 points at a local S3 (the local runtime's s3rver) it adds path-style
 * addressing and checksums only when required (the SDK's default aws-chunked uploads corrupt objects
 * on s3rver: streamed bodies are stored with their chunk framing).
 */
import {
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  type S3ClientConfig,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { PassThrough, type Readable } from 'node:stream';
import type { RatingSource } from '../core/ingest';
import type { ArtifactSink, ArtifactWriter } from '../core/sink';

export function s3ClientConfig(env: NodeJS.ProcessEnv = process.env): S3ClientConfig {
  if (!env.AWS_ENDPOINT_URL_S3) return {};
  return {
    forcePathStyle: true,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  };
}

/** An S3 object as listed: enough to read exactly that version of it later. */
export interface ListedObject {
  readonly key: string;
  readonly eTag: string;
  readonly size: number;
  readonly lastModified: string;
}

/** Every object under `prefix` (paginated), skipping folder markers, in key order. */
export async function listObjects(s3: S3Client, bucket: string, prefix: string): Promise<ListedObject[]> {
  const objects: ListedObject[] = [];
  let token: string | undefined;
  do {
    const page = await s3.send(
      new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }),
    );
    for (const o of page.Contents ?? []) {
      if (!o.Key || o.Key.endsWith('/')) continue;
      objects.push({
        key: o.Key,
        eTag: o.ETag ?? '',
        size: o.Size ?? 0,
        lastModified: (o.LastModified ?? new Date(0)).toISOString(),
      });
    }
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  return objects.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}

/**
 * Rating sources over listed objects, streamed. `IfMatch` pins each read to the listed ETag, so an
 * object replaced while the run reads fails the run instead of mixing two versions of a batch.
 */
export function s3RatingSources(
  s3: S3Client,
  bucket: string,
  objects: readonly ListedObject[],
): RatingSource[] {
  return objects.map((object) => ({
    name: object.key,
    sizeBytes: object.size,
    async open() {
      const response = await s3.send(
        new GetObjectCommand({ Bucket: bucket, Key: object.key, IfMatch: object.eTag || undefined }),
      );
      return response.Body as Readable;
    },
  }));
}

/** The whole object as bytes. */
export async function getObjectBytes(s3: S3Client, bucket: string, key: string): Promise<Uint8Array> {
  const response = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  if (!response.Body) throw new Error(`s3://${bucket}/${key} has no body`);
  return response.Body.transformToByteArray();
}

/** The whole object as UTF-8 text. */
export async function getObjectText(s3: S3Client, bucket: string, key: string): Promise<string> {
  return Buffer.from(await getObjectBytes(s3, bucket, key)).toString('utf8');
}

/** Every object under `prefix` as text, in key order (e.g. a batch transform's `*.out` files). */
export async function getPrefixTexts(s3: S3Client, bucket: string, prefix: string): Promise<string[]> {
  const objects = await listObjects(s3, bucket, prefix);
  return Promise.all(objects.map((o) => getObjectText(s3, bucket, o.key)));
}

/** A sink writing `path` to `s3://bucket/<prefix><path>`. */
export function s3Sink(s3: S3Client, bucket: string, prefix: string): ArtifactSink {
  const keyOf = (path: string) => `${prefix}${path}`;
  return {
    async put(path, data) {
      await s3.send(
        new PutObjectCommand({
          Bucket: bucket,
          Key: keyOf(path),
          Body: data,
          ContentType: contentTypeOf(path),
        }),
      );
    },
    open(path) {
      return new S3ArtifactWriter(s3, bucket, keyOf(path), contentTypeOf(path));
    },
    locate(path) {
      return `s3://${bucket}/${keyOf(path)}`;
    },
  };
}

/** Streams into a multipart upload (parts of 8 MB, 4 in flight), so memory stays bounded. */
class S3ArtifactWriter implements ArtifactWriter {
  private readonly body = new PassThrough({ highWaterMark: 8 << 20 });
  private readonly done: Promise<unknown>;
  private failure?: Error;

  constructor(s3: S3Client, bucket: string, key: string, contentType: string) {
    const upload = new Upload({
      client: s3,
      params: { Bucket: bucket, Key: key, Body: this.body, ContentType: contentType },
      partSize: 8 << 20,
      queueSize: 4,
    });
    this.done = upload.done().catch((error: Error) => {
      this.failure = error;
      this.body.destroy();
      throw error;
    });
    this.done.catch(() => undefined);
  }

  async write(chunk: Uint8Array): Promise<void> {
    if (this.failure) throw this.failure;
    if (!this.body.write(chunk)) {
      await new Promise<void>((resolve, reject) => {
        this.body.once('drain', resolve);
        this.done.catch(reject);
      });
    }
  }

  async end(): Promise<void> {
    if (this.failure) throw this.failure;
    this.body.end();
    await this.done;
  }
}

function contentTypeOf(path: string): string {
  if (path.endsWith('.json')) return 'application/json';
  if (path.endsWith('.jsonl')) return 'application/jsonlines';
  if (path.endsWith('.csv')) return 'text/csv';
  if (path.endsWith('.html')) return 'text/html; charset=utf-8';
  if (path.endsWith('.recordio')) return 'application/x-recordio-protobuf';
  if (path.endsWith('.tar.gz')) return 'application/gzip';
  return 'application/octet-stream';
}
