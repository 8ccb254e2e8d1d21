// jazzer.js imports its target by a name it ends in ".js" unless it ends in .js/.mjs/.cjs, so a
// .ts target cannot be named to it: this module imports the one tools/jazzer.sh names.
const target = process.env.PODPLUG_FUZZ_TARGET;
if (!target) throw new Error("PODPLUG_FUZZ_TARGET: no fuzz target named (run it through tools/jazzer.sh)");
export const { fuzz } = await import(target);
