// Parse and validate AsyncAPI documents with the official parser (@asyncapi/parser); relative
// $refs (the payload schemas in schemas/json) are resolved from each file's folder.
// Prints one JSON object a file {"path", "errors", "warnings", "channels", ...} and exits 1 when
// the parser reports an error in any of them.
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { Parser, fromFile } from "@asyncapi/parser";

const parser = new Parser();
let failed = false;
for (const arg of process.argv.slice(2)) {
  const path = resolve(arg);
  const { document, diagnostics } = await fromFile(parser, path).parse({
    source: pathToFileURL(path).href,
  });
  const report = { path, errors: [], warnings: [], channels: 0, operations: 0 };
  for (const d of diagnostics) {
    // Spectral's severities: 0 error, 1 warning, 2 information, 3 hint.
    report[d.severity === 0 ? "errors" : "warnings"].push(
      { code: d.code, message: d.message, path: d.path.join("/") });
  }
  if (document) {
    report.channels = document.channels().length;
    report.operations = document.operations().length;
    report.sendOperations = document.operations().filterBySend().length;
    report.receiveOperations = document.operations().filterByReceive().length;
    report.servers = document.servers().all().map((s) => s.id());
  }
  failed ||= report.errors.length > 0 || !document;
  process.stdout.write(JSON.stringify(report) + "\n");
}
process.exit(failed ? 1 : 0);
