#!/usr/bin/env node
// Entry point for the `tenancy` command; the CLI is compiled to dist/ by `npm install` (prepare).
import { main } from '../dist/cli/main.js';

// A reader that stops early (`tenancy get tenants | head`) is not an error.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (error) => {
    if (error.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw error;
  });
}

process.exitCode = await main(process.argv.slice(2));
