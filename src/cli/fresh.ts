import { statSync } from "node:fs";

/**
 * Whether a bundle made by `npm run build` may be used in place of the modules it was made
 * from: it exists and is not older than `modules` (a plain tsc build since leaves it stale).
 * Kept free of imports beyond node:fs, since the launcher loads it before anything else.
 */
export function isFresh(bundle: string, modules: string): boolean {
  try {
    return statSync(bundle).mtimeMs >= statSync(modules).mtimeMs;
  } catch {
    return false;
  }
}
