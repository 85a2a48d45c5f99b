#!/usr/bin/env node
'use strict';
// Runs a TypeScript entry point (`node local/bin/run-ts.js bench/run.ts [args]`, `npm run bench`) the way
// local/bin/reelflow.js runs the CLI: through tsx's CommonJS loader.
const { resolve } = require('node:path');

require('./node-version').requireNode22('run-ts');
require('tsx/cjs');

const [node, , script, ...args] = process.argv;
if (!script) {
  process.stderr.write('usage: node local/bin/run-ts.js <file.ts> [arguments]\n');
  process.exit(64);
}
process.argv = [node, resolve(script), ...args];
require(resolve(script));
