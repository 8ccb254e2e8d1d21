import { register } from "node:module";
register("./strip-types-hook.mjs", import.meta.url);
