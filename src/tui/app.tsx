import { basename } from "node:path";
import { Box, Text, useApp, useStdout } from "ink";
import { useCallback, useEffect, useMemo, useRef, useState } from "react";
import type { Browser } from "../store/browse.js";
import { SessionCounts } from "./counts.js";
import type { Opening } from "./opening.js";
import { callLines, loadCallView } from "./detail.js";
import { appActionForKey, hints } from "./keys.js";
import { CallView } from "./screens/call.js";
import { RunView } from "./screens/run.js";
import { RunsView } from "./screens/runs.js";
import { SessionsView } from "./screens/sessions.js";
import { TimelineView } from "./screens/timeline.js";
import {
  type AppAction,
  type AppState,
  bodyHeight,
  type Ctx,
  current,
  filterOf,
  initialState,
  reduce,
  type Screen,
  type Size,
} from "./state.js";
import { short } from "./format.js";
import type { Line } from "./text.js";
import type { Theme } from "./theme.js";
import { Help } from "./widgets/help/Help.js";
import { Lines, ThemeContext } from "./widgets/Lines.js";
import { type ListState, position } from "./widgets/list/list-state.js";
import { moveForKey } from "./widgets/list/list-keys.js";
import { useKeystrokes } from "./widgets/keystrokes.js";
import { type Crumb, StatusLine, type Where } from "./widgets/status/StatusLine.js";
import { TextInput } from "./widgets/text-input/TextInput.js";
import { textEventForKey } from "./widgets/text-input/text-input-keys.js";

/** Below this the screens cannot be laid out; the UI says so instead. */
export const MIN_SIZE: Size = { columns: 40, rows: 10 };

export interface AppProps {
  browser: Browser;
  theme: Theme;
  /** A fixed size (tests); by default the terminal's, following resizes. */
  size?: Size;
  /** Called after each key is handled. */
  onKey?: () => void;
  /** The opening screen, read before the first render (opening.ts); else read at it. */
  opening?: Opening | null;
}

/** The terminal's size, updated on every resize. */
export function useTerminalSize(fixed?: Size): Size {
  const { stdout } = useStdout();
  const read = useCallback(
    (): Size => fixed ?? { columns: stdout.columns || 80, rows: stdout.rows || 24 },
    [fixed, stdout],
  );
  const [size, setSize] = useState<Size>(read);
  useEffect(() => {
    if (fixed) return;
    const onResize = (): void => setSize(read());
    // Before Ink's own listener, which redraws at once: it then draws the new layout, not the
    // old one wrapped in a narrower terminal.
    stdout.prependListener("resize", onResize);
    return () => {
      stdout.off("resize", onResize);
    };
  }, [stdout, fixed, read]);
  return fixed ?? size;
}

/** The app's state, kept in a ref so that keys arriving faster than frames see each other. */
function useStore(
  init: () => AppState,
  ctx: Ctx,
): [AppState, (a: AppAction) => void, { readonly current: AppState }] {
  const ref = useRef<AppState | null>(null);
  ref.current ??= init();
  const [, setTick] = useState(0);
  const dispatch = useCallback(
    (a: AppAction) => {
      const next = reduce(ref.current!, a, ctx);
      if (next !== ref.current) {
        ref.current = next;
        setTick((t) => t + 1);
      }
    },
    [ctx],
  );
  return [ref.current, dispatch, ref as { readonly current: AppState }];
}

