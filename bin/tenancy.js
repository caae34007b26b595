#!/usr/bin/env node
// Entry point for the `tenancy` command; the CLI is compiled to dist/ by `npm install` (prepare).
import { main } from '../dist/cli/main.js';

process.exitCode = await main(process.argv.slice(2));
