/**
 * Names of live clients, per metrics registry: a name labels a client's
 * metrics and logs, so two live clients must not share one. A default name
 * (the command's) that is taken gets a suffix (`kv.ts-2`); a name given
 * explicitly that is taken is refused.
 */
import { register as defaultRegistry, type Registry } from "prom-client";
import { PodplugError } from "../errors.ts";

const live = new WeakMap<Registry, Set<string>>();

/** Takes a name for a new client; call the returned function when the client is gone. */
export function claimName(
  wanted: string,
  explicit: boolean,
  registry: Registry = defaultRegistry,
): { name: string; release: () => void } {
  let names = live.get(registry);
  if (!names) live.set(registry, (names = new Set()));
  let name = wanted;
  if (names.has(name)) {
    if (explicit)
      throw new PodplugError(
        "CONFIG_INVALID",
        `Client: another live client is named ${JSON.stringify(name)}; two clients of one metrics registry must have distinct names, or their metrics and logs mix. Give each its own \`name\`, or kill() the other first.`,
        { name },
      );
    for (let i = 2; names.has(name); i++) name = `${wanted}-${i}`;
  }
  names.add(name);
  const set = names;
  return { name, release: () => void set.delete(name) };
}
