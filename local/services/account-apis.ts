/**
 * The account-level APIs the operator CLI's `doctor` reads, answered for the local account
 * (local-account.ts):
 *
 * - Service Quotas `ListServiceQuotas` (ServiceQuotasV20190624, awsJson1_1) for ServiceCode
 *   `sagemaker`: one quota per instance type and use (`ml.m5.xlarge for training job usage`, ...),
 *   filtered by QuotaCode, paginated with MaxResults (default 100) and NextToken. Any other service
 *   code: NoSuchResourceException (the twin models SageMaker's quotas only); a NextToken it did not
 *   issue: InvalidPaginationTokenException.
 * - Lambda `GetAccountSettings` (restJson1 `GET /2016-08-19/account-settings/`): AccountLimit and
 *   AccountUsage, the unreserved concurrency net of the functions' reserved concurrency.
 */
import { createHash } from 'node:crypto';
import { AwsServiceError, type AwsJsonService, type AwsRestRoute } from './aws-json-server';
import { LOCAL_ACCOUNT, LOCAL_LAMBDA_LIMITS, LOCAL_REGION, LOCAL_SAGEMAKER_QUOTAS } from './local-account';

/** The quota values: the local account's table, then `REELFLOW_LOCAL_QUOTAS`, then `overrides`. */
export function sageMakerQuotas(
  overrides: Readonly<Record<string, number>> = {},
  env: NodeJS.ProcessEnv = process.env,
): Record<string, number> {
  const fromEnv = env.REELFLOW_LOCAL_QUOTAS
    ? (JSON.parse(env.REELFLOW_LOCAL_QUOTAS) as Record<string, number>)
    : {};
  return { ...LOCAL_SAGEMAKER_QUOTAS, ...fromEnv, ...overrides };
}

/** A stable quota code per name, in Service Quotas' `L-XXXXXXXX` form. */
export function quotaCode(name: string): string {
  return `L-${createHash('sha256').update(name).digest('hex').slice(0, 8).toUpperCase()}`;
}

const PAGE = 100;

export function serviceQuotasJsonService(quotas: Readonly<Record<string, number>>): AwsJsonService {
  const list = Object.entries(quotas)
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([name, value]) => {
      const code = quotaCode(name);
      return {
        ServiceCode: 'sagemaker',
        ServiceName: 'Amazon SageMaker',
        QuotaArn: `arn:aws:servicequotas:${LOCAL_REGION}:${LOCAL_ACCOUNT}:sagemaker/${code}`,
        QuotaCode: code,
        QuotaName: name,
        Value: value,
        Unit: 'None',
        Adjustable: true,
        GlobalQuota: false,
        QuotaAppliedAtLevel: 'ACCOUNT',
      };
    });
  return {
    targetPrefix: 'ServiceQuotasV20190624',
    version: '1.1',
    operations: {
      ListServiceQuotas: (input) => {
        if (input.ServiceCode !== 'sagemaker') {
          throw new AwsServiceError(
            'NoSuchResourceException',
            `The request failed because the specified service does not exist: ${String(input.ServiceCode)} ` +
              '(the local twin has the quotas of sagemaker only)',
          );
        }
        const matching = list.filter((q) => input.QuotaCode === undefined || q.QuotaCode === input.QuotaCode);
        const size = typeof input.MaxResults === 'number' ? input.MaxResults : PAGE;
        let start = 0;
        if (input.NextToken !== undefined) {
          const offset = Number(Buffer.from(String(input.NextToken), 'base64').toString('utf8'));
          if (!Number.isInteger(offset) || offset <= 0 || offset >= matching.length) {
            throw new AwsServiceError(
              'InvalidPaginationTokenException',
              'Invalid pagination token provided.',
            );
          }
          start = offset;
        }
        const end = start + size;
        return {
          Quotas: matching.slice(start, end),
          ...(end < matching.length ? { NextToken: Buffer.from(String(end)).toString('base64') } : {}),
        };
      },
    },
  };
}

/** Lambda GetAccountSettings for the local account's functions (`usage` is read per request). */
export function lambdaAccountSettingsRoute(
  usage: () => {
    readonly functionCount: number;
    /** The concurrency the functions reserve (the recommend function's). */
    readonly reservedConcurrency: number;
  },
): AwsRestRoute {
  return {
    method: 'GET',
    path: '/2016-08-19/account-settings/',
    model: 'lambda',
    operation: 'GetAccountSettings',
    handle: () => {
      const { functionCount, reservedConcurrency } = usage();
      return {
        AccountLimit: {
          ...LOCAL_LAMBDA_LIMITS,
          UnreservedConcurrentExecutions: LOCAL_LAMBDA_LIMITS.ConcurrentExecutions - reservedConcurrency,
        },
        AccountUsage: { TotalCodeSize: 0, FunctionCount: functionCount },
      };
    },
  };
}
