/**
 * The AWS SDK v3 adapters of the `reelflow verify-aws` ports. Each takes its client, so tests use
 * aws-sdk-client-mock and the local twin points the same adapters at loopback servers.
 */
import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import {
  DeleteObjectsCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  ListObjectVersionsCommand,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import {
  CreateEndpointCommand,
  CreateEndpointConfigCommand,
  CreateModelCommand,
  CreateTrainingJobCommand,
  DeleteEndpointCommand,
  DeleteEndpointConfigCommand,
  DeleteModelCommand,
  DescribeEndpointCommand,
  DescribeTrainingJobCommand,
  type SageMakerClient,
  StopTrainingJobCommand,
} from '@aws-sdk/client-sagemaker';
import { InvokeEndpointCommand, type SageMakerRuntimeClient } from '@aws-sdk/client-sagemaker-runtime';
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { isNotFound } from './cleanup';
import type {
  HttpPort,
  ObjectStorePort,
  RecommendPort,
  SageMakerPort,
  SageMakerRuntimePort,
  StackOutputsPort,
  StoredObject,
  TrainingJobStatus,
} from './ports';

export function sageMakerAdapter(client: SageMakerClient): SageMakerPort {
  return {
    async createTrainingJob(request) {
      await client.send(new CreateTrainingJobCommand(request));
    },
    async describeTrainingJob(name) {
      const job = await client.send(new DescribeTrainingJobCommand({ TrainingJobName: name }));
      return {
        status: (job.TrainingJobStatus ?? 'InProgress') as TrainingJobStatus,
        secondaryStatus: job.SecondaryStatus,
        failureReason: job.FailureReason,
        artifact: job.ModelArtifacts?.S3ModelArtifacts,
        billableSeconds: job.BillableTimeInSeconds ?? job.TrainingTimeInSeconds,
      };
    },
    async stopTrainingJob(name) {
      await client.send(new StopTrainingJobCommand({ TrainingJobName: name }));
    },
    async createModel(request) {
      await client.send(new CreateModelCommand(request));
    },
    async createEndpointConfig(request) {
      await client.send(new CreateEndpointConfigCommand(request));
    },
    async createEndpoint(request) {
      await client.send(new CreateEndpointCommand(request));
    },
    async describeEndpoint(name) {
      try {
        const endpoint = await client.send(new DescribeEndpointCommand({ EndpointName: name }));
        return { status: endpoint.EndpointStatus ?? 'Unknown', failureReason: endpoint.FailureReason };
      } catch (error) {
        if (isNotFound(error)) return undefined;
        throw error;
      }
    },
    async deleteEndpoint(name) {
      await client.send(new DeleteEndpointCommand({ EndpointName: name }));
    },
    async deleteEndpointConfig(name) {
      await client.send(new DeleteEndpointConfigCommand({ EndpointConfigName: name }));
    },
    async deleteModel(name) {
      await client.send(new DeleteModelCommand({ ModelName: name }));
    },
  };
}

export function sageMakerRuntimeAdapter(client: SageMakerRuntimeClient): SageMakerRuntimePort {
  return {
    async invokeEndpoint(request) {
      const response = await client.send(new InvokeEndpointCommand(request));
      return { body: response.Body ?? new Uint8Array(), contentType: response.ContentType };
    },
  };
}

/**
 * The data bucket. `versioned` (the deployed bucket is): listing and deleting cover every version and
 * delete marker, so nothing stays behind; s3rver (the local twin) has no versions.
 */
export function objectStoreAdapter(client: S3Client, options: { versioned: boolean }): ObjectStorePort {
  return {
    async putObject(bucket, key, body) {
      await client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
    },
    async getObject(bucket, key) {
      const response = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      if (!response.Body) throw new Error(`s3://${bucket}/${key} has no body`);
      return response.Body.transformToByteArray();
    },
    async listAll(bucket, prefix) {
      const found: StoredObject[] = [];
      if (options.versioned) {
        let keyMarker: string | undefined;
        let versionMarker: string | undefined;
        do {
          const page = await client.send(
            new ListObjectVersionsCommand({
              Bucket: bucket,
              Prefix: prefix,
              KeyMarker: keyMarker,
              VersionIdMarker: versionMarker,
            }),
          );
          for (const v of [...(page.Versions ?? []), ...(page.DeleteMarkers ?? [])])
            if (v.Key) found.push({ key: v.Key, versionId: v.VersionId });
          keyMarker = page.IsTruncated ? page.NextKeyMarker : undefined;
          versionMarker = page.IsTruncated ? page.NextVersionIdMarker : undefined;
        } while (keyMarker);
        return found;
      }
      let token: string | undefined;
      do {
        const page = await client.send(
          new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }),
        );
        for (const o of page.Contents ?? []) if (o.Key) found.push({ key: o.Key });
        token = page.IsTruncated ? page.NextContinuationToken : undefined;
      } while (token);
      return found;
    },
    async deleteAll(bucket, objects) {
      for (let i = 0; i < objects.length; i += 1000) {
        const batch = objects.slice(i, i + 1000);
        const result = await client.send(
          new DeleteObjectsCommand({
            Bucket: bucket,
            Delete: { Objects: batch.map((o) => ({ Key: o.key, VersionId: o.versionId })), Quiet: true },
          }),
        );
        const failed = result.Errors ?? [];
        if (failed.length > 0)
          throw new Error(
            `could not delete ${failed.length} objects: ${failed[0].Code} ${failed[0].Message}`,
          );
      }
    },
  };
}

