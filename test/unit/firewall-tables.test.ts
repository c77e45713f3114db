// The kit's firewall touches its own nftables table alone: another tool's tables (Docker's,
// the member's own) stay as they were through the apply, a re-apply and the undo. Checked with
// the real nft in a network namespace of its own (root and unshare needed; skipped otherwise).
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, test } from "vitest";
import { plan } from "../../src/core/node/plan";
import { renderNode, renderScript } from "../../src/core/node/render";
import { NFTABLES_CONF, NFTABLES_MEMBER_DIR } from "../../src/core/node/layout";
import { fixtureFederation, fixtureSpec, templates } from "../helpers/fixtures";

const work = mkdtempSync(join(tmpdir(), "boreal-tables-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const canNamespace =
  process.getuid?.() === 0 && spawnSync("unshare", ["--net", "nft", "list", "ruleset"], { stdio: "ignore" }).status === 0;

/** The node's nftables.conf as the kit renders it, for a node that opens tcp/443. */
function kitConf(): string {
  const nodePlan = plan(fixtureSpec("b1", { firewall: { allow: ["tcp/443"] } }), fixtureFederation());
  const conf = renderNode(nodePlan, templates).find((f) => f.path === NFTABLES_CONF);
  if (!conf) throw new Error("no nftables.conf rendered");
  return conf.content;
}

/** The firewall's apply and undo as the node runs them, on a copy of the conf and without units (no systemctl here). */
function scripts(confPath: string) {
  const context = { conf: confPath, memberInclude: `^include "${NFTABLES_MEMBER_DIR}/`, units: [], unitStateDir: join(work, "units") };
  return {
    apply: renderScript(templates, "run/firewall-apply.sh.hbs", context),
    undo: renderScript(templates, "run/firewall-undo.sh.hbs", context),
  };
}

/** Docker's NAT and filter tables as it makes them, and a member's own table. */
const OTHERS = `table ip nat {
	chain DOCKER {
	}
	chain PREROUTING {
		type nat hook prerouting priority dstnat; policy accept;
		fib daddr type local counter jump DOCKER
	}
}
table ip filter {
	chain DOCKER-USER {
		counter return
	}
	chain FORWARD {
		type filter hook forward priority filter; policy drop;
		counter jump DOCKER-USER
	}
}
table inet member {
	chain input {
		type filter hook input priority filter - 10; policy accept;
		tcp dport 8080 counter accept
	}
}
`;

describe("the kit's nftables table alone", () => {
  test("the ruleset the apply loads names no table but the kit's and flushes nothing", () => {
    const loaded = kitConf()
      .split("\n")
      .filter((line) => !line.startsWith(`include "${NFTABLES_MEMBER_DIR}/`));
    expect(loaded.join("\n")).not.toMatch(/\bflush\b/);
    const tables = loaded.filter((line) => /^\s*(table|delete table|add table)\b/.test(line));
    expect(tables.length).toBeGreaterThan(0);
    for (const line of tables) expect(line).toMatch(/^(table|delete table) inet boreal( \{)?$/);
    expect(scripts("/x").undo).not.toMatch(/flush|systemctl (stop|restart|reload) nftables/);
  });

  test.runIf(canNamespace)(
    "Docker's and the member's tables stay as they were through apply, re-apply and undo (real nft, own namespace)",
    () => {
      const confPath = join(work, "nftables.conf");
      writeFileSync(confPath, kitConf());
      const { apply, undo } = scripts(confPath);
      writeFileSync(join(work, "others.nft"), OTHERS);
      writeFileSync(join(work, "apply.sh"), apply);
      writeFileSync(join(work, "undo.sh"), undo);
      const run = [
        "set -e",
        `nft -f ${join(work, "others.nft")}`,
        "nft list table ip nat > before-nat; nft list table ip filter > before-filter; nft list table inet member > before-member",
        "sh apply.sh; sh apply.sh",
        "echo '== tables after apply'; nft list tables",
        "nft list table ip nat | diff before-nat -; nft list table ip filter | diff before-filter -; nft list table inet member | diff before-member -",
        "echo '== boreal'; nft list table inet boreal | grep -c accept",
        "sh undo.sh",
        "echo '== tables after undo'; nft list tables",
        "nft list table ip nat | diff before-nat -; nft list table ip filter | diff before-filter -; nft list table inet member | diff before-member -",
      ].join("\n");
      const result = spawnSync("unshare", ["--net", "sh", "-c", run], { cwd: work, encoding: "utf8" });
      expect(result.stderr).toBe("");
      expect(result.status).toBe(0);
      const [, afterApply, boreal, afterUndo] = result.stdout.split(/== [a-z ]+\n/);
      expect(afterApply.trim().split("\n").sort()).toEqual(["table inet boreal", "table inet member", "table ip filter", "table ip nat"]);
      expect(Number(boreal.trim())).toBeGreaterThan(5);
      expect(afterUndo.trim().split("\n").sort()).toEqual(["table inet member", "table ip filter", "table ip nat"]);
    },
  );
});
