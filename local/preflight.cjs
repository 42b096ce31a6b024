/*
 * Runs before anything else of `npm start` (package.json "start"), on whatever Node the user has:
 * on a Node older than package.json's engines field allows, one plain line says so, instead of
 * ERR_UNKNOWN_BUILTIN_MODULE (node:sqlite) from deep inside the emulators. Plain old JavaScript on
 * purpose, so that it parses on any Node. `.ci/run` uses it too (`--quiet`: the exit code only).
 */
"use strict";
var fs = require("fs");
var path = require("path");

/** package.json's engines.node, ">=MAJOR.MINOR[.PATCH]", as [major, minor, patch]. */
function minimum() {
  var pkg = JSON.parse(fs.readFileSync(path.join(__dirname, "..", "package.json"), "utf8"));
  var m = /^>=\s*(\d+)(?:\.(\d+))?(?:\.(\d+))?$/.exec(pkg.engines.node);
  if (!m) throw new Error("package.json engines.node must read >=MAJOR.MINOR, got " + pkg.engines.node);
  return { text: pkg.engines.node, parts: [Number(m[1]), Number(m[2] || 0), Number(m[3] || 0)] };
}

/** Is version "a.b.c" at least [major, minor, patch]? */
function atLeast(version, parts) {
  var v = String(version).replace(/^v/, "").split(".").map(Number);
  for (var i = 0; i < 3; i++) {
    if ((v[i] || 0) !== parts[i]) return (v[i] || 0) > parts[i];
  }
  return true;
}

module.exports = { minimum: minimum, atLeast: atLeast };

if (require.main === module) {
  var min = minimum();
  if (!atLeast(process.versions.node, min.parts)) {
    if (process.argv.indexOf("--quiet") === -1) {
      console.error(
        "npm start needs Node.js " +
          min.text +
          ", and this is Node.js " +
          process.versions.node +
          " (" +
          process.execPath +
          "). " +
          ".nvmrc says 24: `nvm install` (or Node.js 24 from nodejs.org), then npm start again.",
      );
    }
    process.exit(1);
  }
}