/** The terminal UI: sessions, timelines, calls and saved runs of one recording. */
export function App({ browser, theme, size: fixed, onKey, opening }: AppProps) {
  const { exit } = useApp();
  const size = useTerminalSize(fixed);
  const [countsVersion, setCountsVersion] = useState(0);
  const counts = useMemo(() => opening?.counts ?? new SessionCounts(browser), [browser, opening]);
  useEffect(() => {
    counts.listen(() => setCountsVersion((v) => v + 1));
    return () => counts.stop();
  }, [counts]);

  // A call's lines, kept for the last few calls and widths: scrolling re-reads nothing.
  const detailCache = useMemo(() => new Map<string, Line[]>(), [browser]);
  const ctx = useMemo<Ctx>(
    () => ({
      browser,
      detail(screen, width) {
        const key = `${screen.call}:${screen.run}:${width}`;
        let lines = detailCache.get(key);
        if (lines === undefined) {
          const view = loadCallView(browser, screen.call, screen.run);
          lines =
            view === null
              ? [[{ text: ` call ${screen.call} is not in this recording`, tone: "muted" }]]
              : callLines(view, width);
          if (detailCache.size >= 16) detailCache.clear();
          detailCache.set(key, lines);
        }
        return lines;
      },
    }),
    [browser, detailCache],
  );

  const [state, dispatch, stateRef] = useStore(() => {
    if (opening) return opening.state;
    try {
      return initialState(ctx, size);
    } catch (err) {
      return errorState(err, size);
    }
  }, ctx);

  useEffect(() => {
    if (size.columns !== state.size.columns || size.rows !== state.size.rows)
      dispatch({ type: "resize", size });
  }, [size, state.size, dispatch]);

  useEffect(() => {
    if (state.quit) exit();
  }, [state.quit, exit]);

  const screen = current(state);

  // Count the sessions on screen (and the one whose timeline is open), between key presses.
  useEffect(() => {
    if (screen.kind === "sessions") counts.want(screen.list.rows.map((r) => r.id));
    if (screen.kind === "timeline") counts.want([screen.session.id]);
  }, [screen, counts]);

  useKeystrokes((input, key) => {
    onKey?.();
    const now = stateRef.current;
    if (now.filter !== null) {
      const e = textEventForKey(input, key);
      if (e === null) return;
      if (e.type === "submit") dispatch({ type: "filterApply" });
      else if (e.type === "cancel") dispatch({ type: "filterCancel" });
      else dispatch({ type: "filterEdit", edit: e.edit });
      return;
    }
    if (now.help) {
      // Any key closes the help; q still quits.
      dispatch(input === "q" ? { type: "quit" } : { type: "help", show: false });
      return;
    }
    const move = now.error === null ? moveForKey(input, key) : null;
    if (move !== null) {
      dispatch({ type: "move", move });
      return;
    }
    const action = appActionForKey(input, key);
    if (action === null) return;
    if (action.type === "reload") counts.clear();
    dispatch(action);
  });

  const { columns: width, rows } = size;
  if (width < MIN_SIZE.columns || rows < MIN_SIZE.rows) {
    return (
      <Text wrap="truncate">
        {`Terminal ${width}x${rows} is too small: policy-replay tui needs ${MIN_SIZE.columns}x${MIN_SIZE.rows}. q quits.`}
      </Text>
    );
  }

  const bodyRows = rows - 2;
  let body;
  if (state.error !== null) {
    body = <ErrorBody message={state.error} width={width} height={bodyRows} />;
  } else if (state.help) {
    body = <Help width={width} height={bodyRows} />;
  } else {
    body = (
      <Body
        screen={screen}
        width={width}
        rows={rows}
        ctx={ctx}
        counts={counts}
        countsVersion={countsVersion}
      />
    );
  }

  return (
    <ThemeContext.Provider value={theme}>
      <Box flexDirection="column" width={width} height={rows}>
        <TitleBar state={state} file={browser.file} width={width} />
        <Box height={bodyRows} flexDirection="column">
          {body}
        </Box>
        {state.filter !== null ? (
          <TextInput
            state={state.filter}
            prompt="/ filter: "
            hint={filterHint(screen)}
            width={width}
          />
        ) : (
          <StatusLine
            where={where(state, counts, (screen) => ctx.detail(screen, width).length)}
            note={state.note}
            hints={
              state.error !== null
                ? ["Esc back", "q quit"]
                : state.help
                  ? ["any key closes the help", "q quit"]
                  : hints(screen, filterOf(screen) !== "")
            }
            width={width}
          />
        )}
      </Box>
    </ThemeContext.Provider>
  );
}

function errorState(err: unknown, size: Size): AppState {
  const empty: Screen = {
    kind: "runs",
    total: 0,
    notice: null,
    list: { rows: [], cursor: 0, height: 1, top: 0, tail: 0 },
  };
  return {
    tab: "sessions",
    stacks: { sessions: [empty], runs: [empty] },
    help: false,
    filter: null,
    note: null,
    error: err instanceof Error ? err.message : String(err),
    quit: false,
    size,
  };
}

