// The loader hook of preload.mjs: TypeScript modules come back as JavaScript (types
// replaced by blanks, so lines and columns stay those of the .ts file).
import { stripTypeScriptTypes } from "node:module";

export async function load(url, context, next) {
  const r = await next(url, context);
  if (r.format !== "module-typescript" || r.source == null) return r;
  const ts = typeof r.source === "string" ? r.source : Buffer.from(r.source).toString("utf8");
  return { ...r, format: "module", source: stripTypeScriptTypes(ts, { mode: "strip" }) };
}
