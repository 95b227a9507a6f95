// Letting the event loop run between two steps of a long computation (tokens, training steps), so that an
// AbortSignal fired by a timer or by a message to a worker is seen promptly. setImmediate where it exists
// (Node); elsewhere a MessageChannel, which unlike setTimeout(0) is not clamped to 4 ms when nested. The
// channel is closed at once, so that it never keeps a Deno or worker event loop alive.
export function yieldToEventLoop(): Promise<void> {
  const si = (globalThis as { setImmediate?: (f: () => void) => void }).setImmediate;
  if (si) return new Promise((resolve) => si(resolve));
  if (typeof MessageChannel === "undefined") return new Promise((resolve) => setTimeout(resolve, 0));
  return new Promise((resolve) => {
    const { port1, port2 } = new MessageChannel();
    port1.onmessage = () => {
      port1.close();
      port2.close();
      resolve();
    };
    port2.postMessage(0);
  });
}
