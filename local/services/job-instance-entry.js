'use strict';
// Entry point of a job worker thread (job-instance.ts): the project ships TypeScript sources, so the
// worker registers tsx's CommonJS loader first, as local/bin/reelflow.js does for the main thread.
require(require.resolve('tsx/cjs', { paths: [__dirname] }));
require('./job-instance-main.ts');
