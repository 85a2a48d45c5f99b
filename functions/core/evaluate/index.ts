/** Offline evaluation: recommendation lists, ranking metrics, candidate-vs-production comparison, gate, report. */
export * from './recommend';
export * from './metrics';
export * from './compare';
export * from './gate';
export * from './evaluation';
export * from './report-html';
export { escapeHtml } from './svg-chart';
