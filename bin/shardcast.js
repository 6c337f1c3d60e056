#!/usr/bin/env node
// The `shardcast` command. Sources are TypeScript, run through tsx's ESM loader.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('./cli.ts');
const code = await main(process.argv);
// A command that failed exits now: stages it had started (consumers, timers, a decide stage
// still issuing commands) would otherwise keep the process alive after the error was printed.
if (code !== 0) process.exit(code);
process.exitCode = code;
