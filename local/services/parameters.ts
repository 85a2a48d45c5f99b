/**
 * Local SSM Parameter Store: where the deploy workflow's record-deployment handler writes the production
 * record (PutParameter, through the SSM JSON API on loopback) and the retrain workflow reads it
 * (`aws-sdk:ssm:getParameter`). Saved to a file, so the production record survives a restart as the
 * endpoint does. SecureString values are kept as given: the local store has no KMS.
 */
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { AwsServiceError, type AwsJsonService } from './aws-json-server';
import { LOCAL_ACCOUNT, LOCAL_REGION } from './local-account';

export interface StoredParameter {
  readonly Name: string;
  readonly Type: string;
  readonly Value: string;
  readonly Version: number;
  readonly LastModifiedDate: string;
  readonly ARN: string;
  readonly DataType: 'text';
  readonly KeyId?: string;
  readonly Description?: string;
}

/** An SSM API error: `code` is the API's error code (`ParameterNotFound`, ...). */
export class ParameterStoreError extends Error {
  constructor(
    readonly code: 'ParameterNotFound' | 'ParameterAlreadyExists' | 'ValidationException',
    message: string,
  ) {
    super(message);
    this.name = 'ParameterStoreError';
  }
}

export class LocalParameterStore {
  private readonly values: Record<string, StoredParameter>;

  constructor(private readonly file?: string) {
    this.values =
      file && existsSync(file)
        ? (JSON.parse(readFileSync(file, 'utf8')) as Record<string, StoredParameter>)
        : {};
  }

  getParameter(input: { Name?: string }): { Parameter: StoredParameter } {
    const parameter = input.Name ? this.values[input.Name] : undefined;
    if (!parameter)
      throw new ParameterStoreError('ParameterNotFound', `Parameter ${input.Name ?? ''} not found.`);
    return { Parameter: parameter };
  }

  putParameter(input: {
    Name?: string;
    Value?: string;
    Type?: string;
    KeyId?: string;
    Overwrite?: boolean;
    Description?: string;
  }): { Version: number; Tier: 'Standard' } {
    const { Name: name, Value: value } = input;
    if (!name || value === undefined)
      throw new ParameterStoreError('ValidationException', 'Name and Value are required');
    if (value.length > 4096) {
      throw new ParameterStoreError(
        'ValidationException',
        `the value of ${name} is ${value.length} characters; a Standard parameter holds 4096`,
      );
    }
    const previous = this.values[name];
    if (previous && !input.Overwrite) {
      throw new ParameterStoreError(
        'ParameterAlreadyExists',
        'The parameter already exists. To overwrite this value, set the overwrite option in the request to true.',
      );
    }
    const version = (previous?.Version ?? 0) + 1;
    this.values[name] = {
      Name: name,
      Type: input.Type ?? 'String',
      Value: value,
      Version: version,
      LastModifiedDate: new Date().toISOString(),
      ARN: `arn:aws:ssm:${LOCAL_REGION}:${LOCAL_ACCOUNT}:parameter/${name.replace(/^\//, '')}`,
      DataType: 'text',
      ...(input.KeyId ? { KeyId: input.KeyId } : {}),
      ...(input.Description ? { Description: input.Description } : {}),
    };
    if (this.file) {
      writeFileSync(`${this.file}.tmp`, `${JSON.stringify(this.values, null, 2)}\n`);
      renameSync(`${this.file}.tmp`, this.file);
    }
    return { Version: version, Tier: 'Standard' };
  }

  /** The value of `name`, or undefined. */
  value(name: string): string | undefined {
    return this.values[name]?.Value;
  }
}

/**
 * The store as SSM's JSON API (target prefix `AmazonSSM`, awsJson1_1), which record-deployment's
 * SSMClient calls. Timestamps go over the wire as epoch seconds, as the protocol has them.
 */
export function ssmJsonService(store: LocalParameterStore): AwsJsonService {
  const call = <T>(work: () => T): T => {
    try {
      return work();
    } catch (error) {
      if (error instanceof ParameterStoreError) throw new AwsServiceError(error.code, error.message);
      throw error;
    }
  };
  return {
    targetPrefix: 'AmazonSSM',
    version: '1.1',
    operations: {
      PutParameter: (input) => call(() => store.putParameter(input)),
      GetParameter: (input) =>
        call(() => {
          const { Parameter } = store.getParameter(input);
          return {
            Parameter: { ...Parameter, LastModifiedDate: Date.parse(Parameter.LastModifiedDate) / 1000 },
          };
        }),
    },
  };
}
