/**
 * The ports of `reelflow verify-aws`: the few AWS calls the check makes, as interfaces. The AWS SDK v3
 * adapters (aws-adapters.ts) implement them for a real account; the local twin's adapter
 * (local-twin.ts) implements the SageMaker port on top of LocalSageMaker, so the whole flow also runs
 * offline. Requests keep the SDK's own shapes: what a test sees in a port call is what AWS receives.
 */
import type {
  CreateEndpointConfigInput,
  CreateEndpointInput,
  CreateModelInput,
  CreateTrainingJobRequest,
} from '@aws-sdk/client-sagemaker';
import type { APIGatewayProxyResult } from 'aws-lambda';

/** TrainingJobStatus values DescribeTrainingJob returns. */
export type TrainingJobStatus = 'InProgress' | 'Completed' | 'Failed' | 'Stopping' | 'Stopped';

/** The parts of DescribeTrainingJob the check reads. */
export interface TrainingJobState {
  readonly status: TrainingJobStatus;
  readonly secondaryStatus?: string;
  readonly failureReason?: string;
  /** `ModelArtifacts.S3ModelArtifacts` of a completed job. */
  readonly artifact?: string;
  /** Billed seconds (BillableTimeInSeconds, or TrainingTimeInSeconds when absent). */
  readonly billableSeconds?: number;
}

/** The parts of DescribeEndpoint the check reads. */
export interface EndpointState {
  readonly status: string;
  readonly failureReason?: string;
}

/** The SageMaker control-plane calls of the check. */
export interface SageMakerPort {
  createTrainingJob(request: CreateTrainingJobRequest): Promise<void>;
  describeTrainingJob(name: string): Promise<TrainingJobState>;
  stopTrainingJob(name: string): Promise<void>;
  createModel(request: CreateModelInput): Promise<void>;
  createEndpointConfig(request: CreateEndpointConfigInput): Promise<void>;
  createEndpoint(request: CreateEndpointInput): Promise<void>;
  /** Resolves to undefined when the endpoint does not exist. */
  describeEndpoint(name: string): Promise<EndpointState | undefined>;
  deleteEndpoint(name: string): Promise<void>;
  deleteEndpointConfig(name: string): Promise<void>;
  deleteModel(name: string): Promise<void>;
}

/** One InvokeEndpoint request, as the SDK takes it. */
export interface InvokeRequest {
  readonly EndpointName: string;
  readonly ContentType: string;
  readonly Accept: string;
  readonly Body: string;
}

/** SageMaker Runtime: the direct endpoint call of the check. */
export interface SageMakerRuntimePort {
  invokeEndpoint(
    request: InvokeRequest,
  ): Promise<{ readonly body: Uint8Array; readonly contentType?: string }>;
}

/** The recommend Lambda's handler, pointed at an endpoint (functions/api/recommend.ts). */
export interface RecommendPort {
  recommend(endpointName: string, userId: number): Promise<APIGatewayProxyResult>;
}

/** The data bucket calls of the check. */
export interface ObjectStorePort {
  putObject(bucket: string, key: string, body: Uint8Array): Promise<void>;
  getObject(bucket: string, key: string): Promise<Uint8Array>;
  /** Every stored object (every version and delete marker in a versioned bucket) under `prefix`. */
  listAll(bucket: string, prefix: string): Promise<readonly StoredObject[]>;
  deleteAll(bucket: string, objects: readonly StoredObject[]): Promise<void>;
}

export interface StoredObject {
  readonly key: string;
  readonly versionId?: string;
}

/** CloudFormation: the deployed stack's outputs. */
export interface StackOutputsPort {
  /** OutputKey -> OutputValue of the stack. */
  outputs(stackName: string): Promise<Readonly<Record<string, string>>>;
}

/** The deployed API, over HTTPS. */
export interface HttpPort {
  get(url: string): Promise<{ readonly status: number; readonly body: string }>;
}

/** Waits `ms`; rejects with the signal's reason when it aborts first. */
export type Sleep = (ms: number, signal: AbortSignal) => Promise<void>;

/** Everything `runVerifyAws` talks to. */
export interface VerifyPorts {
  readonly sagemaker: SageMakerPort;
  readonly runtime: SageMakerRuntimePort;
  readonly recommend: RecommendPort;
  readonly storage: ObjectStorePort;
  readonly stack: StackOutputsPort;
  readonly http: HttpPort;
}
