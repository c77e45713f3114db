// boreal:records and boreal:zoneFiles: a member's own records, per zone. Their shape is
// checked here; the records themselves by src/core/dns/records.ts (one validator for both routes).
import { z } from "zod";
import { withFix } from "../values/problems";
import { typeError, zoneName } from "../values/fields";

const RECORDS_FIX = `pulumi config set --path 'boreal:records["coop-a.example."][0]' "www 3600 A 203.0.113.80"`;
const ZONE_FILES_FIX = `pulumi config set --path 'boreal:zoneFiles["coop-a.example."]' zones/coop-a.example.zone`;

/** A map keyed by zone name; keys come out as zones are stored (lower case, final dot). */
function byZone<T extends z.ZodType>(key: string, value: T, fix: string) {
  return z.record(z.string(), value, { error: typeError(key, "an object keyed by zone name", fix) }).transform((map, ctx) => {
    const out: Record<string, z.output<T>> = {};
    for (const [zone, entry] of Object.entries(map)) {
      const name = zoneName.safeParse(zone);
      if (!name.success) {
        ctx.issues.push({
          code: "custom",
          path: [zone],
          input: zone,
          message: withFix(`"${zone}" is not a zone name`, `key each entry by one of boreal:zones, e.g. "coop-a.example."`),
        });
        continue;
      }
      if (name.data in out) {
        ctx.issues.push({
          code: "custom",
          path: [zone],
          input: zone,
          message: withFix(`zone ${name.data} is given twice`, "keep one entry per zone"),
        });
        continue;
      }
      out[name.data] = entry as z.output<T>;
    }
    return out;
  });
}

/** Per zone: master-file text (a YAML block), or a list of entries, each one record or more. */
export const recordsSchema = byZone(
  "boreal:records",
  z.union([z.string(), z.array(z.string())], {
    error: withFix(
      "must be master-file text or a list of records",
      `e.g. ["www 3600 A 203.0.113.80", "@ 3600 MX 10 mail"]: ${RECORDS_FIX}`,
    ),
  }),
  RECORDS_FIX,
);

/** Per zone: the path of a master file, relative to the project directory. */
export const zoneFilesSchema = byZone(
  "boreal:zoneFiles",
  z
    .string({ error: withFix("must be the path of a zone file", ZONE_FILES_FIX) })
    .min(1, withFix("is empty", `set it to the zone's master file, relative to the project: ${ZONE_FILES_FIX}`)),
  ZONE_FILES_FIX,
);
