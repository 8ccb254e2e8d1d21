/**
 * A structural check of a manifest against the CRD's own OpenAPI v3 schema,
 * so `podplug run` refuses what the apiserver would refuse (unknown fields,
 * wrong types, enums, bounds, patterns) without a second copy of the schema.
 * CEL rules (x-kubernetes-validations) need the apiserver and are not run.
 */

/** The subset of OpenAPI v3 that structural CRD schemas use. */
export interface OpenAPISchema {
  type?: "object" | "array" | "string" | "integer" | "number" | "boolean";
  properties?: Record<string, OpenAPISchema>;
  additionalProperties?: OpenAPISchema | boolean;
  required?: string[];
  items?: OpenAPISchema;
  enum?: unknown[];
  minimum?: number;
  maximum?: number;
  minItems?: number;
  maxItems?: number;
  minLength?: number;
  maxLength?: number;
  minProperties?: number;
  maxProperties?: number;
  pattern?: string;
  "x-kubernetes-preserve-unknown-fields"?: boolean;
  "x-kubernetes-int-or-string"?: boolean;
}

/** One violation, with the path of the offending field (`spec.handshake.protocolVersions[0]`). */
export interface SchemaViolation {
  field: string;
  message: string;
}

/** Checks `value` against `schema`; returns every violation found. */
export function checkSchema(
  value: unknown,
  schema: OpenAPISchema,
  field: string,
  out: SchemaViolation[] = [],
): SchemaViolation[] {
  if (value === undefined || value === null) return out;
  if (schema["x-kubernetes-int-or-string"]) {
    if (typeof value !== "string" && !Number.isInteger(value))
      out.push({ field, message: `must be an integer or a string, got ${describe(value)}` });
    return out;
  }
  switch (schema.type) {
    case "object": {
      if (typeof value !== "object" || Array.isArray(value)) {
        out.push({ field, message: `must be an object, got ${describe(value)}` });
        return out;
      }
      const obj = value as Record<string, unknown>;
      // Unknown fields first: `imagee` is the cause of "image is required", so it is reported before it.
      const closed =
        schema.properties && !schema.additionalProperties && !schema["x-kubernetes-preserve-unknown-fields"];
      if (closed) {
        const known = Object.keys(schema.properties!);
        const missing = (schema.required ?? []).filter((r) => obj[r] === undefined);
        for (const k of Object.keys(obj)) {
          if (Object.hasOwn(schema.properties!, k)) continue;
          const near = closest(k, missing) ?? closest(k, known);
          out.push({
            field: join(field, k),
            message: `unknown field${near ? ` (did you mean ${near}?)` : ""} (known: ${known.join(", ")})`,
          });
        }
      }
      for (const r of schema.required ?? [])
        if (obj[r] === undefined) out.push({ field: join(field, r), message: "is required" });
      if (schema.minProperties !== undefined && Object.keys(obj).length < schema.minProperties) {
        out.push({ field, message: `must have at least ${schema.minProperties} field(s)` });
      }
      if (schema.maxProperties !== undefined && Object.keys(obj).length > schema.maxProperties) {
        out.push({ field, message: `must have at most ${schema.maxProperties} fields` });
      }
      for (const [k, v] of Object.entries(obj)) {
        // Own properties only: a manifest key like `constructor` must not find Object.prototype's.
        const sub = schema.properties && Object.hasOwn(schema.properties, k) ? schema.properties[k] : undefined;
        if (sub) checkSchema(v, sub, join(field, k), out);
        else if (typeof schema.additionalProperties === "object")
          checkSchema(v, schema.additionalProperties, join(field, k), out);
      }
      return out;
    }
    case "array": {
      if (!Array.isArray(value)) {
        out.push({ field, message: `must be a list, got ${describe(value)}` });
        return out;
      }
      if (schema.minItems !== undefined && value.length < schema.minItems)
        out.push({ field, message: `must have at least ${schema.minItems} item(s)` });
      if (schema.maxItems !== undefined && value.length > schema.maxItems)
        out.push({ field, message: `must have at most ${schema.maxItems} items` });
      if (schema.items) for (const [i, v] of value.entries()) checkSchema(v, schema.items, `${field}[${i}]`, out);
      return out;
    }
    case "string":
      if (typeof value !== "string") out.push({ field, message: `must be a string, got ${describe(value)}` });
      else {
        if (schema.minLength !== undefined && value.length < schema.minLength)
          out.push({ field, message: `must be at least ${schema.minLength} character(s)` });
        if (schema.maxLength !== undefined && value.length > schema.maxLength)
          out.push({ field, message: `must be at most ${schema.maxLength} characters` });
        if (schema.pattern !== undefined && !new RegExp(schema.pattern, "u").test(value))
          out.push({ field, message: `must match ${schema.pattern}` });
      }
      break;
    case "integer":
    case "number":
      if (typeof value !== "number" || (schema.type === "integer" && !Number.isInteger(value)))
        out.push({
          field,
          message: `must be ${schema.type === "integer" ? "an integer" : "a number"}, got ${describe(value)}`,
        });
      else {
        if (schema.minimum !== undefined && value < schema.minimum)
          out.push({ field, message: `must be ≥ ${schema.minimum}` });
        if (schema.maximum !== undefined && value > schema.maximum)
          out.push({ field, message: `must be ≤ ${schema.maximum}` });
      }
      break;
    case "boolean":
      if (typeof value !== "boolean") out.push({ field, message: `must be true or false, got ${describe(value)}` });
      break;
  }
  if (schema.enum && !schema.enum.includes(value))
    out.push({ field, message: `must be one of ${schema.enum.map((e) => JSON.stringify(e)).join(", ")}` });
  return out;
}

function join(base: string, key: string): string {
  return base ? `${base}.${key}` : key;
}

function describe(v: unknown): string {
  return Array.isArray(v) ? "a list" : v === null ? "null" : `${typeof v} ${JSON.stringify(v)?.slice(0, 40)}`;
}

/** The name in `names` within edit distance 2 of `s` (the nearest), for "did you mean". */
function closest(s: string, names: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestD = 3;
  for (const n of names) {
    const d = distance(s.toLowerCase(), n.toLowerCase());
    if (d < bestD) [best, bestD] = [n, d];
  }
  return best;
}

/** Levenshtein distance. */
function distance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++)
      cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = cur;
  }
  return prev[b.length]!;
}
