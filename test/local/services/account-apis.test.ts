/**
 * The account-level APIs of the local twin (services/account-apis.ts): Service Quotas' SageMaker quotas
 * (the local account's table, overridden by REELFLOW_LOCAL_QUOTAS and by the runtime's option), and
 * Lambda's GetAccountSettings on its restJson1 route, through real SDK clients.
 */
import { GetAccountSettingsCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { ListServiceQuotasCommand, ServiceQuotasClient } from '@aws-sdk/client-service-quotas';
import {
  lambdaAccountSettingsRoute,
  quotaCode,
  sageMakerQuotas,
  serviceQuotasJsonService,
} from '../../../local/services/account-apis';
import { startAwsJsonServer } from '../../../local/services/aws-json-server';
import type { LoopbackServer } from '../../../local/services/http';
import { LOCAL_SAGEMAKER_QUOTAS } from '../../../local/services/local-account';

const quotas = sageMakerQuotas(
  { 'ml.m5.large for endpoint usage': 1 },
  { REELFLOW_LOCAL_QUOTAS: JSON.stringify({ 'ml.m5.xlarge for training job usage': 0 }) },
);
let server: LoopbackServer;
const config = () => ({
  endpoint: server.url,
  region: 'us-east-1',
  credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
});

beforeAll(async () => {
  server = await startAwsJsonServer([serviceQuotasJsonService(quotas)], {
    routes: [lambdaAccountSettingsRoute(() => ({ functionCount: 8, reservedConcurrency: 50 }))],
  });
});
afterAll(() => server.close());

describe('the local account APIs', () => {
  it('lists the SageMaker quotas with overrides from the environment and the options, paged', async () => {
    const client = new ServiceQuotasClient(config());
    try {
      const first = await client.send(
        new ListServiceQuotasCommand({ ServiceCode: 'sagemaker', MaxResults: 10 }),
      );
      expect(first.Quotas).toHaveLength(10);
      const rest = await client.send(
        new ListServiceQuotasCommand({ ServiceCode: 'sagemaker', NextToken: first.NextToken }),
      );
      const all = [...first.Quotas!, ...rest.Quotas!];
      expect(rest.NextToken).toBeUndefined();
      expect(all).toHaveLength(Object.keys(LOCAL_SAGEMAKER_QUOTAS).length);
      const byName = Object.fromEntries(all.map((q) => [q.QuotaName, q.Value]));
      expect(byName['ml.m5.xlarge for training job usage']).toBe(0);
      expect(byName['ml.m5.large for endpoint usage']).toBe(1);
      expect(byName['ml.m5.xlarge for endpoint usage']).toBe(
        LOCAL_SAGEMAKER_QUOTAS['ml.m5.xlarge for endpoint usage'],
      );
      const code = quotaCode('ml.m5.xlarge for transform job usage');
      const one = await client.send(
        new ListServiceQuotasCommand({ ServiceCode: 'sagemaker', QuotaCode: code }),
      );
      expect(one.Quotas).toEqual([
        expect.objectContaining({
          QuotaName: 'ml.m5.xlarge for transform job usage',
          QuotaCode: code,
          Unit: 'None',
        }),
      ]);
      await expect(
        client.send(new ListServiceQuotasCommand({ ServiceCode: 'sagemaker', NextToken: 'OTk5' })),
      ).rejects.toMatchObject({ name: 'InvalidPaginationTokenException' });
      await expect(
        client.send(new ListServiceQuotasCommand({ ServiceCode: 'sagemaker', MaxResults: 0 })),
      ).rejects.toMatchObject({ name: 'ValidationException' });
    } finally {
      client.destroy();
    }
  });

  it('answers Lambda GetAccountSettings on its REST path', async () => {
    const client = new LambdaClient(config());
    try {
      const settings = await client.send(new GetAccountSettingsCommand({}));
      expect(settings.AccountLimit).toMatchObject({
        ConcurrentExecutions: 1000,
        UnreservedConcurrentExecutions: 950,
      });
      expect(settings.AccountUsage).toEqual({ TotalCodeSize: 0, FunctionCount: 8 });
    } finally {
      client.destroy();
    }
  });
});