export function stackOutputsAdapter(client: CloudFormationClient): StackOutputsPort {
  return {
    async outputs(stackName) {
      const response = await client.send(new DescribeStacksCommand({ StackName: stackName }));
      const stack = response.Stacks?.[0];
      return Object.fromEntries(
        (stack?.Outputs ?? []).flatMap((o) =>
          o.OutputKey && o.OutputValue ? [[o.OutputKey, o.OutputValue]] : [],
        ),
      );
    },
  };
}

/** GET over HTTPS with a time limit (the API answers within API Gateway's 29 s). */
export function fetchAdapter(timeoutMs = 30_000): HttpPort {
  return {
    async get(url) {
      const response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
      return { status: response.status, body: await response.text() };
    },
  };
}

/**
 * The recommend Lambda's own handler (functions/api/recommend.ts), in process, with its own module-level
 * SageMaker Runtime client, pointed at an endpoint through ENDPOINT_NAME as the stack binds it. Loaded on
 * first use: Powertools and the SDK read their environment when the module loads, so the caller sets it
 * first (region, profile, quiet logs).
 */
export function lambdaRecommendAdapter(env: NodeJS.ProcessEnv = process.env): RecommendPort {
  return {
    async recommend(endpointName, userId) {
      const { handler } =
        require('../../functions/api/recommend') as typeof import('../../functions/api/recommend');
      const previous = env.ENDPOINT_NAME;
      env.ENDPOINT_NAME = endpointName;
      try {
        return (await handler(apiEvent(userId))) as APIGatewayProxyResult;
      } finally {
        if (previous === undefined) delete env.ENDPOINT_NAME;
        else env.ENDPOINT_NAME = previous;
      }
    },
  };
}

/** The proxy event API Gateway sends for `GET /recommendEndpoint?user_id=N` (the fields the handler reads). */
function apiEvent(userId: number): APIGatewayProxyEvent {
  return {
    httpMethod: 'GET',
    path: '/recommendEndpoint',
    resource: '/recommendEndpoint',
    queryStringParameters: { user_id: String(userId) },
    multiValueQueryStringParameters: { user_id: [String(userId)] },
    headers: {},
    multiValueHeaders: {},
    pathParameters: null,
    stageVariables: null,
    body: null,
    isBase64Encoded: false,
    requestContext: {} as APIGatewayProxyEvent['requestContext'],
  };
}
