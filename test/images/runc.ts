/**
 * Runs a built image the way a kubelet runs an injected container, without a
 * kubelet: the OCI archive of `make images` unpacked with umoci, started by
 * runc as the image's own user, with the container's securityContext applied
 * (read-only root, no capabilities, no new privileges) and its socket mounts
 * as bind mounts. The containers share the machine's network namespace: they
 * talk over Unix sockets only, and a fresh namespace's loopback is down.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ROOT } from "../helpers.ts";

/** One row of dist/images/images.json. */
export interface BuiltImage {
  name: string;
  ref: string;
  archive: string;
  digest: string;
  size: number;
  /** Hash of everything the image is built from (tools/build-images.sh). */
  inputs: string;
}

export const IMAGES_DIR = join(ROOT, "dist", "images");

/** The images `make images` built, from images.json in `dir`. */
export function builtImages(dir = IMAGES_DIR): BuiltImage[] {
  const file = join(dir, "images.json");
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch {
    throw new Error(`${file} is missing: run make images`);
  }
  return (JSON.parse(text) as { images: BuiltImage[] }).images;
}

/** The manifest digests an OCI archive's index.json names, by `org.opencontainers.image.ref.name`. */
export function archiveRefs(archive: string): Map<string, string> {
  const index = JSON.parse(execFileSync("tar", ["-xOf", archive, "index.json"], { encoding: "utf8" })) as {
    manifests: { digest: string; annotations?: Record<string, string> }[];
  };
  return new Map(index.manifests.map((m) => [m.annotations?.["org.opencontainers.image.ref.name"] ?? "", m.digest]));
}

export interface RuntimeSpec {
  process: {
    terminal: boolean;
    user: { uid: number; gid: number };
    args: string[];
    env: string[];
    cwd: string;
    noNewPrivileges?: boolean;
    capabilities?: Record<string, string[]>;
  };
  root: { path: string; readonly?: boolean };
  mounts: { destination: string; type: string; source: string; options: string[] }[];
  linux: { namespaces: { type: string }[] };
}

/** An unpacked image: its runtime bundle and the process the image configures. */
export interface Bundle {
  dir: string;
  rootfs: string;
  /** The runtime config umoci generated from the image config. */
  spec: RuntimeSpec;
  /** The image config's Entrypoint (a container's `args` replace only its Cmd). */
  entrypoint: string[];
}

/** Unpacks `img` (an archive in IMAGES_DIR) into `<into>/bundle` with umoci. */
export function unpack(img: BuiltImage, into: string, imagesDir = IMAGES_DIR): Bundle {
  const layout = join(into, "layout");
  const dir = join(into, "bundle");
  mkdirSync(layout, { recursive: true });
  execFileSync("tar", ["-C", layout, "-xf", join(imagesDir, img.archive)]);
  execFileSync("umoci", ["unpack", "--image", `${layout}:${img.ref}`, dir], { stdio: "pipe" });
  const spec = JSON.parse(readFileSync(join(dir, "config.json"), "utf8")) as RuntimeSpec;
  const blob = (digest: string): string => readFileSync(join(layout, "blobs", ...digest.split(":")), "utf8");
  const manifest = JSON.parse(blob(img.digest)) as { config: { digest: string } };
  const config = JSON.parse(blob(manifest.config.digest)) as { config: { Entrypoint?: string[] } };
  return { dir, rootfs: join(dir, "rootfs"), spec, entrypoint: config.config.Entrypoint ?? [] };
}

export interface RunOptions {
  /** Replaces the image's entrypoint and arguments (a container's `command` + `args`). */
  args?: string[];
  /** Added to the image's environment, NAME=value. */
  env?: string[];
  cwd?: string;
  /** Host folders bound at the same path in the container, or at another (`{ source, destination }`). */
  binds?: (string | { source: string; destination: string; readOnly?: boolean })[];
}

/** A running container; `exited` settles with runc's exit code. */
export interface Running {
  id: string;
  child: ChildProcess;
  output: () => string;
  exited: Promise<number>;
  /** SIGKILL and delete; resolves when runc has removed the container. */
  remove: () => Promise<void>;
}

let seq = 0;

/** Starts `bundle` under runc with the restricted profile's container settings. */
export function run(bundle: Bundle, stateDir: string, opts: RunOptions = {}): Running {
  const spec = structuredClone(bundle.spec);
  spec.process.terminal = false;
  if (opts.args) spec.process.args = opts.args;
  if (opts.cwd) spec.process.cwd = opts.cwd;
  spec.process.env = [...spec.process.env.filter((e) => !e.startsWith("TERM=")), ...(opts.env ?? [])];
  // securityContext: readOnlyRootFilesystem, capabilities.drop [ALL], allowPrivilegeEscalation false.
  spec.root.readonly = true;
  spec.process.capabilities = { bounding: [], effective: [], inheritable: [], permitted: [], ambient: [] };
  spec.process.noNewPrivileges = true;
  spec.linux.namespaces = spec.linux.namespaces.filter((n) => n.type !== "network");
  spec.mounts = [
    ...spec.mounts,
    ...(opts.binds ?? []).map((d) =>
      typeof d === "string"
        ? { destination: d, type: "bind", source: d, options: ["rbind", "rw"] }
        : { destination: d.destination, type: "bind", source: d.source, options: ["rbind", d.readOnly ? "ro" : "rw"] },
    ),
  ];
  writeFileSync(join(bundle.dir, "config.json"), JSON.stringify(spec));
  const id = `podplug-img-${process.pid}-${++seq}`;
  const child = spawn("runc", ["--root", stateDir, "run", "--bundle", bundle.dir, id], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  child.stdout!.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr!.on("data", (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number>((resolve) => child.once("close", (code) => resolve(code ?? -1)));
  const runc = (...a: string[]): void => {
    try {
      execFileSync("runc", ["--root", stateDir, ...a], { stdio: "ignore" });
    } catch {
      // Already gone.
    }
  };
  return {
    id,
    child,
    output: () => out,
    exited,
    remove: async () => {
      runc("kill", id, "KILL");
      await Promise.race([exited, new Promise((r) => setTimeout(r, 5_000))]);
      runc("delete", "--force", id);
    },
  };
}

/** Runs the container to its end (at most `ms`) and returns its exit code and output. */
export async function runToEnd(
  bundle: Bundle,
  stateDir: string,
  opts: RunOptions = {},
  ms = 20_000,
): Promise<{ code: number; out: string }> {
  const c = run(bundle, stateDir, opts);
  const timer = setTimeout(() => void c.remove(), ms);
  const code = await c.exited;
  clearTimeout(timer);
  await c.remove();
  return { code, out: c.output() };
}
