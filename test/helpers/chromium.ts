// Debian's headless Chromium, driven over its DevTools protocol on a pipe (--remote-debugging-pipe:
// it reads commands on fd 3 and answers on fd 4, each message ended by a NUL byte), with Node's
// built-ins only. Its network is shut: a proxy that does not exist, every host name unresolvable,
// and the page's network emulated offline; every request a page makes is recorded, so a test can
// check it asked for nothing beyond its own files.
import { ChildProcess, spawn, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { extname, join } from "node:path";
import type { Readable, Writable } from "node:stream";

/** The browser's path, or undefined when Chromium is not installed (apt-get install chromium). */
export const CHROMIUM = ["chromium", "chromium-browser"]
  .map((name) => spawnSync("sh", ["-c", `command -v ${name}`], { encoding: "utf8" }).stdout.trim())
  .find(Boolean);

/** Where the browser tests keep their screenshots (printed by each test that writes one). */
export const ARTEFACTS = process.env.BOREAL_TEST_ARTEFACTS ?? join(__dirname, "..", "..", "test-artefacts");

interface Pending {
  resolve: (value: Record<string, unknown>) => void;
  reject: (error: Error) => void;
  method: string;
}

type Listener = (params: Record<string, unknown>, sessionId?: string) => void;

export class Chromium {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private readonly listeners = new Map<string, Listener[]>();
  private buffer = "";
  private stderr = "";

  private constructor(
    private readonly child: ChildProcess,
    private readonly profile: string,
  ) {
    const output = child.stdio[4] as Readable;
    output.setEncoding("utf8");
    output.on("data", (chunk: string) => {
      this.buffer += chunk;
      let end: number;
      while ((end = this.buffer.indexOf("\0")) !== -1) {
        const message = JSON.parse(this.buffer.slice(0, end)) as {
          id?: number;
          result?: Record<string, unknown>;
          error?: { message: string };
          method?: string;
          params?: Record<string, unknown>;
          sessionId?: string;
        };
        this.buffer = this.buffer.slice(end + 1);
        if (message.id !== undefined) {
          const p = this.pending.get(message.id);
          this.pending.delete(message.id);
          if (message.error) p?.reject(new Error(`${p.method}: ${message.error.message}`));
          else p?.resolve(message.result ?? {});
        } else if (message.method) for (const l of this.listeners.get(message.method) ?? []) l(message.params ?? {}, message.sessionId);
      }
    });
    child.stderr!.setEncoding("utf8");
    child.stderr!.on("data", (chunk: string) => (this.stderr = (this.stderr + chunk).slice(-4000)));
    child.on("exit", (code) => {
      for (const p of this.pending.values()) p.reject(new Error(`chromium exited (${code}) during ${p.method}: ${this.stderr}`));
      this.pending.clear();
    });
  }

  static launch(): Chromium {
    if (!CHROMIUM) throw new Error("chromium is not installed: apt-get install chromium");
    const profile = mkdtempSync(join(tmpdir(), "boreal-chromium-"));
    const child = spawn(
      CHROMIUM,
      [
        "--headless",
        "--remote-debugging-pipe",
        // Tests run as root in CI, where Chromium's sandbox refuses to start.
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--no-default-browser-check",
        `--user-data-dir=${profile}`,
        // No network: a proxy nobody listens on, and no host name resolves.
        "--proxy-server=127.0.0.1:9",
        "--host-resolver-rules=MAP * ~NOTFOUND",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-features=Translate,MediaRouter,OptimizationHints",
        "--hide-scrollbars",
        "--window-size=1100,900",
        "about:blank",
      ],
      // Its own process group: close() ends the browser and every process it started, and only those.
      { stdio: ["ignore", "ignore", "pipe", "pipe", "pipe"], detached: true },
    );
    return new Chromium(child, profile);
  }

  send(method: string, params: Record<string, unknown> = {}, sessionId?: string): Promise<Record<string, unknown>> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject, method });
      (this.child.stdio[3] as Writable).write(`${JSON.stringify({ id, method, params, ...(sessionId ? { sessionId } : {}) })}\0`);
    });
  }

  on(method: string, listener: Listener): void {
    this.listeners.set(method, [...(this.listeners.get(method) ?? []), listener]);
  }

  /** A new tab with its network offline and every request recorded; scripts off with `javascript: false`. */
  async page(options: { javascript?: boolean; offline?: boolean } = {}): Promise<Page> {
    const { targetId } = (await this.send("Target.createTarget", { url: "about:blank" })) as { targetId: string };
    const { sessionId } = (await this.send("Target.attachToTarget", { targetId, flatten: true })) as { sessionId: string };
    const page = new Page(this, sessionId);
    this.on("Network.requestWillBeSent", (params, from) => {
      if (from === sessionId) page.requests.push((params.request as { url: string }).url);
    });
    await page.send("Page.enable");
    await page.send("Network.enable");
    if (options.offline !== false)
      await page.send("Network.emulateNetworkConditions", { offline: true, latency: 0, downloadThroughput: -1, uploadThroughput: -1 });
    if (options.javascript === false) await page.send("Emulation.setScriptExecutionDisabled", { value: true });
    return page;
  }

  close(): void {
    try {
      process.kill(-this.child.pid!, "SIGKILL");
    } catch {
      // Already gone.
    }
    for (const stream of this.child.stdio) stream?.destroy();
    rmSync(this.profile, { recursive: true, force: true });
  }
}

