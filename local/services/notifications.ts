/**
 * Local SNS: the workflows' notices (deployed, rolled back, rejected, failed) are kept in order and
 * handed to a listener, the terminal, where the person running `npm start` reads them.
 */
export interface Notification {
  readonly topicArn: string;
  readonly subject?: string;
  readonly message: string;
  readonly event?: string;
  readonly time: string;
}

export class LocalNotifications {
  readonly sent: Notification[] = [];

  constructor(private readonly listener: (notification: Notification) => void = () => undefined) {}

  /** sns:Publish, as the Step Functions integration calls it. */
  publish(input: {
    TopicArn?: string;
    Subject?: string;
    Message?: string;
    MessageAttributes?: Record<string, { StringValue?: string }>;
  }): { MessageId: string } {
    const notification: Notification = {
      topicArn: input.TopicArn ?? 'unknown',
      subject: input.Subject,
      message: input.Message ?? '',
      event: input.MessageAttributes?.event?.StringValue,
      time: new Date().toISOString(),
    };
    this.sent.push(notification);
    this.listener(notification);
    return { MessageId: `local-${String(this.sent.length).padStart(8, '0')}` };
  }
}
