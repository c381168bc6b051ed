import { Text } from "ink";
import { cut } from "../../text.js";
import type { TextInputState } from "./text-input-state.js";

/** A one-line field: `prompt`, the text with the caret shown in reverse video, then a hint. */
export function TextInput({
  state,
  prompt,
  hint,
  width,
}: {
  state: TextInputState;
  prompt: string;
  hint: string;
  width: number;
}) {
  const chars = [...state.value];
  const before = chars.slice(0, state.caret).join("");
  const at = chars[state.caret] ?? " ";
  const after = chars.slice(state.caret + 1).join("");
  const room = Math.max(1, width - prompt.length - hint.length - 2);
  // Keep the caret on screen: show the end of a long text.
  const shownBefore =
    before.length > room - 1 ? `…${before.slice(before.length - room + 2)}` : before;
  return (
    <Text wrap="truncate">
      <Text bold>{prompt}</Text>
      {shownBefore}
      <Text inverse>{at}</Text>
      {cut(after, Math.max(0, room - shownBefore.length - 1))}
      <Text dimColor>{`  ${hint}`}</Text>
    </Text>
  );
}
