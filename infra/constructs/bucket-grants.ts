import { Aws } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { acknowledgePolicies, resourceFinding } from '../../pipeline/nag';

/** What a principal may do under which key prefixes of the data bucket (prefixes end with `/`). */
export interface PrefixAccess {
  /** Prefixes the principal reads (GetObject) and lists. */
  readonly read?: readonly string[];
  /** Prefixes the principal writes (PutObject, multipart) and lists. */
  readonly write?: readonly string[];
}

/**
 * Grants object access under the given prefixes only, with the KMS use the bucket's SSE-KMS needs
 * (only through S3). Written out instead of `bucket.grantRead(principal, pattern)`, which grants
 * `s3:GetObject*`, `s3:List*` and `kms:ReEncrypt*` on the whole bucket and key: here every action is
 * named and listing is limited to the same prefixes with an `s3:prefix` condition. Returns the
 * combined grant of every statement.
 */
export function grantPrefixAccess(
  grantee: iam.IGrantable,
  bucket: s3.IBucket,
  key: kms.IKey,
  access: PrefixAccess,
): iam.Grant {
  const read = access.read ?? [];
  const write = access.write ?? [];
  const grants: iam.Grant[] = [];
  const allow = (options: Omit<iam.GrantOnPrincipalOptions, 'grantee'>): void => {
    grants.push(iam.Grant.addToPrincipal({ grantee, ...options }));
  };
  if (read.length) {
    allow({
      actions: ['s3:GetObject', 's3:GetObjectVersion'],
      resourceArns: read.map((prefix) => bucket.arnForObjects(`${prefix}*`)),
    });
  }
  if (write.length) {
    allow({
      actions: ['s3:PutObject', 's3:AbortMultipartUpload'],
      resourceArns: write.map((prefix) => bucket.arnForObjects(`${prefix}*`)),
    });
  }
  const listed = [...new Set([...read, ...write])];
  allow({
    actions: ['s3:ListBucket'],
    resourceArns: [bucket.bucketArn],
    conditions: { StringLike: { 's3:prefix': listed.flatMap((prefix) => [prefix, `${prefix}*`]) } },
  });
  allow({
    actions: write.length ? ['kms:Decrypt', 'kms:GenerateDataKey'] : ['kms:Decrypt'],
    resourceArns: [key.keyArn],
    conditions: { StringEquals: { 'kms:ViaService': `s3.${Aws.REGION}.${Aws.URL_SUFFIX}` } },
  });

  const principal = grantee.grantPrincipal;
  if (principal instanceof Construct) {
    acknowledgePolicies(
      principal,
      Object.fromEntries(
        [...read, ...write].map((prefix) => [
          resourceFinding(principal, bucket.arnForObjects(`${prefix}*`)),
          `Object access limited to the ${prefix} prefix of the data bucket (every object there belongs to it).`,
        ]),
      ),
    );
  }
  return grants.reduce((all, grant) => all.combine(grant));
}
