/**
 * Runs one jazzer.js target (tools/jazzer.sh) to completion and reads its
 * result from libFuzzer's output: the inputs run, exec/s, the coverage
 * counters (`cov`: edges of src/ reached, `ft`: features) and the files of any
 * finding (crash-, timeout-, oom-, leak-, slow-unit-). Bounded by count
 * (-runs), never by time; the fuzzer touches nothing but memory and a temp file.
 */
import { spawn } from "node:child_process";
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const ROOT = join(import.meta.dirname, "..", "..", "..");
/** The targets, each test/fuzz/jazzer/<name>.ts with its corpus in test/fuzz/corpus/<name>/. */
export const TARGETS = [
  "h2-server",
  "h2-client",
  "hpack-decoder",
  "message-decoder",
  "handshake",
  "hclog",
  "manifests",
] as const;
export type Target = (typeof TARGETS)[number];
/** canary.ts: a target whose one crash the harness must find (test/fuzz/jazzer.test.ts). */
export type AnyTarget = Target | "canary";

/** The committed corpus of `target`. */
export const corpusDir = (target: Target): string => join(ROOT, "test", "fuzz", "corpus", target);

export interface FuzzResult {
  target: AnyTarget;
  /** Inputs run (libFuzzer's #N on its DONE line), the corpus included. */
  runs: number;
  execPerSec: number;
  /** Coverage counters of src/ reached (libFuzzer's cov) and features (ft). */
  cov: number;
  ft: number;
  /** The corpus libFuzzer held at the end: entries and bytes. */
  corpusEntries: number;
  seconds: number;
  /** The input files of findings, with their first line of explanation. */
  findings: { file: string; bytes: Buffer }[];
  /** libFuzzer's and jazzer's whole output (stderr), for a failure message. */
  output: string;
  exitCode: number | null;
  /** Where new inputs that added coverage went (a temp folder, or `newInputs` if given). */
  newInputs: string;
}

export interface FuzzOptions {
  runs: number;
  /** Where libFuzzer writes the inputs it finds; a fresh temp folder if absent (removed by `remove()`). */
  newInputs?: string;
  /** The canary target instruments itself too (it is the code under test there). */
  includes?: string[];
  /** Extra libFuzzer options. */
  libfuzzer?: string[];
}

/** Runs `target` for `runs` inputs, starting from its committed corpus. */
export async function fuzzTarget(target: AnyTarget, opts: FuzzOptions): Promise<FuzzResult & { remove: () => void }> {
  const work = mkdtempSync(join(tmpdir(), `pfz-${target}-`));
  const artifacts = join(work, "artifacts");
  const newInputs = opts.newInputs ?? join(work, "new");
  mkdirSync(artifacts);
  mkdirSync(newInputs, { recursive: true });
  const args = [
    join(ROOT, "test", "fuzz", "jazzer", `${target}.ts`),
    newInputs,
    ...(target === "canary" ? [] : [corpusDir(target)]),
    ...(opts.includes ?? [`${join(ROOT, "src")}/`]).flatMap((i) => ["-i", i]),
    // A hang is a finding; the bound is generous because the machine may be loaded.
    "--timeout=30000",
    "--",
    `-runs=${opts.runs}`,
    `-artifact_prefix=${artifacts}/`,
    "-print_final_stats=1",
    ...(opts.libfuzzer ?? []),
  ];
  const started = Date.now();
  const child = spawn(join(ROOT, "tools", "jazzer.sh"), args, {
    cwd: work,
    stdio: ["ignore", "pipe", "pipe"],
    // TMPDIR: what jazzer.js makes (its dictionary, wrapper scripts) goes where remove() clears.
    env: { ...process.env, PODPLUG_FUZZ_TMP: work, TMPDIR: work, NODE_OPTIONS: "" },
  });
  let output = "";
  child.stdout.on("data", (d: Buffer) => (output += d.toString()));
  child.stderr.on("data", (d: Buffer) => (output += d.toString()));
  const exitCode = await new Promise<number | null>((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (code) => resolve(code));
  });
  const seconds = (Date.now() - started) / 1000;
  const done = /#(\d+)\s+DONE\s+cov: (\d+) ft: (\d+) corp: (\d+)\/\S+ .*?exec\/s: (\d+)/.exec(output);
  const findings = readdirSync(artifacts)
    .filter((f) => /^(crash|timeout|oom|leak|slow-unit)-/.test(f))
    .map((f) => ({ file: join(artifacts, f), bytes: readFileSync(join(artifacts, f)) }));
  return {
    target,
    runs: done ? Number(done[1]) : 0,
    cov: done ? Number(done[2]) : 0,
    ft: done ? Number(done[3]) : 0,
    corpusEntries: done ? Number(done[4]) : 0,
    execPerSec: done ? Number(done[5]) : 0,
    seconds,
    findings,
    output,
    exitCode,
    newInputs,
    remove: () => rmSync(work, { recursive: true, force: true }),
  };
}

