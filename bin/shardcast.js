#!/usr/bin/env node
// The `shardcast` command. Sources are TypeScript, run through tsx's ESM loader.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('./cli.ts');
process.exitCode = await main(process.argv);
