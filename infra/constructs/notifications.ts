import type * as kms from 'aws-cdk-lib/aws-kms';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import { Construct } from 'constructs';

export interface NotificationsProps {
  /** Encrypts both topics at rest. */
  readonly key: kms.IKey;
  /**
   * Subscribed to both topics (the subscriber confirms by e-mail).
   * @default - no subscription
   */
  readonly email?: string;
}

/**
 * The two SNS topics operators hear from, both KMS-encrypted and TLS-only:
 *
 * - `alerts`: run failures, rejected candidates, rollbacks, completed deployments and CloudWatch alarms.
 *   Workflow messages carry an `event` message attribute so subscribers can filter;
 * - `approvals`: the manual approval requests of the release pipeline.
 */
export class Notifications extends Construct {
  readonly alerts: sns.Topic;
  readonly approvals: sns.Topic;

  constructor(scope: Construct, id: string, props: NotificationsProps) {
    super(scope, id);
    this.alerts = new sns.Topic(this, 'Alerts', {
      displayName: 'reelflow alerts',
      masterKey: props.key,
      enforceSSL: true,
    });
    this.approvals = new sns.Topic(this, 'Approvals', {
      displayName: 'reelflow approvals',
      masterKey: props.key,
      enforceSSL: true,
    });
    if (props.email) {
      this.alerts.addSubscription(new subscriptions.EmailSubscription(props.email));
      this.approvals.addSubscription(new subscriptions.EmailSubscription(props.email));
    }
  }
}
