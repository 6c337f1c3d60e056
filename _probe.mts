import * as tf from '@tensorflow/tfjs';
import { createRequire } from 'node:module';
import path from 'node:path';
const require = createRequire(import.meta.url);
const wasm = await import('@tensorflow/tfjs-backend-wasm');
const dir = path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')) + '/dist/';
console.log(dir);
wasm.setWasmPaths({ 'tfjs-backend-wasm.wasm': dir + 'tfjs-backend-wasm.wasm', 'tfjs-backend-wasm-simd.wasm': dir + 'tfjs-backend-wasm-simd.wasm', 'tfjs-backend-wasm-threaded-simd.wasm': dir + 'tfjs-backend-wasm-threaded-simd.wasm' });
try { console.log(await tf.setBackend('wasm')); } catch (e) { console.log('err', e); }
console.log(tf.getBackend());
const a = tf.randomNormal([10000, 64]); const b = tf.randomNormal([64, 128]);
let t = performance.now(); const c = tf.matMul(a, b); await c.data(); console.log('ms', performance.now() - t);
t = performance.now(); for (let i=0;i<10;i++){ const d = tf.matMul(a, b); await d.data(); d.dispose(); } console.log('ms/10', (performance.now() - t)/10);
console.log(tf.env().getFlags());
