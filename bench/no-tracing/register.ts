/**
 * `--import` this (bench/tracing.ts puts it in NODE_OPTIONS, so the plugin
 * process gets it too) and src/tracing/tracer.ts resolves to a stub: no
 * podplug tracing code is loaded at all. The baseline that "tracing off" is
 * compared with, to show off costs nothing beside having no tracing code.
 */
import { register } from "node:module";

register(new URL("./hooks.ts", import.meta.url));
