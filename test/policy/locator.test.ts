import { describe, expect, it } from "vitest";
import { policyLocator } from "../../src/policy/load.js";

describe("policyLocator", () => {
  const text = '\ufeff{\n  "tools": {\n    "fleet_*": {}\n  },\n  "hide": ["a", "b"]\n}\n';
  const at = policyLocator(text);

  it("finds keys and values by JSON path, counting from 1 after a byte order mark", () => {
    expect(at(["tools", "fleet_*"], true)).toEqual({ line: 3, column: 5 });
    expect(at(["tools", "fleet_*"])).toEqual({ line: 3, column: 16 });
    expect(at(["hide", 1])).toEqual({ line: 5, column: 17 });
  });

  it("says nothing for a path that is not there", () => {
    expect(at(["tools", "other"], true)).toEqual({});
    expect(at(["hide", 5])).toEqual({});
  });
});