function filterHint(screen: Screen): string {
  switch (screen.kind) {
    case "sessions":
      return "id, identity, client or server · Enter applies · Esc cancels";
    case "timeline":
      return "tool, decision, code or rule · Enter · Esc";
    case "run":
      return "tool or identity (tool:X identity:Y) · Enter · Esc";
    default:
      return "";
  }
}

function Body({
  screen,
  width,
  rows,
  ctx,
  counts,
}: {
  screen: Screen;
  width: number;
  rows: number;
  ctx: Ctx;
  counts: SessionCounts;
  /** Only here so that finished counts redraw the screen. */
  countsVersion: number;
}) {
  switch (screen.kind) {
    case "sessions":
      return <SessionsView screen={screen} width={width} counts={(id) => counts.get(id)} />;
    case "timeline":
      return <TimelineView screen={screen} width={width} counts={counts.get(screen.session.id)} />;
    case "call":
      return (
        <CallView
          screen={screen}
          lines={ctx.detail(screen, width)}
          width={width}
          height={bodyHeight("call", rows)}
        />
      );
    case "runs":
      return <RunsView screen={screen} width={width} />;
    case "run":
      return <RunView screen={screen} width={width} />;
  }
}

function ErrorBody({ message, width, height }: { message: string; width: number; height: number }) {
  const lines: Line[] = [
    [{ text: " The recording could not be read", tone: "deny", bold: true }],
    [],
    ...message.split("\n").map((l): Line => [{ text: ` ${l}` }]),
    [],
    [{ text: " Esc goes back to the last screen; q quits.", tone: "muted" }],
  ];
  return <Lines lines={lines} width={width} height={height} />;
}

function TitleBar({ state, file, width }: { state: AppState; file: string; width: number }) {
  const tab = (name: string, key: string, on: boolean): Line => [
    {
      text: on ? `[${key} ${name}]` : ` ${key} ${name} `,
      ...(on ? { bold: true } : { tone: "muted" as const }),
    },
  ];
  const right: Line = [
    ...tab("Sessions", "1", state.tab === "sessions"),
    { text: " " },
    ...tab("Runs", "2", state.tab === "runs"),
  ];
  const left = ` policy-replay · ${basename(file)}`;
  const rightWidth = 24;
  return (
    <Box width={width}>
      <Box width={Math.max(1, width - rightWidth)}>
        <Text bold wrap="truncate">
          {left}
        </Text>
      </Box>
      <Box width={rightWidth} justifyContent="flex-end">
        <Text wrap="truncate">
          {right.map((s, i) => (
            <Text key={i} bold={s.bold} dimColor={s.tone === "muted"}>
              {s.text}
            </Text>
          ))}
        </Text>
      </Box>
    </Box>
  );
}

/** Where you are: the path of screens down to this one, and the row you are on. */
export function where(
  state: AppState,
  counts: SessionCounts,
  detailLines: (screen: Extract<Screen, { kind: "call" }>) => number,
): Where {
  if (state.error !== null) return { crumbs: [{ text: "error" }], at: "" };
  if (state.help) return { crumbs: [{ text: "help" }], at: "" };
  const parts: Crumb[] = [];
  const stack = state.stacks[state.tab];
  for (const s of stack) {
    switch (s.kind) {
      case "sessions":
        parts.push({ text: "Sessions" });
        break;
      case "timeline":
        parts.push({
          text: `${s.session.identity} ${short(s.session.id)}`,
          short: s.session.identity,
        });
        break;
      case "call":
        parts.push({ text: `call ${s.call}` });
        break;
      case "runs":
        parts.push({ text: "Runs" });
        break;
      case "run":
        parts.push({ text: `run ${s.run.id}` });
        break;
    }
  }
  const top = stack[stack.length - 1]!;
  let at = "";
  if (top.kind === "call") {
    const lines = detailLines(top);
    const height = bodyHeight("call", state.size.rows);
    if (lines > height)
      at = ` lines ${top.scroll.offset + 1}-${Math.min(lines, top.scroll.offset + height)}/${lines}`;
  } else {
    const total =
      top.kind === "timeline"
        ? top.filter === ""
          ? (counts.get(top.session.id)?.calls ?? null)
          : null
        : top.total;
    const p = position(top.list as ListState<unknown>, total);
    if (p.index !== null) at = ` ${p.index}/${p.total ?? "?"}`;
    else if (p.total !== null && top.list.rows.length === 0) at = " 0/0";
  }
  return { crumbs: parts, at };
}
