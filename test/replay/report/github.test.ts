import { describe, expect, it } from "vitest";
import { command, escapeData, escapeProperty } from "../../../src/replay/report/github.js";

describe("workflow command escaping (as GitHub documents it)", () => {
  it("messages escape % CR LF; properties also : and ,", () => {
    expect(escapeData("50% a\r\nb:c,d")).toBe("50%25 a%0D%0Ab:c,d");
    expect(escapeProperty("50% a\r\nb:c,d")).toBe("50%25 a%0D%0Ab%3Ac%2Cd");
    // % first, so an escape is never escaped twice.
    expect(escapeData("%0A")).toBe("%250A");
  });

  it("one command per line, properties in order, missing ones left out", () => {
    expect(command("warning", { file: "p,q.json", line: 7, col: null, title: "a:b" }, "x\ny")).toBe(
      "::warning file=p%2Cq.json,line=7,title=a%3Ab::x%0Ay\n",
    );
    expect(command("notice", {}, "plain")).toBe("::notice::plain\n");
  });
});
