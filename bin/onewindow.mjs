#!/usr/bin/env node
// The `onewindow` command. The sources are TypeScript run through tsx, so there is no
// build step between a clone and a running system.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../cli/main.ts');
process.exitCode = await main(process.argv.slice(2));
