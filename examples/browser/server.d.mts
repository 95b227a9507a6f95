// Types of server.mjs for the TypeScript that imports it (test/browser.test.ts).
import type { Server } from "node:http";

export function buildDemo(): Promise<void>;
export function startDemoServer(options?: {
  port?: number;
  isolated?: boolean;
  onRequest?: (method: string, url: string) => void;
}): Promise<{ server: Server; url: string }>;