const TYPES: Record<string, string> = { ".html": "text/html; charset=utf-8", ".svg": "image/svg+xml", ".json": "application/json" };

export class Page {
  /** Every URL the page asked for, in order. */
  readonly requests: string[] = [];

  constructor(
    private readonly browser: Chromium,
    readonly sessionId: string,
  ) {}

  send(method: string, params: Record<string, unknown> = {}): Promise<Record<string, unknown>> {
    return this.browser.send(method, params, this.sessionId);
  }

  /**
   * Answers every request under `origin` from `dir` inside the browser (the DevTools Fetch
   * domain), so a page is "served" without any socket: nothing reaches a network.
   */
  async serve(origin: string, dir: string): Promise<void> {
    this.browser.on("Fetch.requestPaused", (params, from) => {
      if (from !== this.sessionId) return;
      const url = new URL((params.request as { url: string }).url);
      const path = join(dir, decodeURIComponent(url.pathname.endsWith("/") ? `${url.pathname}index.html` : url.pathname));
      let body: Buffer | undefined;
      try {
        body = path.startsWith(dir) ? readFileSync(path) : undefined;
      } catch {
        body = undefined;
      }
      void this.send("Fetch.fulfillRequest", {
        requestId: params.requestId,
        responseCode: body ? 200 : 404,
        responseHeaders: [{ name: "Content-Type", value: TYPES[extname(path)] ?? "text/plain; charset=utf-8" }],
        body: (body ?? Buffer.from("not found")).toString("base64"),
      });
    });
    await this.send("Fetch.enable", { patterns: [{ urlPattern: `${origin}/*` }] });
  }

  async goto(url: string): Promise<void> {
    await this.send("Page.navigate", { url });
  }

  async evaluate<T>(expression: string): Promise<T> {
    const r = (await this.send("Runtime.evaluate", { expression, returnByValue: true, awaitPromise: true })) as {
      result: { value: T };
      exceptionDetails?: { text: string };
    };
    if (r.exceptionDetails) throw new Error(`${expression}: ${r.exceptionDetails.text}`);
    return r.result.value;
  }

  /** Polls `expression` until it is truthy; its value. */
  async waitFor<T>(expression: string, seconds = 20): Promise<T> {
    const end = Date.now() + seconds * 1000;
    for (;;) {
      const value = await this.evaluate<T>(expression).catch(() => undefined);
      if (value) return value;
      if (Date.now() > end) throw new Error(`${expression} still falsy after ${seconds} s`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** A PNG of the whole page, kept under ARTEFACTS/<name>.png; its path. */
  async screenshot(name: string): Promise<string> {
    const { data } = (await this.send("Page.captureScreenshot", { format: "png", captureBeyondViewport: true })) as { data: string };
    mkdirSync(ARTEFACTS, { recursive: true });
    const path = join(ARTEFACTS, `${name}.png`);
    writeFileSync(path, Buffer.from(data, "base64"));
    return path;
  }
}
