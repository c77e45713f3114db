// Files on the node: one remote command per file, written atomically, removed on delete.
import * as pulumi from "@pulumi/pulumi";
import type { remote } from "@pulumi/command";
import { NodeConnection, nodeCommand } from "./ssh";
import { contentHash, fileResourceSuffix, TemplateSources } from "../../core/node/render";
import { installScript, removeScript } from "../../core/node/scripts";
import { RenderedFile } from "../../core/node/layout";

export interface NodeFilesArgs {
  files: RenderedFile[];
  connection: NodeConnection;
  templates: TemplateSources;
}

/** Creates the file commands as children of `parent`, named `${name}-file-<path>`. */
export function nodeFiles(name: string, args: NodeFilesArgs, opts: pulumi.CustomResourceOptions): remote.Command[] {
  return args.files.map((file) =>
    nodeCommand(
      `${name}-file-${fileResourceSuffix(file.path)}`,
      {
        connection: args.connection,
        create: installScript(file, args.templates),
        // A changed file (stdin) is an update that rewrites it in place. Never `triggers`:
        // the provider replaces on them, create-before-delete, and the old resource's
        // delete would then remove the file just written.
        update: installScript(file, args.templates),
        delete: removeScript(file, args.templates),
        stdin: file.content,
        // stdin is the file: keep it out of the logs, they would only repeat it.
        logging: "stderr",
      },
      opts,
    ),
  );
}

/** One line naming every file's content hash: put in a command, it re-runs it when one changes. */
export function hashesOf(files: RenderedFile[]): string {
  return files.map((f) => `${f.path}:${contentHash(f.content)}`).join(" ");
}
