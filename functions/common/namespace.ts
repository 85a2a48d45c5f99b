/**
 * The CloudWatch namespace of reelflow's own metrics: the handlers' counts and the Evaluate step's
 * model metrics (dimensions Model and RunId). Kept free of side effects so the CDK app can import it
 * for the dashboard without loading the Powertools runtime.
 */
export const METRICS_NAMESPACE = 'Reelflow';
