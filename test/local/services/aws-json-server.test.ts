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
 * the results and the error codes they see, including AWS's refusal of requests that break its API model.
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
    const unknownJob = '00000000-0000-4000-8000-000000000000';
    await expect(pipeline.send(new PutJobSuccessResultCommand({ jobId: unknownJob }))).rejects.toMatchObject({
      name: 'JobNotFoundException',
    });
  });

  it('refuses a request that breaks the API model with the error AWS answers, before the operation runs', async () => {
    const pipeline = new CodePipelineClient({ ...client, endpoint: server.url });
    await expect(pipeline.send(new PutJobSuccessResultCommand({ jobId: 'unknown' }))).rejects.toMatchObject({
      name: 'ValidationException',
      message:
        "1 validation error detected: Value 'unknown' at 'jobId' failed to satisfy constraint: Member must " +
        'satisfy regular expression pattern: [0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}',
    });
    const ssm = new SSMClient({ ...client, endpoint: server.url });
    await expect(
      ssm.send(new PutParameterCommand({ Name: '/reelflow/x', Value: 'v', Type: 'Plain' as never })),
    ).rejects.toMatchObject({
      name: 'ValidationException',
      message:
        "1 validation error detected: Value 'Plain' at 'type' failed to satisfy constraint: Member must " +
        'satisfy enum value set: [String, StringList, SecureString]',
    });
    expect(parameters.value('/reelflow/x')).toBeUndefined();
  });

  it('fails a wrong JSON type as SerializationException and an unknown member by name (raw requests)', async () => {
    const post = (body: unknown) =>
      fetch(server.url, {
        method: 'POST',
        headers: { 'x-amz-target': 'AmazonSSM.GetParameter', 'content-type': 'application/x-amz-json-1.1' },
        body: JSON.stringify(body),
      });
    const wrongType = await post({ Name: 5 });
    expect(wrongType.status).toBe(400);
    expect(wrongType.headers.get('x-amzn-errortype')).toBe('SerializationException');
    expect(await wrongType.json()).toEqual({
      __type: 'SerializationException',
      message: "NUMBER_VALUE can not be converted to a String (at 'name')",
    });
    const extra = await post({ Name: '/p', Bogus: true });
    expect(extra.headers.get('x-amzn-errortype')).toBe('ValidationException');
    expect(((await extra.json()) as { message: string }).message).toContain('The field "Bogus"');
  });

  it('skips validation when a service declares model: false', async () => {
    const seen: unknown[] = [];
    const loose = await startAwsJsonServer([
      {
        targetPrefix: 'AmazonSSM',
        version: '1.1',
        model: false,
        operations: { GetParameter: (i) => seen.push(i) },
      },
    ]);
    try {
      const response = await fetch(loose.url, {
        method: 'POST',
        headers: { 'x-amz-target': 'AmazonSSM.GetParameter' },
        body: JSON.stringify({ Name: 5 }),
      });
      expect(response.status).toBe(200);
      expect(seen).toEqual([{ Name: 5 }]);
    } finally {
      await loose.close();
    }
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
