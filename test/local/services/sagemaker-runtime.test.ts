/**
 * The local SageMaker Runtime checks InvokeEndpoint against AWS's model before any container sees the
 * request: what the real service refuses (a name its pattern or length rejects, a body over 6 MB, a header
 * too long) is refused here with its `ValidationError`, through the SDK client the recommend handler uses.
 */
import { InvokeEndpointCommand, SageMakerRuntimeClient } from '@aws-sdk/client-sagemaker-runtime';
import type { LoopbackServer } from '../../../local/services/http';
import type { LocalSageMaker } from '../../../local/services/sagemaker';
import { startSageMakerRuntime } from '../../../local/services/sagemaker-runtime';

describe('local SageMaker Runtime request validation', () => {
  const calls: { endpoint: string; body: string; contentType: string }[] = [];
  const sagemaker = {
    invokeEndpoint: async (endpoint: string, request: { body: string; contentType: string }) => {
      calls.push({ endpoint, body: request.body, contentType: request.contentType });
      return { status: 200, body: '{"ok":true}', contentType: 'application/json', variantName: 'AllTraffic' };
    },
  } as unknown as LocalSageMaker;
  let server: LoopbackServer;
  let client: SageMakerRuntimeClient;

  beforeAll(async () => {
    server = await startSageMakerRuntime(sagemaker);
    client = new SageMakerRuntimeClient({
      endpoint: server.url,
      region: 'us-east-1',
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
      maxAttempts: 1,
    });
  });
  afterAll(async () => {
    client.destroy();
    await server.close();
  });
  beforeEach(() => calls.splice(0));

  const invoke = (input: Partial<ConstructorParameters<typeof InvokeEndpointCommand>[0]>) =>
    client.send(
      new InvokeEndpointCommand({
        EndpointName: 'reelflow-endpoint',
        Body: new TextEncoder().encode('{"user_id":3}'),
        ContentType: 'application/json',
        ...input,
      }),
    );

  it('passes a valid request to the endpoint', async () => {
    const out = await invoke({});
    expect(new TextDecoder().decode(out.Body)).toBe('{"ok":true}');
    expect(out.InvokedProductionVariant).toBe('AllTraffic');
    expect(calls).toEqual([
      { endpoint: 'reelflow-endpoint', body: '{"user_id":3}', contentType: 'application/json' },
    ]);
  });

  it.each([
    [
      'an endpoint name over 63 characters',
      { EndpointName: 'e'.repeat(64) },
      `Value '${'e'.repeat(64)}' at 'endpointName' failed to satisfy constraint: Member must have length less than or equal to 63`,
    ],
    [
      'an endpoint name its pattern refuses',
      { EndpointName: 'bad_name' },
      "Value 'bad_name' at 'endpointName' failed to satisfy constraint: Member must satisfy regular expression pattern",
    ],
    [
      'a body over 6 MB',
      { Body: new Uint8Array(6 * 1024 * 1024 + 1) },
      "at 'body' failed to satisfy constraint: Member must have length less than or equal to 6291456",
    ],
    [
      'custom attributes over 1024 characters',
      { CustomAttributes: 'a'.repeat(1025) },
      "at 'customAttributes' failed to satisfy constraint: Member must have length less than or equal to 1024",
    ],
  ])('refuses %s with ValidationError before any container sees it', async (_what, input, message) => {
    const error = (await invoke(input).catch((e: unknown) => e)) as Error & {
      $metadata: { httpStatusCode: number };
    };
    expect(error.name).toBe('ValidationError');
    expect(error.$metadata.httpStatusCode).toBe(400);
    expect(error.message).toMatch(/^1 validation error detected: /);
    expect(error.message).toContain(message);
    expect(calls).toEqual([]);
  });
});
