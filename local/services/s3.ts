/**
 * Local S3: a real S3-compatible server (s3rver) on loopback. Handlers reach it through the AWS SDK
 * with an endpoint override, so the code paths that run in AWS run here too. Object-created events
 * under a prefix are forwarded to a callback: the local stand-in for the EventBridge rule.
 */
import type { S3Client } from '@aws-sdk/client-s3';
import S3rver from 's3rver';
import { localS3Client } from './s3-client';

export interface LocalS3Options {
  /** Folder the objects live in (kept between runs unless `reset`). */
  readonly directory: string;
  readonly buckets: readonly string[];
  /** Port on 127.0.0.1. @default 0 - any free port */
  readonly port?: number;
  /** Delete every object when the server stops. @default false */
  readonly reset?: boolean;
}

/** Thrown when the server is used before `start()`. */
export class LocalS3NotStartedError extends Error {
  constructor() {
    super('the local S3 is not started');
    this.name = 'LocalS3NotStartedError';
  }
}

export interface ObjectCreatedEvent {
  readonly bucket: string;
  readonly key: string;
  readonly size?: number;
  readonly eTag?: string;
  readonly time: string;
}

export class LocalS3 {
  private server?: S3rver;
  private endpointUrl?: string;
  private readonly listeners: ((event: ObjectCreatedEvent) => void)[] = [];

  constructor(private readonly options: LocalS3Options) {}

  /** Starts the server; resolves to its endpoint URL. */
  async start(): Promise<string> {
    const server = new S3rver({
      address: '127.0.0.1',
      port: this.options.port ?? 0,
      silent: true,
      directory: this.options.directory,
      resetOnClose: this.options.reset ?? false,
      configureBuckets: this.options.buckets.map((name) => ({ name })),
    });
    server.on('event', (event) => {
      for (const record of event.Records) {
        if (!record.eventName.startsWith('ObjectCreated')) continue;
        const created: ObjectCreatedEvent = {
          bucket: record.s3.bucket.name,
          key: decodeURIComponent(record.s3.object.key.replace(/\+/g, ' ')),
          size: record.s3.object.size,
          eTag: record.s3.object.eTag,
          time: record.eventTime,
        };
        for (const listener of this.listeners) listener(created);
      }
    });
    const address = await server.run();
    this.server = server;
    this.endpointUrl = `http://127.0.0.1:${address.port}`;
    return this.endpointUrl;
  }

  get endpoint(): string {
    if (!this.endpointUrl) throw new LocalS3NotStartedError();
    return this.endpointUrl;
  }

  /** Calls `listener` for every object created in any bucket. */
  onObjectCreated(listener: (event: ObjectCreatedEvent) => void): void {
    this.listeners.push(listener);
  }

  /**
   * An S3 client bound to this server. Checksums only WHEN_REQUIRED: with the SDK v3 default a
   * streamed PutObject is sent aws-chunked and s3rver would store the chunk framing in the object.
   */
  client(): S3Client {
    return localS3Client(this.endpoint);
  }

  async stop(): Promise<void> {
    if (this.server) await this.server.close();
    this.server = undefined;
  }
}
