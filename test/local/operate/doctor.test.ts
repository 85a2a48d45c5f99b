import { App, CfnWaitConditionHandle, Stack } from 'aws-cdk-lib';
import { GetAccountSettingsCommand, LambdaClient } from '@aws-sdk/client-lambda';
import {
  ListAWSDefaultServiceQuotasCommand,
  ListServiceQuotasCommand,
  ServiceQuotasClient,
  type ServiceQuota,
} from '@aws-sdk/client-service-quotas';
import { GetParameterCommand, ParameterNotFound, SSMClient } from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { EXIT } from '../../../local/cli-args';
import {
  BOOTSTRAP_VERSION_PARAMETER,
  REQUIRED_BOOTSTRAP_VERSION,
  runDoctor,
  type DockerProbe,
  type DoctorTarget,
} from '../../../local/operate/doctor';
import { parseDeployConfig, type DeployConfig } from '../../../pipeline/config';

const REGION = 'eu-west-1';
const ACCOUNT = '123456789012';

const ssm = mockClient(SSMClient);
const lambda = mockClient(LambdaClient);
const serviceQuotas = mockClient(ServiceQuotasClient);

let target: DoctorTarget;
let lines: string[];
const dockerOk = async (): Promise<DockerProbe> => ({ ok: true, version: '27.3.1' });

function quota(name: string, value: number, code: string): ServiceQuota {
  return {
    ServiceCode: 'sagemaker',
    ServiceName: 'Amazon SageMaker',
    QuotaArn: `arn:aws:servicequotas:${REGION}:${ACCOUNT}:sagemaker/${code}`,
    QuotaCode: code,
    QuotaName: name,
    Value: value,
    Unit: 'None',
    Adjustable: true,
    GlobalQuota: false,
  };
}

/** The default config needs ml.m5.xlarge x1 training, x2 transform, ml.m5.large x4 endpoint. */
function quotas(endpointUsage = 4): void {
  serviceQuotas
    .on(ListServiceQuotasCommand, { NextToken: undefined })
    .resolves({
      Quotas: [
        quota('ml.m5.xlarge for training job usage', 2, 'L-1'),
        quota('ml.p3.2xlarge for training job usage', 0, 'L-2'),
      ],
      NextToken: 'page-2',
    })
    .on(ListServiceQuotasCommand, { NextToken: 'page-2' })
    .resolves({
      Quotas: [
        quota('ml.m5.xlarge for transform job usage', 2, 'L-3'),
        quota('ml.m5.large for endpoint usage', endpointUsage, 'L-4'),
        quota('ml.m5.4xlarge for processing job usage', 1, 'L-5'),
      ],
    });
}

function bootstrap(version = '21'): void {
  ssm.on(GetParameterCommand, { Name: BOOTSTRAP_VERSION_PARAMETER }).resolves({
    Parameter: {
      Name: BOOTSTRAP_VERSION_PARAMETER,
      Type: 'String',
      Value: version,
      Version: 1,
      ARN: `arn:aws:ssm:${REGION}:${ACCOUNT}:parameter${BOOTSTRAP_VERSION_PARAMETER}`,
    },
  });
}

function concurrency(total: number, unreserved: number): void {
  lambda.on(GetAccountSettingsCommand).resolves({
    AccountLimit: {
      TotalCodeSize: 80_530_636_800,
      CodeSizeUnzipped: 262_144_000,
      CodeSizeZipped: 52_428_800,
      ConcurrentExecutions: total,
      UnreservedConcurrentExecutions: unreserved,
    },
    AccountUsage: { TotalCodeSize: 0, FunctionCount: 0 },
  });
}

const config = (overrides: object = {}): DeployConfig => parseDeployConfig(overrides);

async function doctor(
  deployConfig = config(),
  docker = dockerOk,
): Promise<{ code: number; byCheck: (text: string) => string[] }> {
  const code = await runDoctor(target, deployConfig, { io: { out: (line) => lines.push(line) }, docker });
  return { code, byCheck: (text) => lines.filter((line) => line.includes(text)) };
}

