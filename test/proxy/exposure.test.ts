// Which Host headers a listener answers (src/proxy/exposure.ts), by where it listens.
import { networkInterfaces } from "node:os";
import { describe, expect, it } from "vitest";
import { hostChecker, isLoopbackAddress } from "../../src/proxy/exposure.js";

describe("hostChecker", () => {
  it("on loopback: loopback names only, and the ones allowed", () => {
    const ok = hostChecker("127.0.0.1", ["dev.example"]);
    for (const h of ["127.0.0.1:8080", "localhost", "[::1]:1", "LOCALHOST:80", "dev.example:3000"])
      expect([h, ok(h)]).toEqual([h, true]);
    for (const h of ["evil.example", "10.0.0.1:80", undefined, "", "a b"])
      expect([h, ok(h)]).toEqual([h, false]);
  });

  it("on one address: that address and the ones allowed, not loopback names", () => {
    const ok = hostChecker("192.0.2.7", ["mcp.example"]);
    expect(ok("192.0.2.7:8080")).toBe(true);
    expect(ok("mcp.example")).toBe(true);
    expect(ok("localhost:8080")).toBe(false);
    expect(ok("evil.example")).toBe(false);
    expect(hostChecker("2001:db8::5")("[2001:DB8::5]:80")).toBe(true);
  });

  it("on every address: loopback names, the machine's own addresses and the ones allowed", () => {
    for (const bind of ["0.0.0.0", "::"]) {
      const ok = hostChecker(bind, ["mcp.example"]);
      expect(ok("localhost:1")).toBe(true);
      expect(ok("mcp.example")).toBe(true);
      expect(ok("evil.example")).toBe(false);
      for (const a of Object.values(networkInterfaces()).flat()) {
        if (!a || a.address.includes("%")) continue;
        const host = a.family === "IPv6" ? `[${a.address}]:80` : `${a.address}:80`;
        expect([host, ok(host)]).toEqual([host, true]);
      }
    }
  });

  it("tells loopback addresses", () => {
    for (const h of ["localhost", "127.0.0.1", "127.1.2.3", "::1", "[::1]"])
      expect([h, isLoopbackAddress(h)]).toEqual([h, true]);
    for (const h of ["0.0.0.0", "::", "192.0.2.1", "localhost.evil.example"])
      expect([h, isLoopbackAddress(h)]).toEqual([h, false]);
  });
});
