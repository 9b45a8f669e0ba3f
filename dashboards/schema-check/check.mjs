// Type-checks Grafana dashboard JSON files against model.ts (the types of
// @grafana/schema at the pinned Grafana version).
//
//   node check.mjs DASHBOARD.json...
//
// Prints one JSON object per problem on stdout,
//   {"file": "...", "path": "/panels/0/options/legend/bogus", "message": "..."}
// with `path` a JSON Pointer into the dashboard, and exits 1 when there is
// any; 0 when every file passes; 2 when the check itself cannot run.
//
// Each dashboard becomes an in-memory TypeScript module
//   export const dashboard: SavedDashboard = <the file's JSON>;
// (JSON is a TypeScript expression), so the diagnostics point into the JSON
// text and are mapped back to a JSON Pointer through the syntax tree.
import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import ts from "typescript";

const here = path.dirname(fileURLToPath(import.meta.url));
const modelPath = path.join(here, "model.ts");

function fail(message) {
  process.stderr.write(`schema-check: ${message}\n`);
  process.exit(2);
}

const files = process.argv.slice(2);
if (files.length === 0) fail("usage: node check.mjs DASHBOARD.json...");

const problems = [];
// Virtual module path -> the dashboard it stands for and its current text.
const modules = new Map();
files.forEach((file, i) => {
  let json;
  try {
    json = readFileSync(file, "utf8");
  } catch (err) {
    fail(`cannot read ${file}: ${err.message}`);
  }
  try {
    JSON.parse(json);
  } catch (err) {
    problems.push({ file, path: "", message: `not JSON: ${err.message}` });
    return;
  }
  // Lives beside model.ts so that `./model` and node_modules resolve.
  const name = path.join(here, `.dashboard-${i}.ts`);
  const text = `import type { SavedDashboard } from "./model";\nexport const dashboard: SavedDashboard = ${json};\n`;
  modules.set(name, { file, text, reported: new Set() });
});

const options = {
  strict: true,
  noEmit: true,
  target: ts.ScriptTarget.ES2022,
  module: ts.ModuleKind.ESNext,
  moduleResolution: ts.ModuleResolutionKind.Bundler,
  lib: ["lib.es2022.d.ts"],
  types: [],
  // The published .d.ts files are Grafana's; what is checked is the use of them.
  skipLibCheck: true,
};
const host = ts.createCompilerHost(options, true);
const { getSourceFile, fileExists, readFile } = host;
// Files on disk are parsed once, however many rounds run (see below).
const parsed = new Map();
host.getSourceFile = (name, languageVersion, ...rest) => {
  const module = modules.get(path.resolve(name));
  if (module) return ts.createSourceFile(name, module.text, languageVersion, true);
  if (!parsed.has(name)) parsed.set(name, getSourceFile.call(host, name, languageVersion, ...rest));
  return parsed.get(name);
};
host.fileExists = (name) => modules.has(path.resolve(name)) || fileExists.call(host, name);
host.readFile = (name) => modules.get(path.resolve(name))?.text ?? readFile.call(host, name);

// Problems in model.ts or the compiler setup are the checker's own.
function checkModel(program) {
  const model = program.getSourceFile(modelPath);
  if (!model) fail(`cannot load ${modelPath}`);
  const own = [
    ...program.getOptionsDiagnostics(),
    ...program.getGlobalDiagnostics(),
    ...program.getSyntacticDiagnostics(model),
    ...program.getSemanticDiagnostics(model),
  ];
  if (own.length > 0) {
    fail(
      ts.formatDiagnostics(own, {
        getCanonicalFileName: (f) => f,
        getCurrentDirectory: () => here,
        getNewLine: () => "\n",
      }),
    );
  }
}

// The innermost node of `root` that contains `position`.
function nodeAt(root, sourceFile, position) {
  let found = root;
  const visit = (node) => {
    if (position >= node.getStart(sourceFile) && position < node.getEnd()) {
      found = node;
      ts.forEachChild(node, visit);
    }
  };
  ts.forEachChild(root, visit);
  return found;
}

// JSON Pointer (RFC 6901) from the dashboard object literal to `node`.
function pointer(node, root) {
  const segments = [];
  for (let n = node; n && n !== root; n = n.parent) {
    if (ts.isPropertyAssignment(n)) {
      segments.unshift(n.name.text);
    } else if (n.parent && ts.isArrayLiteralExpression(n.parent)) {
      segments.unshift(String(n.parent.elements.indexOf(n)));
    }
  }
  return segments.map((s) => `/${s.replaceAll("~", "~0").replaceAll("/", "~1")}`).join("");
}

// The property assignment or array element that holds `node`, or the root.
function slotOf(node, root) {
  let n = node;
  while (n !== root && !ts.isPropertyAssignment(n) && !(n.parent && ts.isArrayLiteralExpression(n.parent))) {
    n = n.parent;
  }
  return n;
}

const UNKNOWN_PROPERTY = 2353;
const UNKNOWN_PROPERTY_DID_YOU_MEAN = 2561;

