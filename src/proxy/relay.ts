import type { RelayOptions } from "./relay-options.js";
import { linkBackpressure } from "./backpressure.js";
import { RelaySession } from "./relay-session.js";
import { BadInputError } from "./bad-input.js";

export { type Clock, monotonicClock, type RelayOptions } from "./relay-options.js";
export { AUDIT_UNAVAILABLE, DEFAULT_REQUEST_TIMEOUT_MS } from "./relay-session.js";

/**
 * Relay one MCP session between an agent and a server, deciding every tools/call with the
 * engine and recording every message and decision (see RelaySession). Starts both transports;
 * the returned promise resolves once they are started, with `closed`, which resolves when
 * either side closes and the session's end is written.
 */
export async function relay(opts: RelayOptions): Promise<{ closed: Promise<void> }> {
  const { client, server } = opts;
  const session = new RelaySession(opts);
  client.onmessage = (message) => session.onClientMessage(message);
  server.onmessage = (message) => session.onServerMessage(message);
  const closed = new Promise<void>((resolve) => {
    let ended = false;
    const end = (reason: string): void => {
      if (ended) return;
      ended = true;
      session.end(reason);
      // Calls whose lookups are still out were counted: closed waits for their rows.
      void Promise.allSettled([client.close(), server.close(), session.settled()]).then(() =>
        resolve(),
      );
    };
    client.onclose = () => end("client_disconnected");
    server.onclose = () => end("server_exited");
    client.onerror = (err) =>
      err instanceof BadInputError
        ? session.onBadInput("agent", err.bad)
        : opts.log(`agent side: ${err.message}`);
    server.onerror = (err) =>
      err instanceof BadInputError
        ? session.onBadInput("server", err.bad)
        : opts.log(`server side: ${err.message}`);
  });
  // A side that is not reading stops the proxy reading from the other side.
  linkBackpressure(client, server);
  // The server first, so nothing from the agent arrives before there is somewhere to send it.
  try {
    await server.start();
  } catch (err) {
    // Nothing was relayed and the caller winds the session up (and may close the store): the
    // failed server's close event must not end it a second time.
    server.onclose = client.onclose = undefined;
    throw err;
  }
  await client.start();
  return { closed };
}
