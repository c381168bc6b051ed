import {
  type Browser,
  type CallRow,
  DIFF_CLASSES,
  type DiffQuery,
  type DiffRow,
  type RunRow,
  SESSION_SORTS,
  type SessionQuery,
  type SessionRow,
  type ShadowCounts,
} from "../store/browse.js";
import type { Line } from "./text.js";
import {
  firstPage,
  type ListState,
  listReducer,
  type MoveAction,
  pageAround,
  selected,
} from "./widgets/list/list-state.js";
import { clampScroll, type ScrollState, scrollReducer } from "./widgets/scroll/scroll-state.js";
import {
  textInput,
  type TextInputAction,
  textInputReducer,
  type TextInputState,
} from "./widgets/text-input/text-input-state.js";

// The whole UI's state and how keys change it. Two tabs (sessions, runs), each a stack of
// screens; Enter pushes, Esc pops. Lists keep their own page, so going back finds the cursor
// where it was. The reducer reads the recording through the Browser and nothing else.

export type Screen =
  | { kind: "sessions"; query: SessionQuery; total: number; list: ListState<SessionRow> }
  | {
      kind: "timeline";
      session: SessionRow;
      filter: string;
      list: ListState<CallRow>;
      /** The session's shadow decisions against its enforced ones; null when it has none. */
      shadow: ShadowCounts | null;
    }
  | { kind: "call"; call: number; session: string; run: number | null; scroll: ScrollState }
  | {
      kind: "runs";
      total: number;
      /** Saved runs not shown, and why (Browser.runsNotice), or null. */
      notice: string | null;
      list: ListState<RunRow>;
    }
  | {
      kind: "run";
      run: RunRow;
      query: DiffQuery;
      /** Results in the class shown; null under a text filter (counting would scan). */
      total: number | null;
      list: ListState<DiffRow>;
    };

export type Tab = "sessions" | "runs";

export interface Size {
  columns: number;
  rows: number;
}

export interface AppState {
  tab: Tab;
  /** Each tab's screens, the one shown last; never empty. */
  stacks: Record<Tab, Screen[]>;
  help: boolean;
  /** The filter being typed, or null when none is. */
  filter: TextInputState | null;
  /** A line for the status bar about the last key (a move that could not be made, ...). */
  note: string | null;
  /** A read that failed: shown instead of the screen until Esc. */
  error: string | null;
  quit: boolean;
  size: Size;
}

export type AppAction =
  | { type: "move"; move: MoveAction }
  | { type: "open" }
  | { type: "back" }
  | { type: "tab"; tab?: Tab }
  | { type: "help"; show?: boolean }
  | { type: "filterStart" }
  | { type: "filterEdit"; edit: TextInputAction }
  | { type: "filterApply" }
  | { type: "filterCancel" }
  | { type: "sort" }
  | { type: "class" }
  | { type: "timeline" }
  | { type: "reload" }
  | { type: "resize"; size: Size }
  | { type: "quit" };

export interface Ctx {
  browser: Browser;
  /** The lines of a call screen at a width (the reducer needs their number to scroll). */
  detail(screen: Extract<Screen, { kind: "call" }>, width: number): Line[];
}

// Lines each screen spends outside its list: the title bar, its own header, the table's
// header and the status line.
const CHROME: Record<Screen["kind"], number> = {
  sessions: 4,
  timeline: 5,
  call: 2,
  runs: 4,
  run: 5,
};

/** How many list rows (or detail lines) a screen shows in a terminal this tall. */
export function bodyHeight(kind: Screen["kind"], rows: number): number {
  return Math.max(1, rows - CHROME[kind]);
}

/** The screen shown now. */
export function current(s: AppState): Screen {
  const stack = s.stacks[s.tab];
  return stack[stack.length - 1]!;
}

/** The state a recording opens in: newest sessions first, runs newest first. */
export function initialState(ctx: Pick<Ctx, "browser">, size: Size): AppState {
  const query: SessionQuery = { sort: "newest", filter: "" };
  const sessions: Screen = {
    kind: "sessions",
    query,
    total: ctx.browser.sessionCount(),
    list: firstPage(ctx.browser.sessions(query), bodyHeight("sessions", size.rows)),
  };
  const runs: Screen = {
    kind: "runs",
    total: ctx.browser.runCount(),
    notice: ctx.browser.runsNotice(),
    list: firstPage(ctx.browser.runs(), bodyHeight("runs", size.rows)),
  };
  return {
    tab: "sessions",
    stacks: { sessions: [sessions], runs: [runs] },
    help: false,
    filter: null,
    note: null,
    error: null,
    quit: false,
    size,
  };
}

/** Whether a screen has a `/` filter. */
export function filterable(screen: Screen): boolean {
  return screen.kind === "sessions" || screen.kind === "timeline" || screen.kind === "run";
}

/** The filter a screen is showing ("" for none). */
export function filterOf(screen: Screen): string {
  switch (screen.kind) {
    case "sessions":
    case "run":
      return screen.query.filter;
    case "timeline":
      return screen.filter;
    default:
      return "";
  }
}

