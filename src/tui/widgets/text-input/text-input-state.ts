// A one-line text field: the text and where the caret is, in code points (so a multi-byte
// character is never split by an edit).

export interface TextInputState {
  value: string;
  /** Caret position, in code points from the start. */
  caret: number;
}

export type TextInputAction =
  | { type: "insert"; text: string }
  | { type: "backspace" }
  | { type: "delete" }
  | { type: "left" }
  | { type: "right" }
  | { type: "home" }
  | { type: "end" }
  | { type: "clearToStart" };

/** A field holding `value`, the caret at its end. */
export function textInput(value = ""): TextInputState {
  return { value, caret: [...value].length };
}

/** The field after one edit. */
export function textInputReducer(s: TextInputState, a: TextInputAction): TextInputState {
  const chars = [...s.value];
  switch (a.type) {
    case "insert": {
      // Pasted text arrives whole: keep it on one line, without control characters.
      // eslint-disable-next-line no-control-regex -- dropping control characters is the point
      const text = [...a.text.replace(/[\x00-\x1f\x7f-\x9f]+/g, " ")];
      if (text.length === 0) return s;
      chars.splice(s.caret, 0, ...text);
      return { value: chars.join(""), caret: s.caret + text.length };
    }
    case "backspace":
      if (s.caret === 0) return s;
      chars.splice(s.caret - 1, 1);
      return { value: chars.join(""), caret: s.caret - 1 };
    case "delete":
      if (s.caret >= chars.length) return s;
      chars.splice(s.caret, 1);
      return { value: chars.join(""), caret: s.caret };
    case "left":
      return { ...s, caret: Math.max(0, s.caret - 1) };
    case "right":
      return { ...s, caret: Math.min(chars.length, s.caret + 1) };
    case "home":
      return { ...s, caret: 0 };
    case "end":
      return { ...s, caret: chars.length };
    case "clearToStart":
      return { value: chars.slice(s.caret).join(""), caret: 0 };
  }
}