// TypeScript's excess-property message spells out the whole expected type,
// hundreds of characters for a panel; the path already says where.
function describe(diagnostic, slot) {
  const message = ts.flattenDiagnosticMessageText(diagnostic.messageText, " ");
  if (!ts.isPropertyAssignment(slot)) return message;
  if (diagnostic.code === UNKNOWN_PROPERTY) return `unknown property "${slot.name.text}"`;
  if (diagnostic.code === UNKNOWN_PROPERTY_DID_YOU_MEAN) {
    const hint = message.match(/Did you mean to write '([^']*)'\?/);
    return `unknown property "${slot.name.text}"${hint ? ` (did you mean "${hint[1]}"?)` : ""}`;
  }
  return message;
}

// Assignable to every type: stands in for a value already reported.
const SILENCED = "(undefined as unknown as never)";

// The edit that takes a reported problem out of the next round: an unknown
// property is removed (with one comma), any other value becomes SILENCED.
function silence(diagnostic, slot, sourceFile) {
  if (ts.isPropertyAssignment(slot)) {
    const unknown = diagnostic.code === UNKNOWN_PROPERTY || diagnostic.code === UNKNOWN_PROPERTY_DID_YOU_MEAN;
    if (!unknown) return { start: slot.initializer.getStart(sourceFile), end: slot.initializer.getEnd(), text: SILENCED };
    const siblings = slot.parent.properties;
    const i = siblings.indexOf(slot);
    if (i + 1 < siblings.length) return { start: slot.getStart(sourceFile), end: siblings[i + 1].getStart(sourceFile), text: "" };
    if (i > 0) return { start: siblings[i - 1].getEnd(), end: slot.getEnd(), text: "" };
    return { start: slot.getStart(sourceFile), end: slot.getEnd(), text: "" };
  }
  if (slot.parent && ts.isArrayLiteralExpression(slot.parent)) {
    return { start: slot.getStart(sourceFile), end: slot.getEnd(), text: SILENCED };
  }
  return null;
}

// Applies edits that do not overlap, outermost first; an edit inside one
// already applied waits for the next round.
function applyEdits(text, edits) {
  const chosen = [];
  for (const e of [...edits].sort((a, b) => a.start - b.start || b.end - a.end)) {
    if (chosen.length === 0 || e.start >= chosen[chosen.length - 1].end) chosen.push(e);
  }
  let out = text;
  for (const e of chosen.reverse()) out = out.slice(0, e.start) + e.text + out.slice(e.end);
  return out;
}

// TypeScript reports one unknown property per object literal, and none of
// an object's own while a value inside it is wrong. So each reported
// problem is edited out of the module and the module is checked again,
// until it reports nothing new: every problem is listed, not only the first.
const MAX_ROUNDS = 100;
let pending = [...modules.keys()];
let program;
for (let round = 0; pending.length > 0; round++) {
  if (round === MAX_ROUNDS) fail(`still finding problems after ${MAX_ROUNDS} rounds`);
  program = ts.createProgram([modelPath, ...pending], options, host, program);
  if (round === 0) checkModel(program);
  const next = [];
  for (const name of pending) {
    const module = modules.get(name);
    const sourceFile = program.getSourceFile(name);
    if (!sourceFile) fail(`the compiler lost the module for ${module.file}`);
    const statement = sourceFile.statements.find(ts.isVariableStatement);
    const root = statement?.declarationList.declarations[0]?.initializer;
    if (!root) fail(`the module for ${module.file} has no dashboard literal`);
    const edits = [];
    for (const d of [...program.getSyntacticDiagnostics(sourceFile), ...program.getSemanticDiagnostics(sourceFile)]) {
      const at = d.start === undefined ? root : nodeAt(root, sourceFile, d.start);
      const slot = slotOf(at, root);
      const problem = { file: module.file, path: pointer(at, root), message: describe(d, slot) };
      const key = `${problem.path}\n${problem.message}`;
      if (!module.reported.has(key)) {
        module.reported.add(key);
        problems.push(problem);
      }
      const edit = silence(d, slot, sourceFile);
      if (edit) edits.push(edit);
    }
    if (edits.length > 0) {
      module.text = applyEdits(module.text, edits);
      next.push(name);
    }
  }
  pending = next;
}

// Rounds find problems out of order: sort by file as given, then by path
// with array indices compared as numbers (/panels/2 before /panels/10).
function comparePaths(a, b) {
  const x = a.split("/");
  const y = b.split("/");
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    if (x[i] === y[i]) continue;
    if (/^\d+$/.test(x[i]) && /^\d+$/.test(y[i])) return Number(x[i]) - Number(y[i]);
    return x[i] < y[i] ? -1 : 1;
  }
  return x.length - y.length;
}
const order = new Map(files.map((file, i) => [file, i]));
problems.sort((a, b) => order.get(a.file) - order.get(b.file) || comparePaths(a.path, b.path));
for (const problem of problems) process.stdout.write(`${JSON.stringify(problem)}\n`);
process.exit(problems.length > 0 ? 1 : 0);
