#!/usr/bin/env node
'use strict';
// The `reelflow` command. The project ships TypeScript sources and runs them through tsx's
// CommonJS loader, so `npm ci` needs no build step.
require('./node-version').requireNode22('reelflow');
require('tsx/cjs');
require('../cli.ts').main(process.argv.slice(2));
