#!/usr/bin/env node
// Cargo runner for the wasm32 tests (scripts/test.sh sets
// CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER to this file): drops the DWARF custom sections
// (`.debug_*`, ~250 of the ~320 MB of the dev-profile test module) and runs wasm-bindgen-test-runner
// on the smaller copy. Same tests, same results; wasm-bindgen and Chromium then handle 64 MB instead
// of 320 MB, which saves about a minute per run. (Setting `debug = 0` for the build instead would
// rebuild every wasm32 dependency.) Plain `wasm-bindgen-test-runner` works too, only slower.
//
//   node tests/wasm/runner.mjs path/to/test.wasm [test args...]
import fs from 'node:fs';
import { spawnSync } from 'node:child_process';

const [wasm, ...args] = process.argv.slice(2);
if (!wasm) {
  console.error('usage: runner.mjs TEST.wasm [args...]');
  process.exit(2);
}

function leb(buf, i) {
  let value = 0, shift = 0, byte;
  do {
    byte = buf[i++];
    value += (byte & 0x7f) * 2 ** shift;
    shift += 7;
  } while (byte & 0x80);
  return [value, i];
}

const buf = fs.readFileSync(wasm);
const keep = [buf.subarray(0, 8)];
let dropped = 0;
for (let i = 8; i < buf.length; ) {
  const [size, body] = leb(buf, i + 1);
  const end = body + size;
  let debug = false;
  if (buf[i] === 0) {
    const [len, name] = leb(buf, body);
    debug = buf.toString('latin1', name, name + len).startsWith('.debug');
  }
  if (debug) dropped += end - i;
  else keep.push(buf.subarray(i, end));
  i = end;
}

let target = wasm;
if (dropped > 0) {
  target = wasm.replace(/\.wasm$/, '') + '.nodebug.wasm';
  fs.writeFileSync(target, Buffer.concat(keep));
}
const r = spawnSync('wasm-bindgen-test-runner', [target, ...args], { stdio: 'inherit' });
if (r.error) {
  console.error(`cannot run wasm-bindgen-test-runner: ${r.error.message}`);
  process.exit(2);
}
process.exit(r.status ?? 1);
