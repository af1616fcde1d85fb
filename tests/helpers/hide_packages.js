/**
 * Makes packages look uninstalled for a CLI process, loaded with
 * NODE_OPTIONS=--require <this file>: DEFORMCONV_HIDE_PACKAGES (comma separated) lists
 * them, and require() fails for each as Node's does for a missing package.
 */
'use strict';
const Module = require('node:module');

const hidden = new Set((process.env.DEFORMCONV_HIDE_PACKAGES || '').split(',').filter(Boolean));
const resolve = Module._resolveFilename;
Module._resolveFilename = function (request, ...rest) {
  if (hidden.has(request)) {
    throw Object.assign(new Error(`Cannot find module '${request}'`), { code: 'MODULE_NOT_FOUND' });
  }
  return resolve.call(this, request, ...rest);
};
