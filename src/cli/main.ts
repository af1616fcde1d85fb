#!/usr/bin/env node
console.log("deformconv: placeholder");
