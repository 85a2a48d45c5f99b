/**
 * Builds the reelflow app the way `cdk synth` does (cdk.json context, the same entry function), once
 * per test file, for assertions on `Template.fromStack`.
 *
 * Without esbuild bundling by default: the context key `aws:cdk:bundling-stacks` set to `[]` makes every
 * stack's `bundlingRequired` false, so each NodejsFunction gets a placeholder asset instead of a bundle
 * (about 4 s less per synth). The template is the same but for the asset hashes. The one test that
 * bundles for real is test/infra/bundling.test.ts (`{ bundling: true }`).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { main, type ReelflowApp } from '../../infra/app';

const CDK_JSON_PATH = path.join(__dirname, '..', '..', 'cdk.json');

export interface SynthesizedApp extends ReelflowApp {
  readonly dataTemplate: Template;
  readonly template: Template;
}

export interface SynthOptions {
  /** Bundle the Lambda handlers with esbuild, as `cdk synth` does (default false: no bundling). */
  readonly bundling?: boolean;
}

/** The context key CDK reads to decide which stacks bundle their assets (cx-api BUNDLING_STACKS). */
const BUNDLING_STACKS = 'aws:cdk:bundling-stacks';

/** The app from cdk.json, with `overrides` merged into `context.reelflow`. */
export function synthApp(
  overrides: Record<string, unknown> = {},
  options: SynthOptions = {},
): SynthesizedApp {
  const cdkJson = JSON.parse(fs.readFileSync(CDK_JSON_PATH, 'utf8')) as { context: Record<string, unknown> };
  const context = {
    ...cdkJson.context,
    ...(options.bundling ? {} : { [BUNDLING_STACKS]: [] }),
    reelflow: { ...(cdkJson.context.reelflow as Record<string, unknown>), ...overrides },
  };
  const built = main(new App({ context }));
  return {
    ...built,
    dataTemplate: Template.fromStack(built.dataStack),
    template: Template.fromStack(built.stack),
  };
}

/** Every IAM policy statement of the stack, with the logical id of its policy. */
export function policyStatements(
  template: Template,
): { policy: string; statement: Record<string, unknown> }[] {
  const policies = template.findResources('AWS::IAM::Policy');
  return Object.entries(policies).flatMap(([policy, resource]) =>
    (resource.Properties.PolicyDocument.Statement as Record<string, unknown>[]).map((statement) => ({
      policy,
      statement,
    })),
  );
}

/** The statements of the policy attached to the role whose logical id starts with `rolePrefix`. */
export function statementsOfRole(template: Template, rolePrefix: string): Record<string, unknown>[] {
  const policies = template.findResources('AWS::IAM::Policy');
  return Object.values(policies)
    .filter((policy) =>
      (policy.Properties.Roles as { Ref: string }[]).some((role) => role.Ref.startsWith(rolePrefix)),
    )
    .flatMap((policy) => policy.Properties.PolicyDocument.Statement as Record<string, unknown>[]);
}

/** The actions of a statement, always as an array. */
export function actionsOf(statement: Record<string, unknown>): string[] {
  const action = statement.Action as string | string[];
  return Array.isArray(action) ? action : [action];
}

/** The resources of a statement, always as an array. */
export function resourcesOf(statement: Record<string, unknown>): unknown[] {
  const resource = statement.Resource as unknown;
  return Array.isArray(resource) ? resource : [resource];
}