/** Files libFuzzer names (40 hex digits); the others (seed-*, crash-*, README.md...) are written by hand. */
const FOUND = /^[0-9a-f]{40}$/;

/**
 * Re-minimizes `target`'s committed corpus with the inputs in `from`: the
 * named files stay, and of the found ones (the corpus's and `from`'s) libFuzzer's
 * -merge=1 keeps a smallest set that reaches every edge the whole set reaches.
 * -use_counters=0 counts an edge once, however often an input runs it: with hit
 * counts the set of a million-input run held 280 files for one target.
 */
export async function mergeInto(target: Target, from: string): Promise<string> {
  const dir = corpusDir(target);
  const work = mkdtempSync(join(tmpdir(), `pfz-merge-${target}-`));
  try {
    const keep = join(work, "keep");
    const pool = join(work, "pool");
    mkdirSync(keep);
    mkdirSync(pool);
    for (const f of readdirSync(dir)) cpSync(join(dir, f), join(FOUND.test(f) ? pool : keep, f));
    for (const f of readdirSync(from)) cpSync(join(from, f), join(pool, f));
    const child = spawn(
      join(ROOT, "tools", "jazzer.sh"),
      [
        join(ROOT, "test", "fuzz", "jazzer", `${target}.ts`),
        keep,
        pool,
        "-i",
        `${join(ROOT, "src")}/`,
        "--",
        "-merge=1",
        "-use_counters=0",
      ],
      { cwd: work, stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, TMPDIR: work, NODE_OPTIONS: "" } },
    );
    let output = "";
    child.stdout.on("data", (d: Buffer) => (output += d.toString()));
    child.stderr.on("data", (d: Buffer) => (output += d.toString()));
    const code = await new Promise<number | null>((resolve, reject) => {
      child.on("error", reject);
      child.on("close", resolve);
    });
    // libFuzzer retries a merge whose subprocess died, and ends with "successful" only when one ran.
    if (code !== 0 || !/MERGE-OUTER: successful/.test(output))
      throw new Error(`merging into ${dir} failed (exit ${code}):\n${output}`);
    for (const f of readdirSync(dir)) if (FOUND.test(f)) rmSync(join(dir, f));
    for (const f of readdirSync(keep)) if (FOUND.test(f)) cpSync(join(keep, f), join(dir, f));
    return output;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** Why a run did not start, coded, with the make target that fixes it; undefined when it ran. */
export function notStarted(r: FuzzResult): string | undefined {
  if (r.exitCode === 97 || /FUZZ_LIBC_MISSING/.test(r.output))
    return `FUZZ_LIBC_MISSING: jazzer.js cannot start without glibc >= 2.38: run 'make fuzz-deps' (tools/fetch-fuzz-libc.sh; make test-deps runs it)\n${r.output}`;
  if (!/INITED/.test(r.output))
    return `FUZZ_NOT_STARTED: jazzer.js did not start fuzzing ${r.target} (exit ${r.exitCode}); run 'make fuzz-deps' and 'npm ci'. Its output:\n${r.output}`;
  return undefined;
}
