// Who may reach the HTTP proxy: which Host headers it answers (against DNS rebinding, where a
// page on evil.example resolves its name to the proxy's address), and whether the listening
// address is one other machines can reach.
import { networkInterfaces } from "node:os";

const LOOPBACK_NAMES = new Set(["localhost", "127.0.0.1", "::1"]);

/** An address or name only this machine can reach: localhost, 127.0.0.0/8, ::1. */
export function isLoopbackAddress(host: string): boolean {
  const h = unbracket(host.toLowerCase());
  return (
    LOOPBACK_NAMES.has(h) ||
    /^127(\.\d{1,3}){3}$/.test(h) ||
    h === "::ffff:127.0.0.1" ||
    h === "::ffff:7f00:1"
  );
}

/** 0.0.0.0, :: and the empty host: every interface, so no one address to check Host against. */
export function isWildcardAddress(host: string): boolean {
  const h = unbracket(host);
  return h === "" || h === "0.0.0.0" || h === "::" || h === "::0";
}

/**
 * The Host headers a listener on `bind` answers, by host name (the port is not compared):
 * - on a loopback address: loopback names only (and `allowed`);
 * - on another address: that address, and `allowed`;
 * - on a wildcard address: loopback names, the machine's own interface addresses (looked up
 *   at each request, since they change), and `allowed`.
 */
export function hostChecker(
  bind: string,
  allowed: readonly string[] = [],
): (host?: string) => boolean {
  const names = new Set(allowed.map((a) => hostName(a) ?? a.toLowerCase()));
  const wildcard = isWildcardAddress(bind);
  if (!wildcard && !isLoopbackAddress(bind)) names.add(hostName(bind) ?? bind.toLowerCase());
  return (header) => {
    const name = header === undefined ? undefined : hostName(header);
    if (name === undefined) return false;
    if (names.has(name)) return true;
    if (isLoopbackAddress(bind) || wildcard) {
      if (isLoopbackAddress(name)) return true;
    }
    return wildcard && ownAddresses().has(name);
  };
}

/** The host name of a Host header or a bare address, lower case, IPv6 without brackets. */
function hostName(value: string): string | undefined {
  const v = value.includes(":") && !value.startsWith("[") && isIpv6(value) ? `[${value}]` : value;
  try {
    const name = new URL(`http://${v}`).hostname;
    return name === "" ? undefined : unbracket(name);
  } catch {
    return undefined;
  }
}

function isIpv6(value: string): boolean {
  return (value.match(/:/g)?.length ?? 0) >= 2;
}

function unbracket(host: string): string {
  return host.startsWith("[") && host.endsWith("]") ? host.slice(1, -1) : host;
}

function ownAddresses(): Set<string> {
  const out = new Set<string>();
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) out.add(a.address.toLowerCase().replace(/%.*$/, ""));
  }
  return out;
}
