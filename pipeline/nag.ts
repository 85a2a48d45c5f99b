/**
 * Helpers to acknowledge cdk-nag findings precisely. cdk-nag 3 reports wildcard findings per resource
 * string (`AwsSolutions-IAM5[Resource::<DataBucket.Arn>/runs/*]`), and an acknowledgment must name that
 * exact finding: these helpers build the ids from the constructs, so a reason is attached to one
 * wildcard on one role instead of silencing the rule.
 */
import { CfnResource, Stack, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
// cdk-nag's own rendering of a resource string (not re-exported by its index; the package has no exports map).
import { flattenCfnReference } from 'cdk-nag/lib/utils/flatten-cfn-reference';
import type { IConstruct } from 'constructs';

/** cdk-nag's rendering of a resource's `Fn::GetAtt Arn`: `<LogicalId.Arn>`; undefined for imports. */
export function arnRef(resource: IConstruct): string | undefined {
  const cfn = CfnResource.isCfnResource(resource) ? resource : resource.node.defaultChild;
  if (!cfn || !CfnResource.isCfnResource(cfn)) return undefined;
  return `<${Stack.of(cfn).resolve(cfn.logicalId) as string}.Arn>`;
}

/** The IAM5 finding id of one wildcard resource, as rendered by cdk-nag (`<AWS::Region>`, `<X.Arn>`). */
export function wildcardResourceFinding(resource: string): string {
  return `AwsSolutions-IAM5[Resource::${resource}]`;
}

/** The IAM5 finding id of a resource string that may hold tokens, resolved in the stack of `scope`. */
export function resourceFinding(scope: IConstruct, resource: string): string {
  return wildcardResourceFinding(flattenCfnReference(Stack.of(scope).resolve(resource)));
}

/** The IAM5 finding id of one wildcard action. */
export function wildcardActionFinding(action: string): string {
  return `AwsSolutions-IAM5[Action::${action}]`;
}

/** Acknowledges each finding on `scope` (and its children) with its reason. */
export function acknowledge(scope: IConstruct, findings: Readonly<Record<string, string>>): void {
  Validations.of(scope).acknowledge(...Object.entries(findings).map(([id, reason]) => ({ id, reason })));
}

/** The IAM5 findings of one policy as cdk-nag renders them: each wildcard action and resource. */
function policyFindings(policy: iam.CfnPolicy): Set<string> {
  const document = Stack.of(policy).resolve(policy.policyDocument) as {
    Statement?: { Action?: unknown; Resource?: unknown }[];
  };
  const found = new Set<string>();
  for (const statement of document.Statement ?? []) {
    for (const action of [statement.Action].flat()) {
      if (typeof action === 'string' && action.includes('*')) found.add(wildcardActionFinding(action));
    }
    for (const resource of [statement.Resource].flat()) {
      const rendered = resource === undefined ? '' : flattenCfnReference(resource);
      if (rendered.includes('*')) found.add(wildcardResourceFinding(rendered));
    }
  }
  return found;
}

/**
 * Acknowledges each IAM5 finding on exactly the policies under `scope` that have it (cdk-nag reports a
 * role's wildcards on its `AWS::IAM::Policy`), never on the construct tree: a reason then covers the
 * statements it was written for, and a later wildcard elsewhere under `scope` is still reported. Call
 * it after the statements are added. A finding no policy has is not acknowledged anywhere.
 */
export function acknowledgePolicies(scope: IConstruct, findings: Readonly<Record<string, string>>): void {
  const policies = scope.node
    .findAll()
    .filter((node): node is iam.CfnPolicy => node instanceof iam.CfnPolicy);
  for (const policy of policies) {
    const present = policyFindings(policy);
    const matched = Object.entries(findings).filter(([id]) => present.has(id));
    if (matched.length > 0) acknowledge(policy, Object.fromEntries(matched));
  }
}

/**
 * Step Functions and CodePipeline grant `lambda:InvokeFunction` on `<fn>.Arn` and `<fn>.Arn:*` (any
 * version or alias of that one function). Acknowledges the second for each function on the policies
 * under `scope` that grant it.
 */
export function acknowledgeFunctionVersions(scope: IConstruct, functions: readonly IConstruct[]): void {
  const findings: Record<string, string> = {};
  for (const fn of functions) {
    const ref = arnRef(fn);
    if (ref) {
      findings[wildcardResourceFinding(`${ref}:*`)] =
        'Invoke permission on the versions and aliases of this one function, as the integration grants it.';
    }
  }
  acknowledgePolicies(scope, findings);
}

/**
 * The execution ARN pattern CodePipeline's Step Functions action grants DescribeExecution on
 * (`arn:...:execution:<state machine name>:<prefix>*`), as cdk-nag renders it from the state machine.
 */
export function executionArnFinding(
  stateMachine: IConstruct,
  executionNamePrefix: string,
): string | undefined {
  const cfn = stateMachine.node.defaultChild;
  if (!cfn || !CfnResource.isCfnResource(cfn)) return undefined;
  const ref = JSON.stringify({ Ref: Stack.of(cfn).resolve(cfn.logicalId) });
  const part = (index: number): string => `{"Fn::Select":[${index},{"Fn::Split":[":",${ref}]}]}`;
  return wildcardResourceFinding(
    `arn:${part(1)}:states:${part(3)}:${part(4)}:execution:${part(6)}:${executionNamePrefix}*`,
  );
}
