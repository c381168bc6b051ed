import MarkdownIt from "markdown-it";
import { describe, expect, it } from "vitest";
import { mdEscape } from "../../../src/replay/report/markdown.js";

describe("mdEscape", () => {
  const md = new MarkdownIt();
  /** What a reader sees of `s` escaped into a table cell. */
  const cell = (s: string): string => {
    const html = md.render(`| h |\n| --- |\n| ${mdEscape(s)} |\n`);
    const m = /<td>(.*)<\/td>/s.exec(html);
    return (m?.[1] ?? "<no cell>")
      .replace(/&lt;/g, "<")
      .replace(/&gt;/g, ">")
      .replace(/&quot;/g, '"')
      .replace(/&amp;/g, "&");
  };

  it("every ASCII punctuation character reads as itself in a table cell", () => {
    const punct = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~";
    for (const ch of punct) expect(cell(`a${ch}b${ch}${ch}c`)).toBe(`a${ch}b${ch}${ch}c`);
    expect(cell("**bold** _it_ `code` [l](u) <b>x</b> ~~s~~ &amp; |")).toBe(
      "**bold** _it_ `code` [l](u) <b>x</b> ~~s~~ &amp; |",
    );
  });

  it("control characters and newlines become spaces, so a row stays one row", () => {
    expect(mdEscape("a\nb\r\n\tc\u0000d")).toBe("a b c d");
  });
});
