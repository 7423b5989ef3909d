import { parser } from '@prometheus-io/lezer-promql';

// @lezer/common is not a direct dependency; the node type comes from the parser's own result.
type SyntaxNode = ReturnType<typeof parser.parse>['topNode'];

/** `=`, `!=`, `=~` or `!~`. */
export type MatchOperator = '=' | '!=' | '=~' | '!~';

export interface LabelMatcher {
  readonly label: string;
  readonly operator: MatchOperator;
  readonly value: string;
}

/** One vector selector of a query: the metric it names (from the name or `__name__`) and its other matchers. */
export interface SelectorUse {
  readonly metric: string | undefined;
  readonly matchers: readonly LabelMatcher[];
  readonly text: string;
}

/** Labels a `by`, `without`, `on`, `ignoring` or `group_*` clause names, and the selectors they apply to. */
export interface GroupingUse {
  readonly clause: string;
  readonly labels: readonly string[];
  readonly selectors: readonly SelectorUse[];
}

export interface PromqlAnalysis {
  readonly selectors: readonly SelectorUse[];
  readonly groupings: readonly GroupingUse[];
  /** Where the parser could not go on; empty for a valid query. */
  readonly syntaxErrors: readonly string[];
}

/** PromQL string literal → its value: "…" and '…' unescape, `…` is raw. */
function unquote(literal: string): string {
  const quote = literal[0];
  const body = literal.slice(1, -1);
  if (quote === '`') return body;
  return body.replace(/\\(.)/g, (_match, escaped: string) => ({ n: '\n', t: '\t', r: '\r' })[escaped] ?? escaped);
}

function children(node: SyntaxNode): SyntaxNode[] {
  const found: SyntaxNode[] = [];
  for (let child = node.firstChild; child !== null; child = child.nextSibling) found.push(child);
  return found;
}

function descendants(node: SyntaxNode, name: string): SyntaxNode[] {
  const found: SyntaxNode[] = [];
  const cursor = node.cursor();
  do {
    if (cursor.name === name) found.push(cursor.node);
  } while (cursor.next() && cursor.from < node.to);
  return found.filter((candidate) => candidate.from >= node.from && candidate.to <= node.to);
}

function readSelector(node: SyntaxNode, source: string): SelectorUse {
  const text = (n: SyntaxNode): string => source.slice(n.from, n.to);
  let metric: string | undefined;
  const matchers: LabelMatcher[] = [];
  for (const child of children(node)) {
    if (child.name === 'Identifier') metric = text(child);
    if (child.name !== 'LabelMatchers') continue;
    for (const matcher of children(child)) {
      if (matcher.name !== 'UnquotedLabelMatcher' && matcher.name !== 'QuotedLabelMatcher') continue;
      const parts = children(matcher);
      const nameNode = parts.find((part) => part.name === 'LabelName' || part.name === 'QuotedLabelName');
      const operatorNode = parts.find((part) => part.name === 'MatchOp');
      const valueNode = parts.filter((part) => part.name === 'StringLiteral').at(-1);
      if (nameNode === undefined || valueNode === undefined) continue;
      const label = nameNode.name === 'QuotedLabelName' ? unquote(text(nameNode)) : text(nameNode);
      // A quoted matcher without operator (`{"metric_name"}`) names the metric, as in Prometheus 3.
      if (operatorNode === undefined) {
        metric = unquote(text(valueNode));
        continue;
      }
      const value = unquote(text(valueNode));
      const operator = text(operatorNode) as MatchOperator;
      if (label === '__name__' && operator === '=') metric = value;
      else matchers.push({ label, operator, value });
    }
  }
  return { metric, matchers, text: text(node) };
}

/**
 * Parses a PromQL expression with Prometheus's own Lezer grammar and lists what it selects and groups by,
 * so checks work on the syntax tree rather than on regular expressions over the text.
 */
export function analyzePromql(expr: string): PromqlAnalysis {
  const tree = parser.parse(expr);
  const syntaxErrors: string[] = [];
  const selectors: SelectorUse[] = [];
  const groupings: GroupingUse[] = [];
  const selectorsIn = (node: SyntaxNode): SelectorUse[] =>
    descendants(node, 'VectorSelector').map((selector) => readSelector(selector, expr));
  const labelsOf = (node: SyntaxNode): string[] =>
    descendants(node, 'LabelName').map((label) => expr.slice(label.from, label.to));

  tree.iterate({
    enter: (ref) => {
      const node = ref.node;
      if (ref.type.isError) {
        syntaxErrors.push(`syntax error at ${ref.from}: …${expr.slice(Math.max(0, ref.from - 20), ref.from + 20)}…`);
        return;
      }
      if (ref.name === 'VectorSelector') selectors.push(readSelector(node, expr));
      if (ref.name === 'AggregateExpr') {
        const modifier = children(node).find((child) => child.name === 'AggregateModifier');
        if (modifier !== undefined)
          groupings.push({
            clause: expr.slice(modifier.from, modifier.to),
            labels: labelsOf(modifier),
            selectors: selectorsIn(node),
          });
      }
      if (ref.name === 'BinaryExpr') {
        const clause = children(node).find((child) => child.name === 'MatchingModifierClause');
        if (clause !== undefined)
          groupings.push({
            clause: expr.slice(clause.from, clause.to),
            labels: labelsOf(clause),
            selectors: selectorsIn(node),
          });
      }
    },
  });
  return { selectors, groupings, syntaxErrors };
}
