#!/usr/bin/env node
// Writes docs/errors.md from the error catalogue (run through `npm run docs:errors`, which builds first).
import { writeFileSync } from 'node:fs';
import { renderErrorDocs } from '../dist/contract/error-docs.js';

writeFileSync(new URL('../docs/errors.md', import.meta.url), renderErrorDocs());
console.log('wrote docs/errors.md');
