import type { CompiledPolicy } from "./compile.js";

/** Whether `tool` is hidden from `identity` (SPEC section 2 step 1): gone from tools/list. */
export function isHidden(compiled: CompiledPolicy, identity: string, tool: string): boolean {
  return (compiled.grants.get(identity) ?? compiled.base).resolve(tool).kind === "hidden";
}
