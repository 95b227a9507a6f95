// The server's event stream (src/server/sse.ts) against a client that stops reading: a write the socket does not
// take within the drain timeout ends the connection, so that a stalled client cannot hold the model.
import { EventEmitter } from "node:events";
import type { ServerResponse } from "node:http";
import { describe, expect, it } from "vitest";
import { EventStream } from "../src/server/sse.ts";

/** A response whose socket takes the first `accepted` writes, then never drains. */
function stalledResponse(accepted: number) {
  const res = Object.assign(new EventEmitter(), {
    destroyed: false,
    writableEnded: false,
    written: [] as string[],
    write(text: string) {
      res.written.push(text);
      return res.written.length <= accepted;
    },
    destroy() {
      res.destroyed = true;
      res.emit("close");
    },
    end() {
      res.writableEnded = true;
    },
  });
  return res;
}

describe("EventStream", () => {
  it("frames events as data lines and ends with [DONE]", async () => {
    const res = stalledResponse(10);
    const stream = new EventStream(res as unknown as ServerResponse, 1000);
    await stream.send({ a: 1 });
    await stream.done();
    expect(res.written).toEqual(['data: {"a":1}\n\n', "data: [DONE]\n\n"]);
    expect(res.writableEnded).toBe(true);
  });

  it("drops a client that stops reading once the drain timeout passes, and writes nothing more", async () => {
    const res = stalledResponse(1);
    const stream = new EventStream(res as unknown as ServerResponse, 50);
    await stream.send({ n: 1 });
    const started = performance.now();
    await stream.send({ n: 2 }); // not taken: waits for a drain that never comes
    expect(performance.now() - started).toBeGreaterThanOrEqual(45);
    expect(res.destroyed).toBe(true);
    await stream.send({ n: 3 });
    expect(res.written).toHaveLength(2);
  });

  it("goes on when the socket drains in time", async () => {
    const res = stalledResponse(1);
    const stream = new EventStream(res as unknown as ServerResponse, 1000);
    await stream.send({ n: 1 });
    const second = stream.send({ n: 2 });
    setTimeout(() => res.emit("drain"), 10);
    await second;
    expect(res.destroyed).toBe(false);
  });
});