/**
 * The state after an action. A failed read (the file went away, or is damaged) does not
 * throw: it becomes `error`, shown in place of the screen.
 */
export function reduce(s: AppState, a: AppAction, ctx: Ctx): AppState {
  try {
    return step(s, a, ctx);
  } catch (err) {
    return { ...s, error: err instanceof Error ? err.message : String(err), filter: null };
  }
}

function step(s0: AppState, a: AppAction, ctx: Ctx): AppState {
  // A note lasts until the next key.
  const s = s0.note !== null && a.type !== "resize" ? { ...s0, note: null } : s0;
  if (a.type === "quit") return { ...s, quit: true };
  if (a.type === "resize") return resizeAll(s, a.size, ctx);
  if (s.error !== null) {
    return a.type === "back" ? { ...s, error: null } : s;
  }
  if (a.type === "help") return { ...s, help: a.show ?? !s.help };
  if (s.help) return a.type === "back" ? { ...s, help: false } : s;
  const screen = current(s);
  switch (a.type) {
    case "move":
      return replaceTop(s, move(screen, a.move, ctx, s.size));
    case "open":
      return open(s, screen, ctx);
    case "back":
      return back(s, screen, ctx);
    case "tab":
      return { ...s, tab: a.tab ?? (s.tab === "sessions" ? "runs" : "sessions") };
    case "filterStart":
      return filterable(screen) ? { ...s, filter: textInput(filterOf(screen)) } : s;
    case "filterEdit":
      return s.filter === null ? s : { ...s, filter: textInputReducer(s.filter, a.edit) };
    case "filterCancel":
      return { ...s, filter: null };
    case "filterApply": {
      if (s.filter === null) return s;
      const text = s.filter.value.trim();
      return replaceTop({ ...s, filter: null }, withFilter(screen, text, ctx, s.size));
    }
    case "sort": {
      if (screen.kind !== "sessions") return s;
      const sort =
        SESSION_SORTS[(SESSION_SORTS.indexOf(screen.query.sort) + 1) % SESSION_SORTS.length]!;
      return replaceTop(s, sessionsScreen({ ...screen.query, sort }, ctx, s.size));
    }
    case "class": {
      if (screen.kind !== "run") return s;
      const cls =
        DIFF_CLASSES[(DIFF_CLASSES.indexOf(screen.query.class) + 1) % DIFF_CLASSES.length]!;
      return replaceTop(s, runScreen(screen.run, { ...screen.query, class: cls }, ctx, s.size));
    }
    case "timeline":
      return screen.kind === "call" ? openTimelineAt(s, screen, ctx) : s;
    case "reload":
      return replaceTop(s, reload(screen, ctx));
  }
}

function replaceTop(s: AppState, screen: Screen): AppState {
  const stack = s.stacks[s.tab];
  if (stack[stack.length - 1] === screen) return s;
  return { ...s, stacks: { ...s.stacks, [s.tab]: [...stack.slice(0, -1), screen] } };
}

function push(s: AppState, screen: Screen): AppState {
  return { ...s, stacks: { ...s.stacks, [s.tab]: [...s.stacks[s.tab], screen] } };
}

function sessionsScreen(query: SessionQuery, ctx: Ctx, size: Size): Screen {
  return {
    kind: "sessions",
    query,
    total: ctx.browser.sessionCount(query.filter),
    list: firstPage(ctx.browser.sessions(query), bodyHeight("sessions", size.rows)),
  };
}

/** A session's shadow counts, read only for a session recorded with a shadow policy. */
function shadowOf(session: SessionRow, ctx: Ctx): ShadowCounts | null {
  return session.shadowPolicyHash === null ? null : ctx.browser.shadowCounts(session.id);
}

function timelineScreen(session: SessionRow, filter: string, ctx: Ctx, size: Size): Screen {
  return {
    kind: "timeline",
    session,
    filter,
    shadow: shadowOf(session, ctx),
    list: firstPage(
      ctx.browser.calls({ session: session.id, filter }),
      bodyHeight("timeline", size.rows),
    ),
  };
}

function runScreen(run: RunRow, query: DiffQuery, ctx: Ctx, size: Size): Screen {
  return {
    kind: "run",
    run,
    query,
    total: query.filter === "" ? ctx.browser.diffCount(run.id, query.class) : null,
    list: firstPage(ctx.browser.diffs(query), bodyHeight("run", size.rows)),
  };
}

function move(screen: Screen, m: MoveAction, ctx: Ctx, size: Size): Screen {
  const b = ctx.browser;
  switch (screen.kind) {
    case "sessions":
      return { ...screen, list: listReducer(screen.list, m, b.sessions(screen.query)) };
    case "timeline":
      return {
        ...screen,
        list: listReducer(
          screen.list,
          m,
          b.calls({ session: screen.session.id, filter: screen.filter }),
        ),
      };
    case "runs":
      return { ...screen, list: listReducer(screen.list, m, b.runs()) };
    case "run":
      return { ...screen, list: listReducer(screen.list, m, b.diffs(screen.query)) };
    case "call": {
      const lines = ctx.detail(screen, size.columns).length;
      const scroll = scrollReducer(screen.scroll, m, lines, bodyHeight("call", size.rows));
      return scroll === screen.scroll ? screen : { ...screen, scroll };
    }
  }
}

