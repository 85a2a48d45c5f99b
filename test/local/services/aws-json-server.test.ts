import {
  CodePipelineClient,
  PutJobSuccessResultCommand,
  StartPipelineExecutionCommand,
} from '@aws-sdk/client-codepipeline';
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { GetParameterCommand, PutParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { startAwsJsonServer } from '../../../local/services/aws-json-server';
import { LocalCodePipelineApi } from '../../../local/services/codepipeline';
import type { LoopbackServer } from '../../../local/services/http';
import { LocalParameterStore, ssmJsonService } from '../../../local/services/parameters';

/**
 * The handlers' own SDK clients (SSM, CodePipeline) against the local JSON API server: the wire protocol,
 * the results and the error codes they see.
 */
describe('the local AWS JSON API server with the real SDK clients', () => {
  const parameters = new LocalParameterStore();
  const started: Record<string, string>[] = [];
  const codePipeline = new LocalCodePipelineApi('reelflow-release', (variables) => {
    started.push({ ...variables });
    return `run-${started.length}`;
  });
  const unknown: string[] = [];
  let server: LoopbackServer;
  const client = { region: 'us-east-1', credentials: { accessKeyId: 'a', secretAccessKey: 'b' } };

  beforeAll(async () => {
    server = await startAwsJsonServer([ssmJsonService(parameters), codePipeline.service()], {
      onUnknown: (call) => unknown.push(call),
    });
  });
  afterAll(() => server.close());

  it('stores and reads an SSM parameter, and reports a missing one as ParameterNotFound', async () => {
    const ssm = new SSMClient({ ...client, endpoint: server.url });
    await ssm.send(
      new PutParameterCommand({
        Name: '/reelflow/production-model',
        Value: '{"runId":"r1"}',
        Type: 'SecureString',
        Overwrite: true,
      }),
    );
    const read = await ssm.send(
      new GetParameterCommand({ Name: '/reelflow/production-model', WithDecryption: true }),
    );
    expect(read.Parameter).toMatchObject({ Value: '{"runId":"r1"}', Version: 1, Type: 'SecureString' });
    await expect(ssm.send(new GetParameterCommand({ Name: '/nope' }))).rejects.toMatchObject({
      name: 'ParameterNotFound',
    });
    // Not overwriting an existing parameter is refused, as SSM does.
    await expect(
      ssm.send(new PutParameterCommand({ Name: '/reelflow/production-model', Value: 'x', Type: 'String' })),
    ).rejects.toMatchObject({ name: 'ParameterAlreadyExists' });
  });

  it('starts one run per client request token and records job results', async () => {
    const pipeline = new CodePipelineClient({ ...client, endpoint: server.url });
    const start = (token: string) =>
      pipeline.send(
        new StartPipelineExecutionCommand({
          name: 'reelflow-release',
          variables: [{ name: 'triggerKey', value: 'ratings/a.csv' }],
          clientRequestToken: token,
        }),
      );
    const first = await start('token-a');
    const again = await start('token-a');
    const other = await start('token-b');
    expect([first.pipelineExecutionId, again.pipelineExecutionId, other.pipelineExecutionId]).toEqual([
      'run-1',
      'run-1',
      'run-2',
    ]);
    expect(started[0]).toEqual({ triggerKey: 'ratings/a.csv' });

    const job = codePipeline.createJob();
    await pipeline.send(new PutJobSuccessResultCommand({ jobId: job, outputVariables: { gate: 'passed' } }));
    expect(codePipeline.result(job)).toEqual({ status: 'Succeeded', outputVariables: { gate: 'passed' } });
    await expect(pipeline.send(new PutJobSuccessResultCommand({ jobId: 'unknown' }))).rejects.toMatchObject({
      name: 'JobNotFoundException',
    });
  });

  it('refuses a call to a service it does not provide, so nothing reaches AWS', async () => {
    const sns = new SNSClient({ ...client, endpoint: server.url, maxAttempts: 1 });
    await expect(
      sns.send(new PublishCommand({ TopicArn: 'arn:aws:sns:us-east-1:1:t', Message: 'm' })),
    ).rejects.toThrow();
    expect(unknown).toHaveLength(1);
    expect(unknown[0]).toMatch(/^POST \//);
  });
});
