/**
 * What Grafana and grafana-clickhouse-datasource (v4) do to a panel's rawSql before ClickHouse sees it,
 * in the same order:
 *  1. frontend `applyConditionalAll`: every `$__conditionalAll(cond, $var)` (right to left) becomes
 *     `1=1` when the variable's current value is "All" (`$__all`) or empty, else `cond`; arguments are
 *     split on commas at bracket depth 1 without regard to quotes, exactly like the plugin;
 *  2. Grafana's template service replaces `$var`, `${var}`, `${var:format}`;
 *  3. backend macros (pkg/macros/macros.go): `$__timeFilter(c)` → `c >= toDateTime(from) AND c <= toDateTime(to)`,
 *     `$__timeInterval(c)` → `toStartOfInterval(toDateTime(c), INTERVAL n second)`, `$__interval_s` → n,
 *     `$__fromTime`/`$__toTime` → `toDateTime(sec)`, and the `_ms` variants with fromUnixTimestamp64Milli.
 * Anything else left starting with `$` is an error, so a typo in a dashboard cannot pass silently.
 */

export interface VariableValue {
  /** Selected values; for "All" the full option list (what Grafana substitutes without a custom allValue). */
  values: string[];
  all: boolean;
}

export interface MacroContext {
  from: Date;
  to: Date;
  intervalSeconds: number;
  variables: Record<string, VariableValue>;
}

const VAR_REF = /(?<=\$\{)[\w\d]+(?=\})|(?<=\$)[\w\d]+/;

/** The plugin's getMacroArgs: from the opening bracket, split on `,` at depth 1 until it closes. */
export function macroArgs(sql: string, openIndex: number): string[] {
  const args: string[] = [];
  const re = /\(|\)|,/g;
  let depth = 0;
  let last = 1;
  const rest = sql.substring(openIndex);
  for (let m = re.exec(rest); m !== null; m = re.exec(rest)) {
    if (m[0] === "(") depth++;
    else if (m[0] === ")") depth--;
    if (m[0] === "," && depth === 1) {
      args.push(rest.substring(last, re.lastIndex - 1));
      last = re.lastIndex;
    }
    if (depth === 0) {
      args.push(rest.substring(last, re.lastIndex - 1));
      return args;
    }
  }
  return [];
}

export function applyConditionalAll(sql: string, vars: Record<string, VariableValue>): string {
  const macro = "$__conditionalAll(";
  let i = sql.lastIndexOf(macro);
  while (i !== -1) {
    const params = macroArgs(sql, i + macro.length - 1);
    // The plugin gives up silently here; a dashboard must never rely on that.
    if (params.length !== 2) throw new Error(`$__conditionalAll needs 2 arguments, got ${params.length}`);
    const ref = VAR_REF.exec(params[1].trim());
    if (!ref) throw new Error(`$__conditionalAll second argument is not a variable: ${params[1]}`);
    const v = vars[ref[0]];
    if (!v) throw new Error(`$__conditionalAll references unknown variable ${ref[0]}`);
    const phrase = v.all || v.values.length === 0 ? "1=1" : params[0];
    // String.replace with a string pattern, as the plugin does (so `$&`-style patterns would bite here too).
    sql = sql.replace(`${macro}${params[0]},${params[1]})`, phrase);
    i = sql.lastIndexOf(macro);
  }
  return sql;
}

/** Grafana's `singlequote` format: each value quoted, `'` escaped with a backslash, comma-joined. */
export const singlequote = (values: string[]) => values.map((v) => `'${v.replace(/'/g, "\\'")}'`).join(",");

export function interpolateVariables(sql: string, vars: Record<string, VariableValue>): string {
  return sql.replace(
    /\$\{(\w+)(?::(\w+))?\}|\$(\w+)/g,
    (whole, braced: string, format: string, bare: string) => {
      const name = braced ?? bare;
      if (name.startsWith("__")) return whole; // macros and Grafana globals are not variables
      const v = vars[name];
      if (!v) throw new Error(`unknown variable $${name}`);
      if (format === "singlequote" || format === "sqlstring") return singlequote(v.values);
      if (format === "csv" || format === "raw") return v.values.join(",");
      // Grafana's default for a multi-value variable in this datasource is not valid SQL; insist on a format.
      throw new Error(`variable $${name} used without :singlequote`);
    },
  );
}

const sec = (d: Date) => Math.floor(d.getTime() / 1000);

export function applyBackendMacros(sql: string, ctx: MacroContext): string {
  const dt = (d: Date) => `toDateTime(${sec(d)})`;
  const dt64 = (d: Date) => `fromUnixTimestamp64Milli(${d.getTime()})`;
  const date = (d: Date) => `toDate('${d.toISOString().slice(0, 10)}')`;
  const interval = Math.max(Math.floor(ctx.intervalSeconds), 1);
  const withArg: Record<string, (c: string) => string> = {
    timeFilter: (c) => `${c} >= ${dt(ctx.from)} AND ${c} <= ${dt(ctx.to)}`,
    timeFilter_ms: (c) => `${c} >= ${dt64(ctx.from)} AND ${c} <= ${dt64(ctx.to)}`,
    dateFilter: (c) => `${c} >= ${date(ctx.from)} AND ${c} <= ${date(ctx.to)}`,
    timeInterval: (c) => `toStartOfInterval(toDateTime(${c}), INTERVAL ${interval} second)`,
    timeInterval_ms: (c) =>
      `toStartOfInterval(toDateTime64(${c}, 3), INTERVAL ${interval * 1000} millisecond)`,
  };
  const plain: Record<string, string> = {
    fromTime: dt(ctx.from),
    toTime: dt(ctx.to),
    fromTime_ms: dt64(ctx.from),
    toTime_ms: dt64(ctx.to),
    interval_s: String(interval),
  };
  let out = "";
  let i = 0;
  for (;;) {
    const j = sql.indexOf("$__", i);
    if (j === -1) return out + sql.slice(i);
    out += sql.slice(i, j);
    const name = /^\$__(\w+)/.exec(sql.slice(j))![1];
    const after = j + 3 + name.length;
    if (withArg[name]) {
      if (sql[after] !== "(") throw new Error(`$__${name} needs an argument`);
      const args = macroArgs(sql, after);
      if (args.length !== 1) throw new Error(`$__${name} expects 1 argument, got ${args.length}`);
      out += withArg[name](args[0].trim());
      i = after + args[0].length + 2;
    } else if (plain[name] !== undefined) {
      out += plain[name];
      i = after;
    } else throw new Error(`unknown macro $__${name}`);
  }
}

/** The whole pipeline for one panel query. */
export function expandQuery(sql: string, ctx: MacroContext): string {
  const expanded = applyBackendMacros(
    interpolateVariables(applyConditionalAll(sql, ctx.variables), ctx.variables),
    ctx,
  );
  if (expanded.includes("$")) throw new Error("unexpanded `$` left in query");
  return expanded;
}
