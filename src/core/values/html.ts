// Text from a registry, a report or a member's file, put into an HTML page: every character
// HTML gives a meaning to is escaped, so a name can never become markup or a script.
import { createHash } from "node:crypto";

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** A Content-Security-Policy source allowing exactly this inline script or style. */
export function inlineHash(text: string): string {
  return `'sha256-${createHash("sha256").update(text, "utf8").digest("base64")}'`;
}

/**
 * The page's policy: nothing from anywhere, but its own inline style and script (by hash) and,
 * where it is served, the files beside it.
 */
export function contentSecurityPolicy(style: string, script?: string): string {
  return [
    "default-src 'none'",
    `style-src ${inlineHash(style)}`,
    `script-src ${script === undefined ? "'none'" : inlineHash(script)}`,
    `connect-src ${script === undefined ? "'none'" : "'self'"}`,
    "img-src 'self' data:",
    "base-uri 'none'",
    "form-action 'none'",
  ].join("; ");
}
