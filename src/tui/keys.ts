import type { Key } from "ink";
import type { AppAction, Screen } from "./state.js";

// Every key the UI answers to, in one table: the help overlay is drawn from it, so it cannot
// drift from what the keys do.

export interface KeyHelp {
  keys: string;
  does: string;
}

export const KEY_GROUPS: readonly { title: string; keys: readonly KeyHelp[] }[] = [
  {
    title: "Move",
    keys: [
      { keys: "↓ j  ↑ k", does: "next / previous row (scroll, in a call's detail)" },
      { keys: "PgDn PgUp", does: "next / previous page (also Space, Ctrl-F / Ctrl-B)" },
      { keys: "g Home  G End", does: "first / last row" },
    ],
  },
  {
    title: "Act",
    keys: [
      { keys: "Enter", does: "open: a session's timeline, a call, a run's changes" },
      { keys: "Esc Backspace", does: "back (clears the filter first, if one is set)" },
      { keys: "/", does: "filter this list; Enter applies, Esc cancels" },
      { keys: "s", does: "sessions: sort by newest, oldest, identity, longest" },
      { keys: "c", does: "a run: show all, tightened, loosened, changed, inexact" },
      { keys: "t", does: "a call: its session's timeline, at this call" },
      { keys: "Tab 1 2", does: "switch between Sessions and Runs" },
      { keys: "r", does: "read the recording again (a live one grows)" },
      { keys: "?", does: "this help; any key closes it" },
      { keys: "q Ctrl-C", does: "quit" },
    ],
  },
];

export const LEGEND =
  "✓ allow  ✗ deny  ↻ rate-limited  ? approval   ▲ tightened  ▼ loosened  ~ changed  = same   cf counterfactual  ≈ inexact";

/** The keys worth a mention in the status line on a screen, most useful first. */
export function hints(screen: Screen, filtered: boolean): string[] {
  const back = filtered ? "Esc clear filter" : "Esc back";
  switch (screen.kind) {
    case "sessions":
      return [
        "↑↓ move",
        "⏎ timeline",
        "/ filter",
        "s sort",
        ...(filtered ? [back] : []),
        "Tab runs",
        "? help",
        "q quit",
      ];
    case "timeline":
      return ["↑↓ move", "⏎ call", "/ filter", back, "? help", "q quit"];
    case "call":
      return ["↑↓ scroll", "t timeline", "Esc back", "? help", "q quit"];
    case "runs":
      return ["↑↓ move", "⏎ changes", "Tab sessions", "? help", "q quit"];
    case "run":
      return ["↑↓ move", "⏎ call", "c class", "/ filter", back, "? help", "q quit"];
  }
}

/** What a key does outside lists and text fields: the app's own keys. */
export function appActionForKey(input: string, key: Key): AppAction | null {
  if (key.return) return { type: "open" };
  if (key.escape || key.backspace || key.delete) return { type: "back" };
  if (key.tab) return { type: "tab" };
  if (key.ctrl || key.meta) return null;
  switch (input) {
    case "q":
      return { type: "quit" };
    case "?":
      return { type: "help", show: true };
    case "/":
      return { type: "filterStart" };
    case "s":
      return { type: "sort" };
    case "c":
      return { type: "class" };
    case "t":
      return { type: "timeline" };
    case "r":
      return { type: "reload" };
    case "1":
      return { type: "tab", tab: "sessions" };
    case "2":
      return { type: "tab", tab: "runs" };
    default:
      return null;
  }
}
