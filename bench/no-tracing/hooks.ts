/** Module resolve hook: src/tracing/tracer.ts → the stub beside this file (the rest of src/tracing loads only through it). */
const stubs: Record<string, string> = {
  "/src/tracing/tracer.ts": new URL("./tracer.ts", import.meta.url).href,
};

type Next = (specifier: string, context: unknown) => Promise<{ url: string }>;

export async function resolve(specifier: string, context: unknown, next: Next): Promise<{ url: string }> {
  const r = await next(specifier, context);
  for (const [tail, url] of Object.entries(stubs)) if (r.url.endsWith(tail)) return { ...r, url };
  return r;
}
