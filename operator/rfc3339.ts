/** Kubernetes timestamps: RFC 3339 in whole seconds, as the apiserver stores them. */

/** `ms` (default: now) as the RFC 3339 seconds Kubernetes stores in its timestamps, e.g. `2026-12-01T23:00:00Z`. */
export function rfc3339Seconds(ms: number = Date.now()): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z");
}
