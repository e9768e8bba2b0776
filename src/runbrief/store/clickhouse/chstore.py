"""A runbrief store on ClickHouse's engine, embedded (chdb): the read interface operations use.

Why this shape:
- Operations are written once, in DuckDB's SQL. ``ChStore.query`` parses a statement with
  SQLGlot's DuckDB dialect and generates ClickHouse's; the few constructs SQLGlot does not
  carry across are rewritten in ``OVERRIDES`` (one table, each with its reason). A parsed
  statement is cached by its text, so an operation's SQL is parsed once per process.
- ``?`` parameters become literals in the tree, rendered by SQLGlot's ClickHouse generator
  (which escapes quotes and backslashes), because a chdb session binds no positional
  parameters. Values never pass through string formatting.
- The session sets ``join_use_nulls`` (an unmatched LEFT JOIN column is NULL, as in DuckDB,
  not its type's default), ``final`` (Replacing/AggregatingMergeTree tables read merged, so
  the newest row wins before ClickHouse has merged parts), ``session_timezone`` UTC and
  ``aggregate_functions_null_for_empty`` (min/max/sum of no rows are NULL, as in DuckDB).
- Results come back as Arrow and then Python rows; aware UTC datetimes are made naive UTC,
  as DuckDB's TIMESTAMP returns them, so an operation's JSON is the same on both stores.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from runbrief.errors import StoreError
from runbrief.store.clickhouse import schema

__all__ = ["ChStore", "to_clickhouse", "to_clickhouse_write", "OVERRIDES"]

_SETTINGS = ("SET join_use_nulls = 1", "SET final = 1", "SET session_timezone = 'UTC'",
             "SET aggregate_functions_null_for_empty = 1", "SET insert_allow_materialized_columns = 1",
             "SET enable_named_columns_in_function_tuple = 1")


def _strlen(node: Any) -> Any:
    from sqlglot import exp

    if isinstance(node, exp.Anonymous) and node.name.lower() == "strlen":
        return exp.Anonymous(this="length", expressions=node.expressions)
    if isinstance(node, exp.Anonymous) and node.name.lower() == "epoch_ns" and len(node.expressions) == 1:
        return exp.Anonymous(this="toUnixTimestamp64Nano", expressions=[exp.Anonymous(
            this="toDateTime64", expressions=[node.expressions[0], exp.Literal.number("9")])])
    return node


def _distinct_sorted_list(node: Any) -> Any:
    from sqlglot import exp

    agg, cond = node, None
    if isinstance(node, exp.Filter) and isinstance(node.this, exp.ArrayAgg):
        agg, cond = node.this, node.expression.this
    if not isinstance(agg, exp.ArrayAgg):
        return node
    inner = agg.this.this if isinstance(agg.this, exp.Order) else agg.this
    if not isinstance(inner, exp.Distinct) or len(inner.expressions) != 1:
        return node
    value = inner.expressions[0]
    uniq = (exp.Anonymous(this="groupUniqArrayIf", expressions=[value, cond]) if cond is not None
            else exp.Anonymous(this="groupUniqArray", expressions=[value]))
    # DISTINCT ... ORDER BY the value itself is a sorted set; other orders are not rewritten.
    if isinstance(agg.this, exp.Order):
        keys = agg.this.expressions
        if len(keys) != 1 or keys[0].this != value or keys[0].args.get("desc"):
            return node
        return exp.Anonymous(this="arraySort", expressions=[uniq])
    return uniq


def _bare_names(node: Any) -> Any:
    from sqlglot import exp

    if isinstance(node, exp.Select):
        taken = {e.alias_or_name for e in node.expressions if not (isinstance(e, exp.Column) and e.table)}
        for i, e in enumerate(node.expressions):
            if isinstance(e, exp.Column) and e.table and not isinstance(e.this, exp.Star):
                if e.name in taken:  # SELECT a.id, b.id: ClickHouse refuses one alias twice; the second keeps b.id
                    continue
                taken.add(e.name)
                node.expressions[i] = exp.alias_(e.copy(), e.name)
        node.set("expressions", node.expressions)
    return node


def _columns_before_aliases(node: Any) -> Any:
    from sqlglot import exp

    if not isinstance(node, exp.Select):
        return node
    source = node.args.get("from") or node.args.get("from_")
    table = source.this if source is not None else None
    if not isinstance(table, exp.Table | exp.Subquery):
        return node
    aliases = {e.alias for e in node.expressions if isinstance(e, exp.Alias)}
    # a name is a column as well as an alias only when an alias's own definition reads it
    # (min(start_ns) AS start_ns); `floor(...) AS b ... GROUP BY b` groups by the alias
    used = {c.name for e in node.expressions if isinstance(e, exp.Alias) for c in e.this.find_all(exp.Column)
            if not c.table}
    aliases &= used
    if not aliases:
        return node
    if isinstance(table, exp.Subquery) and not table.alias:  # FROM (SELECT ...): named, to qualify by
        table.set("alias", exp.TableAlias(this=exp.to_identifier("__src")))
    qualifier = table.alias_or_name
    scopes = [*node.expressions, node.args.get("where"), node.args.get("group")]
    for scope in scopes:
        if scope is None:
            continue
        for col in list(scope.find_all(exp.Column)):
            if col.table or col.name not in aliases:
                continue
            # only this SELECT's own references, not a subquery's
            if col.find_ancestor(exp.Select) is not node:
                continue
            col.set("table", exp.to_identifier(qualifier))
    # HAVING sum(n): inside an aggregate a name is a column (an aggregate of an alias of an
    # aggregate would nest aggregates); elsewhere in HAVING it may be the alias
    having = node.args.get("having")
    for col in list(having.find_all(exp.Column)) if having is not None else []:
        if not col.table and col.name in aliases and col.find_ancestor(exp.AggFunc) is not None \
                and col.find_ancestor(exp.Select) is node:
            col.set("table", exp.to_identifier(qualifier))
    return node


def _json_path(node: Any) -> Any:
    from sqlglot import exp

    if isinstance(node, exp.JSONExtractScalar) and isinstance(node.expression, exp.Placeholder):
        return exp.Anonymous(this="JSON_VALUE", expressions=[node.this, node.expression])
    return node


def _time_bucket(node: Any) -> Any:
    from sqlglot import exp

    if isinstance(node, exp.Anonymous) and node.name.lower() == "to_minutes":
        return exp.Anonymous(this="toIntervalMinute", expressions=node.expressions)
    if isinstance(node, exp.DateBin) and not node.args.get("zone") and len(node.args) <= 3:
        origin = node.args.get("origin") or exp.Anonymous(this="toDateTime64", expressions=[
            exp.Literal.string("2000-01-03 00:00:00"), exp.Literal.number("6"), exp.Literal.string("UTC")])
        return exp.Anonymous(this="toStartOfInterval", expressions=[node.expression, _time_bucket(node.this), origin])
    if isinstance(node, exp.TimeToUnix):
        return exp.Div(this=exp.Anonymous(this="toUnixTimestamp64Micro", expressions=[
            exp.Anonymous(this="toDateTime64", expressions=[node.this, exp.Literal.number("6")])]),
            expression=exp.Literal.number("1e6"))
    return node


def _ordered_list(node: Any) -> Any:
    import sqlglot
    from sqlglot import exp

    agg, cond = node, None
    if isinstance(node, exp.Filter) and isinstance(node.this, exp.ArrayAgg):
        agg, cond = node.this, node.expression.this
    if not isinstance(agg, exp.ArrayAgg) or not isinstance(agg.this, exp.Order):
        return node
    value, keys = agg.this.this, agg.this.expressions
    if isinstance(value, exp.Distinct) or len(keys) != 1:
        return node
    sort = "arrayReverseSort" if keys[0].args.get("desc") else "arraySort"
    collect = "groupArrayIf(tuple(__v, __k), __c)" if cond is not None else "groupArray(tuple(__v, __k))"
    tree = sqlglot.parse_one(f"arrayMap(t -> tupleElement(t, 1), {sort}(t -> tupleElement(t, 2), {collect}))",
                             read="clickhouse")
    parts = {"__v": value, "__k": keys[0].this, "__c": cond}
    for col in list(tree.find_all(exp.Column)):
        if col.name in parts:
            col.replace(parts[col.name].copy())
    return tree


def _first_ordered(node: Any) -> Any:
    import sqlglot
    from sqlglot import exp

    agg, cond = node, None
    if isinstance(node, exp.Filter) and isinstance(node.this, exp.First):
        agg, cond = node.this, node.expression.this
    if not isinstance(agg, exp.First) or not isinstance(agg.this, exp.Order):
        return node
    value, keys = agg.this.this, agg.this.expressions
    # one ascending sort key: a DESC key (a number or a boolean here) is negated
    parts = [exp.Neg(this=exp.Anonymous(this="toFloat64", expressions=[k.this.copy()])) if k.args.get("desc")
             else k.this.copy() for k in keys]
    key = exp.Tuple(expressions=parts) if len(parts) > 1 else parts[0]
    collect = "groupArrayIf(tuple(__v, __k), __c)" if cond is not None else "groupArray(tuple(__v, __k))"
    first = f"tupleElement(arrayElement(arraySort(t -> tupleElement(t, 2), {collect}), 1), 1)"
    # a list has no NULL in ClickHouse: no row gives the empty list (arrayElement past the end)
    tree = sqlglot.parse_one(first if _is_list(value) else f"if(length({collect}) = 0, NULL, {first})",
                             read="clickhouse")
    repl = {"__v": value, "__k": key, "__c": cond}
    for col in list(tree.find_all(exp.Column)):
        if col.name in repl:
            col.replace(repl[col.name].copy())
    return tree


def _list_slice(node: Any) -> Any:
    from sqlglot import exp

    if not (isinstance(node, exp.Bracket) and len(node.expressions) == 1 and isinstance(node.expressions[0], exp.Slice)):
        return node
    sl = node.expressions[0]
    lo, hi = sl.this, sl.expression
    lo_n = int(lo.this) if isinstance(lo, exp.Literal) else (1 if lo is None else None)
    if lo_n is None or (hi is not None and not isinstance(hi, exp.Literal)):
        return node
    args = [node.this, exp.Literal.number(str(lo_n))]
    if hi is not None:
        args.append(exp.Literal.number(str(max(0, int(hi.this) - lo_n + 1))))
    return exp.Anonymous(this="arraySlice", expressions=args)


def _json_list_cast(node: Any) -> Any:
    from sqlglot import exp

    if (isinstance(node, exp.Cast) and isinstance(node.this, exp.Column) and node.to.is_type(exp.DataType.Type.ARRAY)
            and len(node.to.expressions) == 1 and node.to.expressions[0].is_type(*exp.DataType.TEXT_TYPES)):
        # ifNull: ClickHouse has no Nullable(Array); a NULL list matches nothing either way
        text = exp.Anonymous(this="ifNull", expressions=[node.this, exp.Literal.string("")])
        return exp.Anonymous(this="JSONExtract", expressions=[text, exp.Literal.string("Array(String)")])
    return node


def _self_correlated(node: Any) -> Any:
    from sqlglot import exp

    if not isinstance(node, exp.Select):
        return node
    source = node.args.get("from") or node.args.get("from_")
    outer = source.this if source is not None else None
    if not isinstance(outer, exp.Table) or outer.alias or node.args.get("joins"):
        return node
    name = outer.name
    parts = [v for k, v in node.args.items() if k not in ("with", "from", "from_") and v is not None]
    nested = [t for part in parts for item in (part if isinstance(part, list) else [part])
              if isinstance(item, exp.Expression) for t in item.find_all(exp.Table) if t.name == name]
    # only when every inner reading of the same table has its own alias (p.x is inner, e0.x outer)
    if not nested or any(not t.alias for t in nested):
        return node
    alias = f"__outer_{name}"
    outer.set("alias", exp.TableAlias(this=exp.to_identifier(alias)))
    for part in parts:
        for item in part if isinstance(part, list) else [part]:
            if isinstance(item, exp.Expression):
                for col in [item, *item.find_all(exp.Column)] if isinstance(item, exp.Column) else \
                        list(item.find_all(exp.Column)):
                    if col.table == name:
                        col.set("table", exp.to_identifier(alias))
    return node


def _quantile_cont(node: Any) -> Any:
    from sqlglot import exp

    if isinstance(node, exp.PercentileCont) and isinstance(node.expression, exp.Literal) \
            and not isinstance(node.this, exp.WithinGroup):
        return exp.ParameterizedAgg(this="quantileExactInclusive", expressions=[node.expression.copy()],
                                    params=[node.this.copy()])
    return node


def _cte_materialized(node: Any) -> Any:
    from sqlglot import exp

    if isinstance(node, exp.CTE) and node.args.get("materialized") is not None:
        node.set("materialized", None)
    return node


def _correlated_not_in(node: Any) -> Any:
    from sqlglot import exp

    if not (isinstance(node, exp.Not) and isinstance(node.this, exp.In) and node.this.args.get("query")):
        return node
    x, sub = node.this.this, node.this.args["query"]
    select = sub.this if isinstance(sub, exp.Subquery) else sub
    if not isinstance(select, exp.Select) or len(select.expressions) != 1 or select.args.get("group"):
        return node
    own = {t.alias_or_name for t in select.find_all(exp.Table)}
    if not any(c.table and c.table not in own for c in select.find_all(exp.Column)):
        return node  # not correlated: ClickHouse's NOT IN is the same
    col = select.expressions[0]
    col = col.this if isinstance(col, exp.Alias) else col

    def exists(extra: Any) -> Any:
        q = select.copy()
        q.set("expressions", [exp.Literal.number("1")])
        where = q.args.get("where")
        q.set("where", exp.Where(this=exp.and_(where.this.copy(), extra) if where is not None else extra))
        return exp.Exists(this=q)

    # x NOT IN (S): no row of S equals x and none is NULL; with x NULL, true only when S is empty
    hit = exists(exp.EQ(this=col.copy(), expression=x.copy()))
    null = exists(exp.Is(this=col.copy(), expression=exp.Null()))
    some = exists(exp.true())
    return exp.Paren(this=exp.or_(
        exp.and_(exp.Not(this=exp.Is(this=x.copy(), expression=exp.Null())), exp.Not(this=hit), exp.Not(this=null)),
        exp.and_(exp.Is(this=x.copy(), expression=exp.Null()), exp.Not(this=some))))


def _sources(select: Any) -> set[str]:
    """The names a SELECT's own FROM and JOINs bind (not its subqueries')."""
    from sqlglot import exp

    out = set()
    source = select.args.get("from") or select.args.get("from_")
    for item in [source.this if source is not None else None, *[j.this for j in select.args.get("joins") or []]]:
        if isinstance(item, exp.Table | exp.Subquery):
            out.add(item.alias_or_name)
    return out


def _conjuncts(where: Any) -> list[Any]:
    from sqlglot import exp

    node = where.this if isinstance(where, exp.Where) else where
    return list(node.flatten()) if isinstance(node, exp.And) else [node]


def _outer_refs_one_level(node: Any) -> Any:
    from sqlglot import exp

    if node.parent is not None or not isinstance(node, exp.Expression):  # the whole statement, once
        return node
    for inner in list(node.find_all(exp.Select)):
        mid = inner.parent.find_ancestor(exp.Select) if inner.parent is not None else None
        if mid is None or mid.args.get("where") is None:
            continue
        own, mids = _sources(inner), _sources(mid)
        # mid's top-level conjuncts `m.x = o.y` (m bound by mid, o further out): o.y is m.x inside
        equal = {}
        for c in _conjuncts(mid.args["where"]):
            if isinstance(c, exp.EQ) and all(isinstance(e, exp.Column) and e.table for e in (c.this, c.expression)):
                a, b = c.this, c.expression
                if a.table in mids and b.table not in mids:
                    equal[(b.table, b.name)] = a
                elif b.table in mids and a.table not in mids:
                    equal[(a.table, a.name)] = b
        if not equal or not inner.find_ancestor(exp.Where) or inner.find_ancestor(exp.Where).parent is not mid:
            continue
        for col in list(inner.find_all(exp.Column)):
            key = (col.table, col.name)
            if col.table and col.table not in own and col.table not in mids and key in equal:
                col.replace(equal[key].copy())
    return node


def _top_n(node: Any) -> Any:
    import sqlglot
    from sqlglot import exp

    if isinstance(node, exp.ArgMax | exp.ArgMin) and node.args.get("count") is not None:
        sort = "arrayReverseSort" if isinstance(node, exp.ArgMax) else "arraySort"
        tree = sqlglot.parse_one(f"arrayMap(t -> tupleElement(t, 1), arraySlice({sort}(t -> tupleElement(t, 2), "
                                 "groupArray(tuple(__v, __k))), 1, __n))", read="clickhouse")
        repl = {"__v": node.this, "__k": node.expression, "__n": node.args["count"]}
        for col in list(tree.find_all(exp.Column)):
            if col.name in repl:
                col.replace(repl[col.name].copy())
        return tree
    if isinstance(node, exp.Array) and len(node.expressions) == 1 and isinstance(node.expressions[0], exp.Comprehension):
        comp = node.expressions[0]
        if comp.args.get("condition") is not None or comp.args.get("position") is not None:
            return node
        var = comp.expression.name
        return exp.Anonymous(this="arrayMap", expressions=[
            exp.Lambda(this=comp.this.copy(), expressions=[exp.to_identifier(var)]),
            comp.args["iterator"].copy().transform(_top_n)])  # a replaced node's children are not visited
    return node


def _bool_agg(node: Any) -> Any:
    from sqlglot import exp

    if isinstance(node, exp.LogicalOr | exp.LogicalAnd):
        return exp.Anonymous(this="max" if isinstance(node, exp.LogicalOr) else "min", expressions=[node.this.copy()])
    return node


def _struct(node: Any) -> Any:
    from sqlglot import exp

    if isinstance(node, exp.Struct) and node.expressions and all(
            isinstance(e, exp.PropertyEQ) for e in node.expressions):
        return exp.Anonymous(this="tuple", expressions=[
            exp.alias_(e.expression.copy(), e.this.name) for e in node.expressions])
    return node


def _json_cast(node: Any) -> Any:
    from sqlglot import exp

    if isinstance(node, exp.Cast) and node.to.is_type(exp.DataType.Type.JSON):
        return node.this.copy()
    return node


def _null_list(node: Any) -> Any:
    from sqlglot import exp

    if isinstance(node, exp.Cast) and isinstance(node.this, exp.Null) and node.to.is_type(exp.DataType.Type.ARRAY):
        return exp.Cast(this=exp.Array(expressions=[]), to=node.to.copy())
    return node


def _is_list(node: Any) -> bool:
    from sqlglot import exp

    if isinstance(node, exp.Array | exp.ArrayAgg) or (isinstance(node, exp.Cast)
                                                      and node.to.is_type(exp.DataType.Type.ARRAY)):
        return True
    if isinstance(node, exp.Column):
        return node.name in schema.LIST_COLUMNS
    if isinstance(node, exp.Case):
        return all(_is_list(i.args["true"]) for i in node.args.get("ifs") or []) and \
            (node.args.get("default") is None or _is_list(node.args["default"]))
    if isinstance(node, exp.Paren):
        return _is_list(node.this)
    return False


def _list_length(node: Any) -> Any:
    from sqlglot import exp

    if isinstance(node, exp.Length) and _is_list(node.this):
        return exp.Anonymous(this="length", expressions=[node.this.copy()])
    return node


def _union_by_name(node: Any) -> Any:
    from sqlglot import exp

    if node.parent is not None or not isinstance(node, exp.Expression):  # the whole statement, once
        return node
    ctes = {c.alias: c.this for c in node.find_all(exp.CTE) if isinstance(c.this, exp.Select)}
    for union in list(node.find_all(exp.Union)):
        left, right = union.this, union.expression
        if not (union.args.get("by_name") and isinstance(left, exp.Select) and isinstance(right, exp.Select)):
            continue
        names = [e.alias_or_name for e in left.expressions]
        if any(isinstance(e, exp.Star) or not n for e, n in zip(left.expressions, names, strict=True)):
            continue
        if len(right.expressions) == 1 and isinstance(right.expressions[0], exp.Star):
            source = right.args.get("from") or right.args.get("from_")
            table = source.this if source is not None else None
            if not isinstance(table, exp.Table) or table.name not in ctes:
                continue
            theirs = [e.alias_or_name for e in ctes[table.name].expressions]
        else:
            theirs = [e.alias_or_name for e in right.expressions]
        if sorted(theirs) != sorted(names) or "" in theirs or "*" in theirs:
            continue  # not the same names: left for ClickHouse to refuse
        right.set("expressions", [exp.column(n, quoted=True) for n in names])
        union.set("by_name", None)
    return node


def _any_value_filter(node: Any) -> Any:
    from sqlglot import exp

    if isinstance(node, exp.Filter):
        agg = node.this.this if isinstance(node.this, exp.IgnoreNulls) else node.this
        if isinstance(agg, exp.AnyValue):
            return exp.Anonymous(this="anyIf", expressions=[agg.this, node.expression.this])
    return node


# Where the dialects differ and SQLGlot's DuckDB→ClickHouse transpilation does not bridge it.
# Each entry: (name, why, a tree transform applied to every node of the parsed DuckDB SQL).
OVERRIDES: list[tuple[str, str, Callable[[Any], Any]]] = [
    ("SELECT t.col", "ClickHouse names the result column `t.col`, DuckDB `col`: alias it to its bare name",
     _bare_names),
    ("min(x) AS x", "in DuckDB a name in SELECT expressions, WHERE and GROUP BY is the column even when an "
     "alias shares it; ClickHouse resolves the alias (min(start_ns) AS start_ns inside max(end_ns) - "
     "min(start_ns) nests aggregates): qualify such columns with their table", _columns_before_aliases),
    ("json_extract_string(j, ?)", "a bound path is JSONPath ('$.\"http.route\"'); SQLGlot emits "
     "JSONExtractString, which takes keys, not a path; JSON_VALUE takes the path", _json_path),
    ("time_bucket(to_minutes(n), ts), epoch(ts)", "SQLGlot emits DATE_BIN and TIME_TO_UNIX, which ClickHouse "
     "lacks; toStartOfInterval with DuckDB's default origin (2000-01-03) and microseconds / 1e6 are the same",
     _time_bucket),
    ("list(x ORDER BY k) FILTER (WHERE c)", "ClickHouse aggregates take no ORDER BY: collect (x, k) pairs "
     "(groupArray keeps a pair whose x is NULL, as DuckDB's list keeps NULLs), sort by k, keep x", _ordered_list),
    ("first(x ORDER BY k1 DESC, k2) FILTER (WHERE c)", "ClickHouse aggregates take no ORDER BY: collect "
     "(x, (-k1, k2)) pairs, sort by the key (a DESC key is a number or boolean, negated), keep the first x; "
     "NULL when no row (DuckDB's first of nothing)", _first_ordered),
    ("list[:n]", "ClickHouse has no slice syntax: arraySlice(list, 1, n), both 1-based", _list_slice),
    ("any_value(x) FILTER (WHERE c)", "SQLGlot emits any(x) IGNORE NULLS FILTER(...), which ClickHouse "
     "cannot parse; anyIf(x, c) (ClickHouse's any skips NULLs)", _any_value_filter),
    ("CAST(json_col AS VARCHAR[])", "a JSON list stored as text: DuckDB casts JSON to a list; ClickHouse's "
     "CAST parses its own array syntax ('a'), not JSON's (\"a\"): JSONExtract(col, 'Array(String)')", _json_list_cast),
    ("FROM t WHERE NOT EXISTS (SELECT 1 FROM t p WHERE p.k = t.k)", "ClickHouse resolves t.k inside the "
     "subquery to the inner reading of t, not the outer row, and answers as if uncorrelated (every row kept): "
     "alias the outer t (__outer_t) and qualify its columns with that alias", _self_correlated),
    ("quantile_cont(x, p)", "SQLGlot emits PERCENTILE_CONT, which ClickHouse lacks; quantileExactInclusive(p)(x) "
     "interpolates between the two nearest values as DuckDB's quantile_cont does (R-7)", _quantile_cont),
    ("WITH x AS MATERIALIZED (...)", "ClickHouse has no MATERIALIZED hint on a CTE; the same CTE without it "
     "(ClickHouse may compute it once per reference: slower, the same rows)", _cte_materialized),
    ("{'a': x}, struct_pack(a := x)", "SQLGlot emits tuple(a := x), which ClickHouse cannot parse; "
     "tuple(x AS a) is a named tuple under enable_named_columns_in_function_tuple", _struct),
    ("x NOT IN (correlated SELECT c ...)", "ClickHouse takes no correlated subquery as IN's argument: "
     "NOT EXISTS of a row equal to x and of a NULL row (x NULL: NOT EXISTS of any row), NOT IN's meaning "
     "(false where DuckDB says NULL: the same in a WHERE)", _correlated_not_in),
    ("a subquery two levels deep reading o.y, where its parent's WHERE says m.x = o.y",
     "ClickHouse resolves a correlated column one level out only (its error is 'Cannot find column "
     "__tableN.y'): inside, o.y is replaced by m.x, equal wherever the parent's WHERE holds",
     _outer_refs_one_level),
    ("arg_max(x, k, n), [f(x) for x in list]", "SQLGlot drops arg_max's n and keeps the comprehension, "
     "which ClickHouse cannot parse: the n largest by k (collected, sorted by k, sliced), and arrayMap(x -> f(x), "
     "list)", _top_n),
    ("bool_or(x), bool_and(x)", "SQLGlot emits LOGICAL_OR / LOGICAL_AND, which ClickHouse lacks; max / min of "
     "a boolean are the same (NULLs skipped, NULL for no rows)", _bool_agg),
    ("x::JSON", "runbrief's ClickHouse tables keep JSON as text (String), as the views give it; ClickHouse's "
     "JSON type is an object store that refuses a list ('[]'): the text as it is", _json_cast),
    ("NULL::T[]", "ClickHouse has no NULL array: the empty one (the difference is in docs/clickhouse.md)",
     _null_list),
    ("len(list)", "SQLGlot emits CHAR_LENGTH, which takes strings only; length() of a list expression or of "
     "a column schema.LIST_COLUMNS names (a string keeps CHAR_LENGTH: characters, as DuckDB counts)",
     _list_length),
    ("A UNION ALL BY NAME SELECT * FROM cte", "ClickHouse unions by position: the right side's columns "
     "listed in the left's order, when the names (from the CTE's own list) are the same set", _union_by_name),
    ("strlen, epoch_ns", "ClickHouse has no strlen(); length() counts bytes as DuckDB's strlen() does; "
     "epoch_ns(ts) is toUnixTimestamp64Nano(toDateTime64(ts, 9))", _strlen),
    ("list(DISTINCT x ORDER BY x) FILTER (WHERE c)",
     "ClickHouse aggregates take no ORDER BY and SQLGlot emits ARRAY_AGG(DISTINCT ... ORDER BY); "
     "arraySort(groupUniqArrayIf(x, c)) is the same sorted set", _distinct_sorted_list),
]


_BEFORE_OPERAND: frozenset[Any] | None = None


def _before_operand() -> frozenset[Any]:
    from sqlglot.tokens import TokenType as T

    return frozenset({T.L_PAREN, T.COMMA, T.EQ, T.NEQ, T.GT, T.GTE, T.LT, T.LTE, T.PLUS, T.DASH, T.STAR, T.SLASH,
                      T.AND, T.OR, T.IN, T.SELECT, T.WHERE, T.THEN, T.ELSE, T.WHEN, T.BETWEEN, T.NOT, T.L_BRACKET})


@lru_cache(maxsize=512)
def _parsed(sql: str) -> Any:
    """The DuckDB statement with its ``?`` numbered ``$1..$n`` in text order, overrides applied."""
    import sqlglot
    from sqlglot.dialects.duckdb import DuckDB
    from sqlglot.tokens import TokenType

    global _BEFORE_OPERAND
    if _BEFORE_OPERAND is None:
        _BEFORE_OPERAND = _before_operand()
    # Numbered from the tokens (a '?' inside a string literal is no parameter), right to left.
    # DuckDB's tokenizer reads "?::" as its try-cast operator; after an opening bracket, a
    # comma or an operator it is a parameter followed by a cast ("to_minutes(?::BIGINT)").
    holes, prev = [], None
    for t in DuckDB().tokenize(sql):
        if t.token_type == TokenType.PLACEHOLDER or (
                t.token_type == TokenType.QDCOLON and t.text == "?::" and (prev is None or prev in _BEFORE_OPERAND)):
            holes.append(t.start)
        prev = t.token_type
    for n, at in reversed(list(enumerate(holes, 1))):
        sql = f"{sql[:at]}${n}{sql[at + 1:]}"
    tree = sqlglot.parse_one(sql, read="duckdb")
    for _name, _why, fn in OVERRIDES:
        tree = tree.transform(fn)
    return tree, len(holes)


@lru_cache(maxsize=512)
def star_prefixes(sql: str) -> tuple[str, ...]:
    """The ``t.`` prefixes ClickHouse may put on result columns of this DuckDB statement.

    ``SELECT a.* ... FROM a JOIN b USING (k)`` names a column ``a.n`` in ClickHouse when b
    has an ``n`` too; DuckDB names it ``n``. The store strips the prefix from such result
    names (a tree rewrite cannot: expanding ``a.*`` needs the CTE's columns)."""
    from sqlglot import exp

    tree = _parsed(sql)[0]
    if not isinstance(tree, exp.Select):
        return ()
    return tuple(f"{e.table}." for e in tree.expressions
                 if isinstance(e, exp.Column) and isinstance(e.this, exp.Star) and e.table)


def _bare(name: str, prefixes: tuple[str, ...]) -> str:
    for p in prefixes:
        if name.startswith(p):
            return name[len(p):]
    return name


def _literal(value: Any) -> Any:
    from sqlglot import exp

    if value is None:
        return exp.Null()
    if isinstance(value, bool):
        return exp.Boolean(this=value)
    if isinstance(value, int | float):
        return exp.Literal.number(repr(value) if isinstance(value, float) else str(value))
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return exp.Anonymous(this="toDateTime64", expressions=[
            exp.Literal.string(value.isoformat(sep=" ", timespec="microseconds")),
            exp.Literal.number("6"), exp.Literal.string("UTC")])
    if isinstance(value, date):
        return exp.Anonymous(this="toDate", expressions=[exp.Literal.string(value.isoformat())])
    if isinstance(value, str):
        return exp.Literal.string(value)
    if isinstance(value, list | tuple):
        return exp.Array(expressions=[_literal(v) for v in value])
    raise StoreError(f"cannot pass a {type(value).__name__} to a ClickHouse query")


def to_clickhouse(sql: str, params: list[Any] | tuple[Any, ...] | None = None,
                  tables: dict[str, Any] | None = None) -> str:
    """``sql`` (DuckDB dialect, ``?`` parameters) as ClickHouse SQL with ``params`` inlined,
    and each of ``tables`` (name -> a small Arrow table a caller registered) inlined as rows."""
    from sqlglot import exp

    parsed, n = _parsed(sql)
    values = list(params or [])
    if n != len(values):
        raise StoreError(f"the query has {n} parameter(s) and was given {len(values)}")
    tree = parsed.copy()
    for hole in list(tree.find_all(exp.Placeholder)):
        hole.replace(_literal(values[int(hole.name) - 1]))
    _inline_tables(tree, tables)
    return tree.sql(dialect="clickhouse")


def _inline_tables(tree: Any, tables: dict[str, Any] | None) -> None:
    """Replace each reference to a registered name by its rows (an Arrow table) or its
    query (a cursor's temporary view or table, a parsed SELECT)."""
    from sqlglot import exp

    for table in list(tree.find_all(exp.Table)) if tables else []:
        if table.name in tables and not table.db:
            held = tables[table.name]
            body = held.copy() if isinstance(held, exp.Expression) else _rows_of(held)
            table.replace(exp.Subquery(this=body, alias=exp.TableAlias(this=exp.to_identifier(table.alias_or_name))))


def temp_relation(sql: str, params: list[Any] | tuple[Any, ...] | None,
                  tables: dict[str, Any]) -> tuple[str, Any, bool] | None:
    """``CREATE TEMP VIEW|TABLE name AS SELECT ...`` (DuckDB) as (name, its SELECT with the
    parameters and the names already registered inlined, whether it is a table), or None for
    any other statement.

    A chdb session has no temporary views: the cursor keeps a view's query and inlines it
    where the name is read, which is what a view is. A temporary table becomes a session
    temporary table (Memory engine), computed once, dropped when the cursor closes."""
    from sqlglot import exp

    tree, n = _parsed(sql)
    if not (isinstance(tree, exp.Create) and tree.args.get("kind") in ("VIEW", "TABLE")
            and isinstance(tree.expression, exp.Query)):
        return None
    props = tree.args.get("properties")
    if props is None or not any(isinstance(p, exp.TemporaryProperty) for p in props.expressions):
        return None
    values = list(params or [])
    if n != len(values):
        raise StoreError(f"the statement has {n} parameter(s) and was given {len(values)}")
    body = tree.expression.copy()
    for hole in list(body.find_all(exp.Placeholder)):
        hole.replace(_literal(values[int(hole.name) - 1]))
    _inline_tables(body, tables)
    return tree.this.name, body, tree.args.get("kind") == "TABLE"


def to_clickhouse_write(sql: str, params: list[Any] | tuple[Any, ...] | None,
                        columns: Callable[[str], tuple[list[str], bool]], version: int,
                        tables: dict[str, Any] | None = None) -> str:
    """A DuckDB write statement (INSERT [OR REPLACE], UPDATE, DELETE; ``?`` parameters) as ClickHouse SQL.

    ``columns(table)`` gives the table's insertable columns in order and whether it is a
    latest-state table (a ReplacingMergeTree with a ``row_version`` column). On such a table
    an INSERT gets ``row_version = version`` (the newest row wins, so INSERT OR REPLACE is a
    plain INSERT) and an UPDATE becomes an INSERT ... SELECT of the rows it matches with the
    SET expressions in place of their columns (read merged, ``final = 1``): no mutation,
    which ClickHouse runs asynchronously and rewrites whole parts for.
    """
    from sqlglot import exp

    parsed, n = _parsed(sql)
    values = list(params or [])
    if n != len(values):
        raise StoreError(f"the statement has {n} parameter(s) and was given {len(values)}")
    tree = parsed.copy()
    for hole in list(tree.find_all(exp.Placeholder)):
        hole.replace(_literal(values[int(hole.name) - 1]))
    _inline_tables(tree, tables)
    ver = exp.Literal.number(str(version))
    rv = exp.to_identifier(schema.ROW_VERSION)
    if isinstance(tree, exp.Insert):
        if tree.args.get("conflict") is not None:
            raise StoreError("INSERT ... ON CONFLICT has no ClickHouse form here; write to a latest-state table "
                             "(ReplacingMergeTree) with INSERT OR REPLACE instead")
        target = tree.this
        table = target.this if isinstance(target, exp.Schema) else target
        cols, latest = columns(table.name)
        listed = ([e.copy() for e in target.expressions] if isinstance(target, exp.Schema)
                  else [exp.to_identifier(c) for c in cols])
        body = tree.expression
        if latest:
            listed.append(rv.copy())
            if isinstance(body, exp.Values):
                for row in body.expressions:
                    row.append("expressions", ver.copy())
            elif isinstance(body, exp.Select):
                body.select(ver.copy(), copy=False)
        tree.set("alternative", None)
        tree.set("this", exp.Schema(this=table.copy(), expressions=listed))
    elif isinstance(tree, exp.Update):
        table = tree.this
        cols, latest = columns(table.name)
        if not latest:
            raise StoreError(f"UPDATE of {table.name}: only latest-state tables (ReplacingMergeTree, with a "
                             f"{schema.ROW_VERSION} column) are updated on a ClickHouse store")
        sets = {e.this.name: e.expression for e in tree.expressions}
        unknown = sorted(set(sets) - set(cols))
        if unknown:
            raise StoreError(f"UPDATE of {table.name}: no column(s) {', '.join(unknown)}")
        select = exp.select(*[sets[c].copy() if c in sets else exp.column(c, quoted=True) for c in cols],
                            ver.copy()).from_(table.copy())
        if tree.args.get("where") is not None:
            select.set("where", tree.args["where"].copy())
        tree = exp.insert(select, exp.Schema(this=table.copy(),
                                             expressions=[*[exp.to_identifier(c, quoted=True) for c in cols], rv]))
    elif not isinstance(tree, exp.Delete):
        raise StoreError(f"not a write statement: {sql[:80]}")
    return tree.sql(dialect="clickhouse")


def _rows_of(arrow: Any) -> Any:
    """A registered Arrow table as a literal SELECT (UNION ALL of its rows): DuckDB's
    ``register`` has no twin in a chdb session, and the tables callers register are small
    (keys to look up)."""
    from sqlglot import exp

    names = arrow.column_names
    rows = arrow.to_pylist()
    if not rows:  # no rows: the columns, typed by nothing, filtered out
        return exp.select(*[exp.alias_(exp.Null(), c) for c in names]).where(exp.false())
    selects = [exp.select(*[exp.alias_(_literal(r[c]), c) for c in names]) for r in rows]
    out = selects[0]
    for sel in selects[1:]:
        out = exp.union(out, sel, distinct=False)
    return out


SPILL_ROWS = 64  # a registered Arrow table above this many rows is read from a Parquet file


def _plain(value: Any) -> Any:
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(UTC).replace(tzinfo=None)
    return value


class _Cursor:
    """The slice of DuckDB's cursor that operations use to read rows as tuples
    (``execute(sql, params).fetchall()``), over the transpiling ``query``."""

    def __init__(self, store: ChStore) -> None:
        self._store = store
        self._rows: list[tuple[Any, ...]] = []
        self.description: list[tuple[str, ...]] = []
        self._tables: dict[str, Any] = {}
        self._temp: list[str] = []

    def register(self, name: str, table: Any) -> None:
        """Name an Arrow table for the next queries: a few rows are inlined (``_rows_of``), more
        go to a Parquet file in the store's private temporary folder, read with ``file()``
        (a UNION of hundreds of literal rows costs seconds to generate and parse)."""
        self._tables[name] = self._store.spill(table) if table.num_rows > SPILL_ROWS else table

    def unregister(self, name: str) -> None:
        self._tables.pop(name, None)

    def cursor(self) -> _Cursor:
        """A private cursor (DuckDB's ``cursor().cursor()``): its temporary views are its own."""
        return _Cursor(self._store)

    def close(self) -> None:
        self._tables.clear()
        for name in self._temp:
            self._store.execute(f"DROP TEMPORARY TABLE IF EXISTS `{name}`")
        self._temp.clear()

    def execute(self, sql: str, params: list[Any] | tuple[Any, ...] | None = None) -> _Cursor:
        temp = temp_relation(sql, params, self._tables)
        if temp is not None:
            name, body, is_table = temp
            if is_table:  # computed once: a session temporary table, dropped when the cursor closes
                self._store.execute(f"DROP TEMPORARY TABLE IF EXISTS `{name}`")
                self._store.execute(f"CREATE TEMPORARY TABLE `{name}` ENGINE = Memory AS {body.sql(dialect='clickhouse')}")
                self._temp.append(name)
                self._tables.pop(name, None)
            else:
                self._tables[name] = body
            self._rows, self.description = [], []
            return self
        # Positional, from the Arrow columns: unnamed or repeated result columns ("NULL, NULL")
        # would collapse in a dict.
        table = self._store.arrow(to_clickhouse(sql, params, self._tables))
        stars = star_prefixes(sql)
        self.description = [(_bare(name, stars),) for name in table.column_names] if table is not None else []
        cols = [[_plain(v) for v in c.to_pylist()] for c in table.columns] if table is not None else []
        self._rows = list(zip(*cols, strict=True)) if cols else []
        return self

    def fetchall(self) -> list[tuple[Any, ...]]:
        rows, self._rows = self._rows, []
        return rows

    def fetchone(self) -> tuple[Any, ...] | None:
        return self._rows.pop(0) if self._rows else None


class _Writer:
    """What ``ChStore.write()`` yields: the ``execute(sql, params)`` of a DuckDB connection in a
    write transaction, for the INSERT / UPDATE / DELETE statements operations write with."""

    def __init__(self, store: ChStore) -> None:
        self._store = store
        self._reader = _Cursor(store)

    def execute(self, sql: str, params: list[Any] | tuple[Any, ...] | None = None) -> _Writer:
        from sqlglot import exp

        if isinstance(_parsed(sql)[0], exp.Query):  # a read inside the write block (an alias lookup)
            self._reader.execute(sql, params)
        else:  # INSERT ... SELECT FROM a registered Arrow table: its rows inlined
            self._store.write_sql(sql, params, self._reader._tables)
        return self

    def register(self, name: str, table: Any) -> None:
        self._reader.register(name, table)

    def unregister(self, name: str) -> None:
        self._reader.unregister(name)

    def fetchall(self) -> list[tuple[Any, ...]]:
        return self._reader.fetchall()

    def fetchone(self) -> tuple[Any, ...] | None:
        return self._reader.fetchone()


class ChStore:
    """An open chdb store: a directory ClickHouse's engine keeps its tables in.

    The read interface operations need (``query``, ``scalar``, ``meta_get``, ``path``,
    ``read_only``, ``settle``), plus ``execute`` for ClickHouse SQL as it is (schema,
    copies). One open chdb store per process: chdb embeds one engine, bound to one folder
    until it is closed.
    """

    _open_path: Path | None = None  # the folder this process's engine holds

    def __init__(self, path: Path, session: Any, read_only: bool) -> None:
        self.path = path
        self._session = session
        self.read_only = read_only
        self.settle: Callable[[], None] | None = None
        self.lost: str | None = None
        self._lock = threading.RLock()
        self._ids: dict[str, int] = {}
        self._version = 0
        self._columns: dict[str, tuple[list[str], bool]] = {}
        self._spill_dir: Any = None
        self._spilled = 0

    @classmethod
    def open(cls, path: str | Path, *, read_only: bool = False) -> ChStore:
        try:
            from chdb import session as chsession
        except ImportError as exc:
            raise StoreError("a chdb: store needs the clickhouse extra: pip install 'runbrief[clickhouse]'") from exc
        p = Path(path).expanduser().resolve()
        if read_only and not p.exists():
            raise StoreError(f"no chdb store at {p}: copy one there first (runbrief store copy SRC chdb:{p})")
        if ChStore._open_path is not None and ChStore._open_path != p:
            raise StoreError(f"this process already has the chdb store {ChStore._open_path} open; "
                             "chdb embeds one engine per process: close it first")
        p.mkdir(parents=True, exist_ok=True, mode=0o700)
        store = cls(p, chsession.Session(str(p)), read_only)
        ChStore._open_path = p
        try:
            for stmt in _SETTINGS:
                store.execute(stmt)
            store._migrate()
        except BaseException:
            store.close()  # a refused store must not keep this process's one engine
            raise
        return store

    def _migrate(self) -> None:
        """Apply the numbered migrations this store has not had (schema.MIGRATIONS), each once,
        in order, each recorded in ``schema_migrations`` after its statements ran; then the views.

        A store from before the version table says its version in meta only: the migrations up
        to it count as applied. A store from a newer runbrief is refused, as DuckDB's is.
        """
        stamped = int(self._meta_raw("schema_version") or 0) if self._has_table("meta") else 0
        has_log = self._has_table("schema_migrations")
        applied = int(self.execute("SELECT max(version) v FROM schema_migrations")[0]["v"] or 0) if has_log else stamped
        newest = max(applied, stamped)
        if newest > schema.SCHEMA_VERSION:
            raise StoreError(f"the chdb store {self.path} has schema version {newest}, newer than this "
                             f"runbrief understands ({schema.SCHEMA_VERSION}); upgrade runbrief")
        todo = schema.pending(applied)
        if not todo:
            return
        if self.read_only:
            raise StoreError(f"the chdb store {self.path} has schema version {applied} and needs migrating to "
                             f"{schema.SCHEMA_VERSION}; open it once writable")
        self.execute(schema.VERSION_TABLE)
        if not has_log and applied:  # the older stamp: what it had is recorded as applied
            self._record([m for m in schema.MIGRATIONS if m.version <= applied], "(before schema_migrations) ")
        for mig in todo:
            for stmt in mig.statements:
                try:
                    self.execute(stmt)
                except StoreError as exc:
                    raise StoreError(f"ClickHouse migration {mig.version} ({mig.name}) failed on {self.path}: "
                                     f"{exc}") from exc
            self._record([mig])
        for stmt in schema.VIEWS:
            self.execute(stmt)
        self.meta_set("schema_version", str(schema.SCHEMA_VERSION))

    def _record(self, migs: list[schema.Migration], note: str = "") -> None:
        now = _literal(datetime.now(UTC)).sql(dialect="clickhouse")
        self.execute("INSERT INTO schema_migrations (version, name, applied_at) VALUES " + ", ".join(
            f"({m.version}, {_literal(note + m.name).sql(dialect='clickhouse')}, {now})" for m in migs))

    def migrations(self) -> list[dict[str, Any]]:
        """The migrations this store has had, in order (version, name, when)."""
        return self.execute("SELECT version, name, applied_at FROM schema_migrations ORDER BY version")

    def _has_table(self, name: str) -> bool:
        rows = self.execute("SELECT count() n FROM system.tables WHERE database = currentDatabase() "
                            f"AND name = {_literal(name).sql(dialect='clickhouse')}")
        return bool(rows and rows[0]["n"])

    def _meta_raw(self, key: str) -> str | None:
        rows = self.execute(f"SELECT value FROM meta WHERE key = {_literal(key).sql(dialect='clickhouse')}")
        return rows[0]["value"] if rows else None

    def close(self) -> None:
        with self._lock:
            self._session.close()
            ChStore._open_path = None
            if self._spill_dir is not None:
                self._spill_dir.cleanup()
                self._spill_dir = None

    def __enter__(self) -> ChStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---------------------------------------------------------------- access
    def arrow(self, sql: str) -> Any:
        """Run ClickHouse SQL as it is; the result as an Arrow table (None for statements)."""
        with self._lock:
            try:
                res = self._session.query(sql, "ArrowTable")
            except Exception as exc:  # chdb raises RuntimeError carrying ClickHouse's message
                raise StoreError(f"ClickHouse refused a query on {self.path}: {str(exc)[:800]}") from exc
        return res if res is not None and hasattr(res, "to_pylist") else None

    def execute(self, sql: str) -> list[dict[str, Any]]:
        """Run ClickHouse SQL as it is; rows as dicts (none for statements)."""
        res = self.arrow(sql)
        if res is None:
            return []
        return [{k: _plain(v) for k, v in row.items()} for row in res.to_pylist()]

    def query(self, sql: str, params: list[Any] | tuple[Any, ...] | None = None) -> list[dict[str, Any]]:
        """Run a read query written in DuckDB's dialect; rows as dicts, as ``Store.query``."""
        rows = self.execute(to_clickhouse(sql, params))
        stars = star_prefixes(sql)
        if stars and rows and any(k.startswith(stars) for k in rows[0]):
            rows = [{_bare(k, stars): v for k, v in r.items()} for r in rows]
        return rows

    def cursor(self) -> _Cursor:
        """A DuckDB-shaped read cursor (``execute(...).fetchall()``) over ``query``."""
        return _Cursor(self)

    def scalar(self, sql: str, params: list[Any] | tuple[Any, ...] | None = None) -> Any:
        rows = self.query(sql, params)
        return next(iter(rows[0].values())) if rows else None

    # ---------------------------------------------------------------- writing
    @contextmanager
    def write(self) -> Iterator[_Writer]:
        """The statements of one DuckDB-style write block, each applied as it runs.

        ClickHouse has no multi-statement transactions: a block that fails half-way keeps
        the statements before the failure. The writes operations make are idempotent
        re-derivations (incidents re-detected, a fix recorded once), so a retry repairs it.
        """
        if self.read_only:
            raise StoreError(f"the store {self.path} is open read-only")
        with self._lock:
            yield _Writer(self)

    def write_sql(self, sql: str, params: list[Any] | tuple[Any, ...] | None = None,
                  tables: dict[str, Any] | None = None) -> None:
        """Run one write statement in DuckDB's dialect (see ``to_clickhouse_write``); ``tables``
        are the names a cursor registered (small Arrow tables), inlined where read."""
        if self.read_only:
            raise StoreError(f"the store {self.path} is open read-only")
        with self._lock:
            self.execute(to_clickhouse_write(sql, params, self._table_columns, self._next_version(), tables))

    def spill(self, table: Any) -> Any:
        """``table`` as a Parquet file in this store's private temporary folder; the SELECT
        that reads it (removed at close)."""
        import tempfile

        import pyarrow.parquet as pq
        import sqlglot

        if self._spill_dir is None:
            self._spill_dir = tempfile.TemporaryDirectory(prefix="runbrief-chdb-")
        self._spilled += 1
        path = Path(self._spill_dir.name) / f"t{self._spilled}.parquet"
        pq.write_table(table, path)
        return sqlglot.parse_one(f"SELECT * FROM file({_literal(str(path)).sql(dialect='clickhouse')}, Parquet)",
                                 read="clickhouse")

    def _next_version(self) -> int:
        """A row version above every one this process gave: the wall clock in ns, kept
        increasing (two writes in one nanosecond, or a clock stepped back)."""
        self._version = max(time.time_ns(), self._version + 1)
        return self._version

    def _table_columns(self, table: str) -> tuple[list[str], bool]:
        if table not in self._columns:
            rows = self.execute("SELECT name, default_kind FROM system.columns WHERE database = currentDatabase() "
                                f"AND table = {_literal(table).sql(dialect='clickhouse')} ORDER BY position")
            if not rows:
                raise StoreError(f"no table {table} in the ClickHouse store {self.path}")
            cols = [r["name"] for r in rows if r["default_kind"] in ("", "DEFAULT")]
            self._columns[table] = (cols, any(r["name"] == schema.ROW_VERSION for r in rows))
        return self._columns[table]

    def next_ids(self, table: str, n: int) -> int:
        """Reserve ``n`` consecutive integer IDs for ``table``; returns the first (as ``Store.next_ids``)."""
        with self._lock:
            if table not in self._ids:
                self._ids[table] = int(self.scalar(f"SELECT coalesce(max(id), 0) FROM {table}") or 0) + 1
            first = self._ids[table]
            self._ids[table] = first + n
            return first

    def bytes_on_disk(self) -> int:
        """The store's size for ``stats``: every active part of its tables (compressed)."""
        rows = self.execute("SELECT sum(bytes_on_disk) n FROM system.parts WHERE database = currentDatabase() AND active")
        return int(rows[0]["n"] or 0) if rows else 0

    def meta_get(self, key: str) -> str | None:
        return self._meta_raw(key)

    def meta_set(self, key: str, value: str) -> None:
        if self.read_only:
            raise StoreError(f"the store {self.path} is open read-only")
        k, v = (_literal(x).sql(dialect="clickhouse") for x in (key, value))
        self.execute(f"INSERT INTO meta (key, value, version) VALUES ({k}, {v}, {self._next_version()})")
