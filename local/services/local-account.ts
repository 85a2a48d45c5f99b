/**
 * The account and region the local services answer as: the ones the rendered workflow definitions
 * pretend to run in (pipeline/render.ts RENDER_ACCOUNT / RENDER_REGION), so ARNs and bucket names in
 * the definitions and in the services' answers agree. Repeated here, not imported, because render.ts
 * loads aws-cdk-lib, which the job workers and the API path do not need; test/local checks they match.
 */
export const LOCAL_ACCOUNT = '123456789012';
export const LOCAL_REGION = 'us-east-1';

/**
 * The SageMaker quotas of the local "account": what a typical account has after raising the defaults
 * for a small recommender (new accounts start at 0 for most training and endpoint instances). Keyed
 * by Service Quotas' QuotaName, `<instance type> for training job usage` / `... for transform job
 * usage` / `... for endpoint usage` / `... for processing job usage`. REELFLOW_LOCAL_QUOTAS (JSON of QuotaName to value) or the
 * runtime's `quotas` option override single entries (tests: a quota of 0).
 */
export const LOCAL_SAGEMAKER_QUOTAS: Readonly<Record<string, number>> = Object.fromEntries([
  ...['ml.m5.large', 'ml.m5.xlarge', 'ml.m5.2xlarge', 'ml.c5.xlarge', 'ml.c5.2xlarge'].flatMap((type) => [
    [`${type} for training job usage`, 2],
    [`${type} for transform job usage`, 2],
    [`${type} for endpoint usage`, 4],
  ]),
  // The data steps' Processing jobs (processing.instanceType, one instance each).
  ...['ml.m5.xlarge', 'ml.m5.2xlarge', 'ml.m5.4xlarge'].map((type) => [
    `${type} for processing job usage`,
    1,
  ]),
]);

/** Lambda's account limits of the local account (GetAccountSettings), the defaults of a new account. */
export const LOCAL_LAMBDA_LIMITS = {
  TotalCodeSize: 80_530_636_800,
  CodeSizeUnzipped: 262_144_000,
  CodeSizeZipped: 52_428_800,
  ConcurrentExecutions: 1000,
} as const;

/** The CDK bootstrap version the local account reports (`/cdk-bootstrap/hnb659fds/version`). */
export const LOCAL_BOOTSTRAP = { parameter: '/cdk-bootstrap/hnb659fds/version', version: '30' } as const;
