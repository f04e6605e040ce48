/**
 * Every reason string the code can put into a condition or an event, found in the source with the
 * TypeScript parser (not a regex), so docs/troubleshooting.md can be checked against the code:
 * - `new UserError(message, 'Reason')` (and the constructor's default reason),
 * - the reason argument of applyPhaseConditions / withPhase (3rd), setCondition (4th), fail (1st),
 *   event (3rd), the fallback of reasonOr (2nd), heldBack (2nd), recordEvent (4th),
 * - `reason: 'X'` properties and `const reason = 'X'`,
 * - the strings reasonOf() and every function declared to return a Reason return.
 * Conditional expressions contribute both branches, `a ?? 'X'` its fallback. Reasons are CamelCase words.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import ts from 'typescript';

const REASON = /^[A-Z][A-Za-z]+$/;
const REASON_ARG: Record<string, number> = {
  applyPhaseConditions: 2,
  withPhase: 2,
  setCondition: 3,
  fail: 0,
  // kube.event(involvedObject, type, reason, message)
  event: 2,
  // reasonOr(storedReason, 'Fallback')
  reasonOr: 1,
  // heldBack(observed, reason, message) in decide.ts
  heldBack: 1,
  // recordEvent(ctx, involvedObject, type, reason, message) in act.ts
  recordEvent: 3,
};

/** Marks being inside a function whose declared return type is Reason. */
const REASON_FN = '\0returns-Reason';

function literals(e: ts.Expression | undefined, out: Set<string>): void {
  if (!e) return;
  if (ts.isStringLiteral(e) || ts.isNoSubstitutionTemplateLiteral(e)) {
    if (REASON.test(e.text)) out.add(e.text);
  } else if (ts.isConditionalExpression(e)) {
    literals(e.whenTrue, out);
    literals(e.whenFalse, out);
  } else if (ts.isParenthesizedExpression(e) || ts.isAsExpression(e)) {
    literals(e.expression, out);
  } else if (
    ts.isBinaryExpression(e) &&
    (e.operatorToken.kind === ts.SyntaxKind.QuestionQuestionToken ||
      e.operatorToken.kind === ts.SyntaxKind.BarBarToken)
  ) {
    // `x.reason ?? 'Failed'`: the fallback is a reason too.
    literals(e.right, out);
  }
}

function calleeName(e: ts.Expression): string | undefined {
  if (ts.isIdentifier(e)) return e.text;
  if (ts.isPropertyAccessExpression(e)) return e.name.text;
  return undefined;
}

export function reasonsIn(file: string, text = readFileSync(file, 'utf8')): Set<string> {
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
  const out = new Set<string>();
  const visit = (n: ts.Node, fn?: string): void => {
    if (ts.isNewExpression(n) && calleeName(n.expression) === 'UserError') literals(n.arguments?.[1], out);
    if (ts.isCallExpression(n)) {
      const name = calleeName(n.expression);
      const i = name !== undefined ? REASON_ARG[name] : undefined;
      if (i !== undefined) literals(n.arguments[i], out);
    }
    if (ts.isPropertyAssignment(n) && ts.isIdentifier(n.name) && n.name.text === 'reason')
      literals(n.initializer, out);
    if (ts.isVariableDeclaration(n) && ts.isIdentifier(n.name) && n.name.text === 'reason')
      literals(n.initializer, out);
    // `readonly reason: string = 'InvalidInput'` in a constructor: the default reason.
    if (ts.isParameter(n) && ts.isIdentifier(n.name) && n.name.text === 'reason')
      literals(n.initializer, out);
    if (ts.isReturnStatement(n) && (fn === 'reasonOf' || fn === REASON_FN)) literals(n.expression, out);
    // Inside a function declared to return a Reason, its return values are reasons.
    const inner =
      ts.isFunctionDeclaration(n) && n.name
        ? n.type && ts.isTypeReferenceNode(n.type) && n.type.getText() === 'Reason'
          ? REASON_FN
          : n.name.text
        : fn;
    ts.forEachChild(n, (c) => visit(c, inner));
  };
  visit(sf);
  return out;
}

function tsFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((d) => {
    const p = path.join(dir, d.name);
    return d.isDirectory() ? tsFiles(p) : d.name.endsWith('.ts') ? [p] : [];
  });
}

/** Reason → the files (relative to root) that set it. */
export function reasonsInTree(root: string, dir = 'src'): Map<string, string[]> {
  const map = new Map<string, string[]>();
  for (const f of tsFiles(path.join(root, dir))) {
    for (const r of reasonsIn(f)) map.set(r, [...(map.get(r) ?? []), path.relative(root, f)]);
  }
  return map;
}
