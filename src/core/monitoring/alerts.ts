// boreal:alerts: where the node's Alertmanager sends the federation's alerts, the member's own
// choice. Absent: nowhere (alerts stay visible in `boreal status` and Prometheus); nothing
// ever goes to a third-party service by default.
import { z } from "zod";
import { withFix } from "../values/problems";
import { typeError } from "../values/fields";

const KEY = "boreal:alerts";

const httpUrl = (what: string, example: string) =>
  z.string({ error: typeError(what, "a URL", `set it, e.g. ${example}`) }).refine(
    (text) => {
      try {
        const url = new URL(text);
        return (url.protocol === "https:" || url.protocol === "http:") && url.hostname !== "";
      } catch {
        return false;
      }
    },
    withFix(`${what} is not an http(s) URL`, `write the full URL, e.g. ${example}`),
  );

const mailbox = (what: string) =>
  z
    .string({ error: typeError(what, "an e-mail address", `set it, e.g. ops@coop-a.example`) })
    .regex(/^[^\s@<>]+@[^\s@<>]+\.[^\s@<>]+$/, withFix(`${what} is not an e-mail address`, "write one address, e.g. ops@coop-a.example"));

export const alertsSchema = z
  .strictObject(
    {
      /** Alertmanager posts its JSON to this URL (a chat bridge, a ticket system of the member's). */
      webhook: z.strictObject({ url: httpUrl(`${KEY}.webhook.url`, "https://hooks.coop-a.example/alerts") }).optional(),
      /**
       * Mail through the member's own relay. No SMTP password is stored on the node: use a
       * relay that accepts the node (by address, or a local MTA that authenticates onward).
       */
      email: z
        .strictObject({
          to: mailbox(`${KEY}.email.to`),
          from: mailbox(`${KEY}.email.from`),
          smarthost: z
            .string({
              error: typeError(
                `${KEY}.email.smarthost`,
                '"host:port"',
                'set it to the member\'s mail relay, e.g. "mail.coop-a.example:587"',
              ),
            })
            .regex(
              /^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):\d{1,5}$/,
              withFix(`${KEY}.email.smarthost is not "host:port"`, 'write the relay and its port, e.g. "mail.coop-a.example:587"'),
            ),
          /** STARTTLS required (the default); false only for a relay on the node itself. */
          requireTls: z
            .boolean({
              error: withFix(`${KEY}.email.requireTls must be true or false`, "leave it out (true) unless the relay is on the node itself"),
            })
            .default(true),
        })
        .optional(),
    },
    {
      error: typeError(KEY, "an object", `set a receiver: pulumi config set --path ${KEY}.webhook.url https://hooks.coop-a.example/alerts`),
    },
  )
  .default({});

export type AlertsSpec = z.infer<typeof alertsSchema>;
