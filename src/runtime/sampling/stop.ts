// Stop strings for streamed text. Text arrives in pieces (one token's worth at a time) and a stop string
// may span pieces, so the matcher holds back the text from the earliest point where a stop string could
// still begin, and releases it once none can. At the first stop string (by where it starts in the whole
// text) the text is cut just before it and the stream ends.
import { OptionError } from "../errors.ts";

export interface StopResult {
  /** Text that is now safe to show (never part of a stop string). */
  text: string;
  /** A stop string was found: `text` ends where it began, and later input is ignored. */
  stopped: boolean;
  /** The stop string that matched (the one that starts first; among those starting there, the longest complete one). */
  stop?: string;
}

export class StopMatcher {
  private readonly stops: readonly string[];
  private held = "";
  private done = false;

  constructor(stops: readonly string[]) {
    for (const s of stops) {
      if (typeof s !== "string" || s.length === 0) throw new OptionError("BAD_OPTION_VALUE", "stop strings must be non-empty strings", "stop");
    }
    // Longest first, so that of two stops starting at the same place the longer is reported.
    this.stops = [...new Set(stops)].sort((a, b) => b.length - a.length);
  }

  get stopped(): boolean {
    return this.done;
  }

  /** Feeds the next piece of text. */
  push(piece: string): StopResult {
    if (this.done) return { text: "", stopped: true };
    const text = this.held + piece;
    const match = this.firstMatch(text);
    const open = this.partialStart(text);
    // A complete stop wins unless a stop that starts earlier might still complete ("\n" must wait while
    // "c\n😀" is possible from an earlier "c").
    if (match && match.at <= open) return this.stop(text, match);
    this.held = text.slice(open);
    return { text: text.slice(0, open), stopped: false };
  }

  /** The end of the stream: held text is released, cut at a stop string it may contain. */
  flush(): StopResult {
    if (this.done) return { text: "", stopped: true };
    const text = this.held;
    this.held = "";
    const match = this.firstMatch(text);
    return match ? this.stop(text, match) : { text, stopped: false };
  }

  private stop(text: string, match: { at: number; stop: string }): StopResult {
    this.done = true;
    this.held = "";
    return { text: text.slice(0, match.at), stopped: true, stop: match.stop };
  }

  /** The complete stop string that starts first (the longest among those starting there). */
  private firstMatch(text: string): { at: number; stop: string } | undefined {
    let best: { at: number; stop: string } | undefined;
    for (const s of this.stops) {
      const at = text.indexOf(s);
      if (at >= 0 && (!best || at < best.at)) best = { at, stop: s };
    }
    return best;
  }

  /** Where the earliest suffix of `text` that is a proper prefix of some stop string begins (else its length). */
  private partialStart(text: string): number {
    const longest = this.stops[0]?.length ?? 0;
    for (let j = Math.max(0, text.length - longest + 1); j < text.length; j++) {
      const tail = text.slice(j);
      if (this.stops.some((s) => s.length > tail.length && s.startsWith(tail))) return j;
    }
    return text.length;
  }
}
