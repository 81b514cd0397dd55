#!/usr/bin/env node
// Import loops in bin/ and src/: fails when there is more than one, or when one is not type-only (it would
// still be a loop once the types are erased, so module load order would matter). `make test` runs it first.
//
// An edge is one module importing another, statically or through import(). A loop is a strongly connected
// component of that graph; it is type-only when dropping the `import type` edges breaks it apart.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import ts from 'typescript';

const root = resolve(dirname(new URL(import.meta.url).pathname), '..');
const roots = ['bin', 'src'];
const maxLoops = 1;

function sources(dir) {
  return readdirSync(dir).flatMap((entry) => {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) return sources(path);
    return path.endsWith('.ts') && !path.endsWith('.d.ts') ? [path] : [];
  });
}

/** The module a relative specifier names: "./x.js" is ./x.ts, "./dir" may be ./dir/index.ts. */
function resolveSpecifier(from, specifier, known) {
  if (!specifier.startsWith('.')) return undefined;
  const base = resolve(dirname(from), specifier);
  const candidates = [base.replace(/\.js$/, '.ts'), `${base}.ts`, join(base, 'index.ts')];
  return candidates.find((candidate) => known.has(candidate));
}

/** [specifier, typeOnly] for every import, export ... from and import() in one file. */
function importsOf(file) {
  const source = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true);
  const found = [];
  const visit = (node) => {
    if (ts.isImportDeclaration(node) && ts.isStringLiteral(node.moduleSpecifier)) {
      const clause = node.importClause;
      const typeOnly =
        clause !== undefined &&
        (clause.isTypeOnly ||
          (clause.name === undefined &&
            clause.namedBindings !== undefined &&
            ts.isNamedImports(clause.namedBindings) &&
            clause.namedBindings.elements.length > 0 &&
            clause.namedBindings.elements.every((element) => element.isTypeOnly)));
      found.push([node.moduleSpecifier.text, typeOnly]);
    } else if (ts.isExportDeclaration(node) && node.moduleSpecifier && ts.isStringLiteral(node.moduleSpecifier)) {
      const typeOnly =
        node.isTypeOnly ||
        (node.exportClause !== undefined &&
          ts.isNamedExports(node.exportClause) &&
          node.exportClause.elements.length > 0 &&
          node.exportClause.elements.every((element) => element.isTypeOnly));
      found.push([node.moduleSpecifier.text, typeOnly]);
    } else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) {
      const [argument] = node.arguments;
      if (argument && ts.isStringLiteralLike(argument)) found.push([argument.text, false]);
    } else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument) && ts.isStringLiteral(node.argument.literal)) {
      found.push([node.argument.literal.text, true]);
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

const files = roots.flatMap((dir) => sources(join(root, dir)));
const known = new Set(files);
/** file → (file → typeOnly): an edge is type-only when every import along it is. */
const graph = new Map(files.map((file) => [file, new Map()]));
for (const file of files) {
  for (const [specifier, typeOnly] of importsOf(file)) {
    const target = resolveSpecifier(file, specifier, known);
    if (target === undefined) continue;
    const edges = graph.get(file);
    edges.set(target, (edges.get(target) ?? true) && typeOnly);
  }
}

/** Tarjan's strongly connected components with more than one module (or a module importing itself). */
function loops(valueOnly) {
  const index = new Map();
  const low = new Map();
  const stack = [];
  const onStack = new Set();
  const found = [];
  let next = 0;
  const successors = (file) => [...graph.get(file)].filter(([, typeOnly]) => !(valueOnly && typeOnly)).map(([target]) => target);
  const connect = (file) => {
    index.set(file, next);
    low.set(file, next);
    next += 1;
    stack.push(file);
    onStack.add(file);
    for (const target of successors(file)) {
      if (!index.has(target)) {
        connect(target);
        low.set(file, Math.min(low.get(file), low.get(target)));
      } else if (onStack.has(target)) {
        low.set(file, Math.min(low.get(file), index.get(target)));
      }
    }
    if (low.get(file) === index.get(file)) {
      const component = [];
      let member;
      do {
        member = stack.pop();
        onStack.delete(member);
        component.push(member);
      } while (member !== file);
      if (component.length > 1 || successors(file).includes(file)) found.push(component.sort());
    }
  };
  for (const file of files) if (!index.has(file)) connect(file);
  return found;
}

/** One cycle through the component, for the report: a → b → ... → a. */
function cycleOf(component) {
  const members = new Set(component);
  const start = component[0];
  const parent = new Map([[start, undefined]]);
  const queue = [start];
  while (queue.length > 0) {
    const file = queue.shift();
    for (const [target, typeOnly] of graph.get(file)) {
      if (!members.has(target)) continue;
      if (target === start) {
        const path = [];
        for (let step = file; step !== undefined; step = parent.get(step)) path.unshift(step);
        return [...path, start];
      }
      if (!parent.has(target)) {
        parent.set(target, file);
        queue.push(target);
      }
    }
  }
  return component;
}

const describe = (path) =>
  path
    .map((file, i) => {
      const name = relative(root, file);
      if (i === 0) return name;
      const typeOnly = graph.get(path[i - 1]).get(file);
      return `${typeOnly ? '-(type)->' : '->'} ${name}`;
    })
    .join(' ');

const all = loops(false);
const runtime = loops(true);
for (const component of all) {
  const kind = runtime.some((loop) => loop.some((file) => component.includes(file))) ? 'not type-only' : 'type-only';
  console.log(`import loop (${kind}): ${describe(cycleOf(component))}`);
  console.log(`  modules: ${component.map((file) => relative(root, file)).join(", ")}`);
}
const problems = [];
if (all.length > maxLoops) problems.push(`${all.length} import loops, at most ${maxLoops} allowed`);
if (runtime.length > 0) problems.push(`${runtime.length} import loop(s) remain without the type-only imports`);
if (problems.length > 0) {
  console.error(`check-import-loops: ${problems.join('; ')}`);
  process.exit(1);
}
console.log(`check-import-loops: ${all.length} import loop(s) in ${files.length} modules, none at run time`);