function open(s: AppState, screen: Screen, ctx: Ctx): AppState {
  switch (screen.kind) {
    case "sessions": {
      const row = selected(screen.list);
      return row === null ? s : push(s, timelineScreen(row, "", ctx, s.size));
    }
    case "timeline": {
      const row = selected(screen.list);
      if (row === null) return s;
      return push(s, {
        kind: "call",
        call: row.id,
        session: row.session,
        run: null,
        scroll: { offset: 0 },
      });
    }
    case "runs": {
      const row = selected(screen.list);
      if (row === null) return s;
      return push(s, runScreen(row, { run: row.id, class: "all", filter: "" }, ctx, s.size));
    }
    case "run": {
      const row = selected(screen.list);
      if (row === null) return s;
      if (row.session === null) return { ...s, note: `call ${row.call} is not in this recording` };
      return push(s, {
        kind: "call",
        call: row.call,
        session: row.session,
        run: row.run,
        scroll: { offset: 0 },
      });
    }
    case "call":
      return s;
  }
}

function back(s: AppState, screen: Screen, ctx: Ctx): AppState {
  // Esc first clears a filter, then leaves the screen.
  if (filterOf(screen) !== "") return replaceTop(s, withFilter(screen, "", ctx, s.size));
  const stack = s.stacks[s.tab];
  if (stack.length === 1) return s;
  return { ...s, stacks: { ...s.stacks, [s.tab]: stack.slice(0, -1) } };
}

function withFilter(screen: Screen, filter: string, ctx: Ctx, size: Size): Screen {
  switch (screen.kind) {
    case "sessions":
      return sessionsScreen({ ...screen.query, filter }, ctx, size);
    case "timeline":
      return timelineScreen(screen.session, filter, ctx, size);
    case "run":
      return runScreen(screen.run, { ...screen.query, filter }, ctx, size);
    default:
      return screen;
  }
}

/** From a call's detail to its session's timeline, the call selected. */
function openTimelineAt(
  s: AppState,
  screen: Extract<Screen, { kind: "call" }>,
  ctx: Ctx,
): AppState {
  const session = ctx.browser.session(screen.session);
  const call = ctx.browser.call(screen.call);
  if (session === null || call === null)
    return { ...s, note: "this call's session is not in the recording" };
  const source = ctx.browser.calls({ session: session.id, filter: "" });
  return push(s, {
    kind: "timeline",
    session,
    filter: "",
    shadow: shadowOf(session, ctx),
    list: pageAround(source, call, bodyHeight("timeline", s.size.rows)),
  });
}

/** The screen read again from the recording (a live recording grows), its selection kept. */
function reload(screen: Screen, ctx: Ctx): Screen {
  const b = ctx.browser;
  const around = <T>(
    list: ListState<T>,
    source: Parameters<typeof firstPage<T>>[0],
  ): ListState<T> => {
    const row = selected(list);
    return row === null ? firstPage(source, list.height) : pageAround(source, row, list.height);
  };
  switch (screen.kind) {
    case "sessions":
      return {
        ...screen,
        total: b.sessionCount(screen.query.filter),
        list: around(screen.list, b.sessions(screen.query)),
      };
    case "timeline":
      return {
        ...screen,
        shadow: shadowOf(screen.session, ctx),
        list: around(screen.list, b.calls({ session: screen.session.id, filter: screen.filter })),
      };
    case "runs":
      return {
        ...screen,
        total: b.runCount(),
        notice: b.runsNotice(),
        list: around(screen.list, b.runs()),
      };
    case "run":
      return { ...screen, list: around(screen.list, b.diffs(screen.query)) };
    case "call":
      return screen;
  }
}

function resizeAll(s: AppState, size: Size, ctx: Ctx): AppState {
  const fit = (screen: Screen): Screen => {
    const h = bodyHeight(screen.kind, size.rows);
    const b = ctx.browser;
    switch (screen.kind) {
      case "sessions":
        return {
          ...screen,
          list: listReducer(screen.list, { type: "resize", height: h }, b.sessions(screen.query)),
        };
      case "timeline":
        return {
          ...screen,
          list: listReducer(
            screen.list,
            { type: "resize", height: h },
            b.calls({ session: screen.session.id, filter: screen.filter }),
          ),
        };
      case "runs":
        return {
          ...screen,
          list: listReducer(screen.list, { type: "resize", height: h }, b.runs()),
        };
      case "run":
        return {
          ...screen,
          list: listReducer(screen.list, { type: "resize", height: h }, b.diffs(screen.query)),
        };
      case "call":
        return {
          ...screen,
          scroll: clampScroll(screen.scroll, ctx.detail(screen, size.columns).length, h),
        };
    }
  };
  if (s.error !== null) return { ...s, size };
  return {
    ...s,
    size,
    stacks: { sessions: s.stacks.sessions.map(fit), runs: s.stacks.runs.map(fit) },
  };
}