beforeEach(() => {
  for (const mock of [ssm, lambda, serviceQuotas]) mock.reset();
  lines = [];
  const clients = {
    ssm: new SSMClient({ region: REGION }),
    lambda: new LambdaClient({ region: REGION }),
    serviceQuotas: new ServiceQuotasClient({ region: REGION }),
  };
  target = {
    kind: 'aws',
    region: REGION,
    clients,
    destroy: () => Object.values(clients).forEach((c) => c.destroy()),
  };
  bootstrap();
  concurrency(1000, 1000);
  quotas();
});

afterEach(() => target.destroy());

describe('runDoctor', () => {
  it('prints one OK line per check and exits 0 on a ready account', async () => {
    const { code } = await doctor();

    expect(code).toBe(EXIT.ok);
    expect(lines).toEqual([
      `OK    credentials         account ${ACCOUNT}, region ${REGION}`,
      'OK    cdk bootstrap       version 21 (the app needs >= 6)',
      'OK    lambda concurrency  reserving 50 for the recommend function (api.reservedConcurrency) leaves 950 of 1000 unreserved (account total 1000; AWS keeps >= 100)',
      'OK    lambda memory       workflowMemoryMb 3008 MB fits every account (new accounts allow 3008 MB)',
      'OK    sagemaker quota     ml.m5.xlarge for training job usage: 2 (needs 1)',
      'OK    sagemaker quota     ml.m5.xlarge for transform job usage: 2 (needs 2)',
      'OK    sagemaker quota     ml.m5.large for endpoint usage: 4 (needs 4)',
      'OK    sagemaker quota     ml.m5.4xlarge for processing job usage: 1 (needs 1)',
      'OK    docker              Docker 27.3.1',
      'no FAIL, 0 WARN: ready for npx cdk deploy --all',
    ]);
    expect(serviceQuotas.commandCalls(ListServiceQuotasCommand).map((c) => c.args[0].input)).toEqual([
      { ServiceCode: 'sagemaker', MaxResults: 100, NextToken: undefined },
      { ServiceCode: 'sagemaker', MaxResults: 100, NextToken: 'page-2' },
    ]);
  });

  it('fails a SageMaker quota below what the config needs, naming the quota and the value needed', async () => {
    quotas(2);

    const { code, byCheck } = await doctor();

    expect(code).toBe(EXIT.failed);
    expect(byCheck('endpoint usage')).toEqual([
      'FAIL  sagemaker quota     ml.m5.large for endpoint usage is 2, this config needs 4 (a blue/green update runs ' +
        'the new fleet beside the old one): request an increase to >= 4 in Service Quotas -> Amazon SageMaker, or ' +
        'jobs fail with ResourceLimitExceeded',
    ]);
    expect(lines[lines.length - 1]).toBe('1 FAIL, 0 WARN: fix the FAIL lines before npx cdk deploy');
  });

  it('counts what the configured instance types and counts need', async () => {
    const { byCheck } = await doctor(
      config({ endpoint: { instanceCount: 3 }, transform: { instanceCount: 2 } }),
    );

    expect(byCheck('endpoint usage')[0]).toContain('is 4, this config needs 6');
    expect(byCheck('transform job usage')[0]).toContain('is 2, this config needs 4');
  });

  it('falls back to the default value of a quota ListServiceQuotas leaves out', async () => {
    serviceQuotas
      .on(ListServiceQuotasCommand)
      .resolves({ Quotas: [quota('ml.m5.xlarge for training job usage', 2, 'L-1')] });
    serviceQuotas.on(ListAWSDefaultServiceQuotasCommand).resolves({
      Quotas: [
        quota('ml.m5.xlarge for transform job usage', 2, 'L-3'),
        quota('ml.m5.large for endpoint usage', 0, 'L-4'),
      ],
    });

    const { byCheck } = await doctor();

    expect(byCheck('transform job usage')[0]).toMatch(/^OK .*: 2 \(needs 2\)$/);
    expect(byCheck('endpoint usage')[0]).toMatch(/^FAIL .* is 0, this config needs 4/);
  });

  it('fails an account that is not bootstrapped and says which bootstrap command to run', async () => {
    ssm.on(GetParameterCommand).rejects(new ParameterNotFound({ $metadata: {}, message: '' }));

    const { code, byCheck } = await doctor();

    expect(code).toBe(EXIT.failed);
    expect(byCheck('cdk bootstrap')).toEqual([
      `FAIL  cdk bootstrap       not bootstrapped (no ${BOOTSTRAP_VERSION_PARAMETER}): run npx cdk bootstrap aws://${ACCOUNT}/${REGION}`,
    ]);
  });

  it('fails a bootstrap older than the app needs', async () => {
    bootstrap('5');
    const { byCheck } = await doctor();
    expect(byCheck('cdk bootstrap')[0]).toMatch(
      /^FAIL .*version 5 is older than the 6 the app needs: run npx cdk bootstrap/,
    );
  });

  it('fails when the reserved concurrency would leave under 100 unreserved, with how to raise it', async () => {
    concurrency(10, 10);

    const { code, byCheck } = await doctor();

    expect(code).toBe(EXIT.failed);
    expect(byCheck('lambda concurrency')).toEqual([
      'FAIL  lambda concurrency  reserving 50 for the recommend function (api.reservedConcurrency) leaves -40 of 10 ' +
        'unreserved; AWS refuses a reservation that leaves under 100: request "Concurrent executions" >= 150 ' +
        '(Service Quotas -> AWS Lambda, now 10)',
    ]);
  });

  it('offers a lower reservation when one fits', async () => {
    concurrency(140, 140);
    const { byCheck } = await doctor();
    expect(byCheck('lambda concurrency')[0]).toMatch(/>= 150 .* or lower api\.reservedConcurrency to 40$/);
  });

  it('warns when docker is missing and still exits 0', async () => {
    const { code, byCheck } = await doctor(config(), async () => ({
      ok: false,
      reason: 'docker is not installed',
    }));

    expect(code).toBe(EXIT.ok);
    expect(byCheck('docker')).toEqual([
      "WARN  docker              docker is not installed: only needed to build the serving image by hand; the pipeline's Checks stage builds it",
    ]);
    expect(lines[lines.length - 1]).toBe('no FAIL, 1 WARN: ready for npx cdk deploy --all');
  });

  it('warns when the workflow functions need more memory than a new account allows', async () => {
    const { byCheck } = await doctor(config({ workflowMemoryMb: 10240, lambdaMemoryQuotaMb: 10240 }));
    expect(byCheck('lambda memory')[0]).toMatch(
      /^WARN .*workflowMemoryMb 10240 MB needs the account's Lambda memory quota raised/,
    );
  });

  it('stops at the credentials when the first call cannot authenticate', async () => {
    const expired = Object.assign(new Error('The security token included in the request is expired'), {
      name: 'ExpiredTokenException',
    });
    ssm.on(GetParameterCommand).rejects(expired);

    const { code } = await doctor();

    expect(code).toBe(EXIT.failed);
    expect(lines[0]).toMatch(/^FAIL {2}credentials {2}could not reach AWS: your AWS session has expired/);
    expect(lambda.commandCalls(GetAccountSettingsCommand)).toHaveLength(0);
    expect(serviceQuotas.commandCalls(ListServiceQuotasCommand)).toHaveLength(0);
  });
});

describe('REQUIRED_BOOTSTRAP_VERSION', () => {
  it("is the version the app's templates require (aws-cdk-lib's CheckBootstrapVersion rule)", () => {
    const app = new App();
    new CfnWaitConditionHandle(new Stack(app, 'Probe'), 'Resource');
    const template = app.synth().getStackByName('Probe').template;
    const rule = template.Rules.CheckBootstrapVersion.Assertions[0].Assert;
    // { Fn::Not: [{ Fn::Contains: [['1', ..., '<required - 1>'], { Ref: BootstrapVersion }] }] }
    const refused = rule['Fn::Not'][0]['Fn::Contains'][0] as string[];
    expect(refused).toEqual(Array.from({ length: REQUIRED_BOOTSTRAP_VERSION - 1 }, (_, i) => String(i + 1)));
  });
});
