// Entry of the consumer thread (threadedConsumer.ts). A worker thread does not inherit the
// TypeScript loader the `shardcast` command registers, so it registers it here first.
import { register } from 'tsx/esm/api';

register();
await import('./threadedConsumer.thread.ts');
