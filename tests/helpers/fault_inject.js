/**
 * Fault injection for CLI processes of the fault suite, loaded with
 * NODE_OPTIONS=--require <this file>. Plain CommonJS: it runs inside the compiled CLI.
 * Configured by DEFORMCONV_FAULT_INJECT, a JSON object:
 *
 *   { "call": "openSync" | "writeFileSync" | "renameSync" | "rmSync",
 *     "path": "<regex>",       matched against the file (for renameSync: "<from> -> <to>")
 *     "nth": 1,                the nth matching call fires (default 1); errors keep firing after it
 *     "when": "before",        before (default) or after the call itself
 *     "do": "SIGKILL" | "SIGINT" | "SIGINT2" | "ENOSPC" | "EACCES" | "LOSE_GPU" }
 *
 *   { "sigintAfterListen": <ms> }   a SIGINT <ms> after the program starts listening for one
 *
 * A signal is sent to the process itself: SIGKILL ends it on the spot (as kill -9 would at
 * that instant); SIGINT (twice for SIGINT2, the "press Ctrl-C again" case) reaches the
 * program's handler at its next turn of the event loop. ENOSPC and EACCES throw the error
 * Node would (a full disk, a read-only directory) from that call and every later match.
 * LOSE_GPU destroys the webgpu backend's device, as a GPU reset or removal would.
 */
'use strict';
const fs = require('node:fs');

const spec = JSON.parse(process.env.DEFORMCONV_FAULT_INJECT || '{}');

if (spec.sigintAfterListen !== undefined) {
  const on = process.on;
  let armed = false;
  process.on = function (event, listener) {
    const result = on.call(this, event, listener);
    if (event === 'SIGINT' && !armed) {
      armed = true;
      setTimeout(() => process.kill(process.pid, 'SIGINT'), spec.sigintAfterListen);
    }
    return result;
  };
}

if (spec.call !== undefined) {
  const pattern = new RegExp(spec.path || '');
  const nth = spec.nth || 1;
  const fdPaths = new Map();
  let matches = 0;

  const fire = () => {
    switch (spec.do) {
      case 'SIGKILL':
      case 'SIGINT':
        process.kill(process.pid, spec.do);
        return;
      case 'SIGINT2':
        process.kill(process.pid, 'SIGINT');
        process.kill(process.pid, 'SIGINT');
        return;
      case 'ENOSPC':
        throw Object.assign(new Error(`ENOSPC: no space left on device, ${spec.call}`), { code: 'ENOSPC', errno: -28, syscall: 'write' });
      case 'EACCES':
        throw Object.assign(new Error(`EACCES: permission denied, ${spec.call}`), { code: 'EACCES', errno: -13, syscall: 'open' });
      case 'LOSE_GPU': {
        const id = Object.keys(require.cache).find((file) => file.endsWith('/backend/webgpu_node.js'));
        if (id === undefined) throw new Error('fault_inject: LOSE_GPU, but the webgpu backend is not loaded');
        require.cache[id].exports.destroyWebgpuDevice();
        return;
      }
      default:
        throw new Error(`fault_inject: unknown action ${spec.do}`);
    }
  };
  const isError = spec.do === 'ENOSPC' || spec.do === 'EACCES';
  /** Whether this call is the one (or, for errors, one of those) to fire on. */
  const hit = (subject) => {
    if (typeof subject !== 'string' || !pattern.test(subject)) return false;
    matches += 1;
    return isError ? matches >= nth : matches === nth;
  };
  const subjectOf = (name, args) => {
    if (name === 'renameSync') return `${args[0]} -> ${args[1]}`;
    return typeof args[0] === 'number' ? fdPaths.get(args[0]) : String(args[0]);
  };

  const openSync = fs.openSync;
  fs.openSync = function (file, ...rest) {
    const fd = openSync.call(this, file, ...rest);
    fdPaths.set(fd, String(file));
    return fd;
  };
  const original = fs[spec.call];
  fs[spec.call] = function (...args) {
    const firing = hit(subjectOf(spec.call, args));
    if (firing && spec.when !== 'after') fire();
    const result = original.apply(this, args);
    if (firing && spec.when === 'after') fire();
    return result;
  };
}
