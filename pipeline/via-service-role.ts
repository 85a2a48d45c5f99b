/**
 * A role whose use of one KMS key is limited to requests an AWS service makes on its behalf
 * (`kms:ViaService`). The CodeBuild projects use the project key only through S3: the build output and
 * the pipeline's artifact bucket are SSE-KMS objects. CloudWatch Logs encrypts the build logs itself,
 * under the key policy (data-bucket.ts), not with the role.
 */
import { Aws, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type { Construct } from 'constructs';

/** Props of {@link ViaServiceKeyRole}. */
export interface ViaServiceKeyRoleProps extends iam.RoleProps {
  /** The key whose statements get the condition. */
  readonly key: kms.IKey;
  /** The services (endpoint prefixes, e.g. `s3`) allowed to use the key for the role, in the role's region. */
  readonly viaServices: readonly string[];
}

/**
 * An IAM role that adds `kms:ViaService` to every statement granting KMS actions on the key, whoever
 * adds it (CDK's grants included), so the key cannot be used directly with the role's credentials.
 */
export class ViaServiceKeyRole extends iam.Role {
  private readonly key: kms.IKey;
  private readonly viaService: string | string[];

  constructor(scope: Construct, id: string, props: ViaServiceKeyRoleProps) {
    const { key, viaServices, ...roleProps } = props;
    super(scope, id, roleProps);
    this.key = key;
    const region = Stack.of(this).region;
    const values = viaServices.map((service) => `${service}.${region}.${Aws.URL_SUFFIX}`);
    this.viaService = values.length === 1 ? values[0] : values;
  }

  override addToPrincipalPolicy(statement: iam.PolicyStatement): iam.AddToPrincipalPolicyResult {
    const onKey = statement.resources.length > 0 && statement.resources.every((r) => r === this.key.keyArn);
    const kmsOnly = statement.actions.length > 0 && statement.actions.every((a) => a.startsWith('kms:'));
    if (onKey && kmsOnly && statement.effect === iam.Effect.ALLOW) {
      statement.addCondition('StringEquals', { 'kms:ViaService': this.viaService });
    }
    return super.addToPrincipalPolicy(statement);
  }
}
