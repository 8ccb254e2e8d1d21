import { stripTypeScriptTypes } from "node:module";
export async function load(url, context, next) {
  const r = await next(url, context);
  if (r.format !== "module-typescript" || r.source == null) return r;
  const ts = typeof r.source === "string" ? r.source : Buffer.from(r.source).toString("utf8");
  return { ...r, format: "module", source: stripTypeScriptTypes(ts, { mode: "strip" }) };
}
