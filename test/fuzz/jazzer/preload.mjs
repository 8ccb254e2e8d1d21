// Imported by tools/jazzer-node.sh before jazzer.js starts.
import { register } from "node:module";

// Node hands jazzer's ESM loader hook a .ts module as "module-typescript", which it skips
// (it instruments "module" only): this hook, registered first and so run after jazzer's
// asks for the source, strips the types, and jazzer instruments our sources as JavaScript.
register("./strip-types-hook.mjs", import.meta.url);

// jazzer.js re-runs process.argv for libFuzzer's subprocesses (-merge=1, -fork): argv[0] is
// the C library's loader here, which cannot run node's script, so name the wrapper instead.
if (process.env.PODPLUG_JAZZER_NODE) process.argv[0] = process.env.PODPLUG_JAZZER_NODE;
