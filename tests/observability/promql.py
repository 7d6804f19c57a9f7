"""Metric names out of PromQL expressions, with a small tokenizer.

Only what the name check needs: label matchers, ranges and strings are skipped
as whole tokens (so label names and values never count), keywords and the label
lists after by/without/on/ignoring/group_left/group_right are skipped, and an
identifier followed by "(" must be a known function or aggregation (a typo in a
function name is an error rather than a metric). Grafana's template variables
($__rate_interval, $instance, ${var}) are tokens of their own.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

AGGREGATIONS = frozenset({
    "sum", "avg", "min", "max", "count", "stddev", "stdvar", "topk", "bottomk", "quantile", "count_values",
    "group", "limitk", "limit_ratio",
})
FUNCTIONS = frozenset({
    "abs", "absent", "absent_over_time", "acos", "acosh", "asin", "asinh", "atan", "atanh", "avg_over_time",
    "ceil", "changes", "clamp", "clamp_max", "clamp_min", "cos", "cosh", "count_over_time", "day_of_month",
    "day_of_week", "day_of_year", "days_in_month", "deg", "delta", "deriv", "double_exponential_smoothing", "end",
    "exp", "floor", "histogram_avg", "histogram_count", "histogram_fraction", "histogram_quantile", "histogram_stddev",
    "histogram_stdvar", "histogram_sum", "holt_winters", "hour", "idelta", "increase", "info", "irate", "label_join",
    "label_replace", "last_over_time", "ln", "log10", "log2", "mad_over_time", "max_over_time", "min_over_time",
    "minute", "month", "pi", "predict_linear", "present_over_time", "quantile_over_time", "rad", "rate", "resets",
    "round", "scalar", "sgn", "sin", "sinh", "sort", "sort_by_label", "sort_by_label_desc", "sort_desc", "sqrt",
    "start", "stddev_over_time", "stdvar_over_time", "sum_over_time", "tan", "tanh", "time", "timestamp", "vector",
    "year",
})
LABEL_LIST_KEYWORDS = frozenset({"by", "without", "on", "ignoring", "group_left", "group_right"})
KEYWORDS = frozenset({"offset", "bool", "and", "or", "unless", "atan2"}) | LABEL_LIST_KEYWORDS
LITERALS = frozenset({"inf", "nan"})

_IDENT = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")
_NUMBER = re.compile(r"(?:0[xX][0-9a-fA-F]+|[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)(?:[a-zA-Z0-9_.]*)")
_VAR = re.compile(r"\$(?:\{[^}]*\}|[A-Za-z0-9_]+)")
_NAME_MATCHER = re.compile(r"""__name__\s*(=~|!~|!=|=)\s*(["'`])((?:\\.|(?!\2).)*)\2""")


class PromQLError(ValueError):
    """The expression is not something this checker can read (unknown function, unbalanced brackets...)."""


@dataclass(frozen=True)
class Token:
    kind: str  # ident, number, string, matchers, range, var, op, "(", ")", ","
    text: str


def _closing(expr: str, i: int, open_: str, close: str) -> int:
    """Index just past the bracket that closes expr[i] (strings inside are skipped)."""
    depth, j = 0, i
    while j < len(expr):
        c = expr[j]
        if c in "\"'`":
            j = _string_end(expr, j)
            continue
        if c == open_:
            depth += 1
        elif c == close:
            depth -= 1
            if depth == 0:
                return j + 1
        j += 1
    raise PromQLError(f"unbalanced {open_!r} at {i} in {expr!r}")


def _string_end(expr: str, i: int) -> int:
    quote, j = expr[i], i + 1
    while j < len(expr):
        if expr[j] == "\\" and quote != "`":
            j += 2
            continue
        if expr[j] == quote:
            return j + 1
        j += 1
    raise PromQLError(f"unterminated string at {i} in {expr!r}")


def tokenize(expr: str) -> list[Token]:
    out: list[Token] = []
    i = 0
    while i < len(expr):
        c = expr[i]
        if c.isspace():
            i += 1
        elif c == "#":  # comment to end of line
            end = expr.find("\n", i)
            i = len(expr) if end < 0 else end
        elif c in "\"'`":
            j = _string_end(expr, i)
            out.append(Token("string", expr[i:j]))
            i = j
        elif c == "{":
            j = _closing(expr, i, "{", "}")
            out.append(Token("matchers", expr[i + 1:j - 1]))
            i = j
        elif c == "[":
            j = _closing(expr, i, "[", "]")
            out.append(Token("range", expr[i + 1:j - 1]))
            i = j
        elif c == "$":
            m = _VAR.match(expr, i)
            if not m:
                raise PromQLError(f"bad template variable at {i} in {expr!r}")
            out.append(Token("var", m.group()))
            i = m.end()
        elif c.isdigit() or (c == "." and expr[i + 1:i + 2].isdigit()):
            m = _NUMBER.match(expr, i)
            assert m is not None
            out.append(Token("number", m.group()))
            i = m.end()
        elif c.isalpha() or c in "_:":
            m = _IDENT.match(expr, i)
            assert m is not None
            out.append(Token("ident", m.group()))
            i = m.end()
        elif c in "(),":
            out.append(Token(c, c))
            i += 1
        elif c in "+-*/%^=!<>@":
            j = i
            while j < len(expr) and expr[j] in "+-*/%^=!<>@":
                j += 1
            out.append(Token("op", expr[i:j]))
            i = j
        else:
            raise PromQLError(f"unexpected {c!r} at {i} in {expr!r}")
    return out


def metric_names(expr: str) -> set[str]:
    """The metric names an expression selects (also from `{__name__="..."}`)."""
    toks = tokenize(expr)
    depth = 0
    for t in toks:
        depth += {"(": 1, ")": -1}.get(t.kind, 0)
        if depth < 0:
            break
    if depth != 0:
        raise PromQLError(f"unbalanced parentheses in {expr!r}")
    names: set[str] = set()
    i = 0
    while i < len(toks):
        t = toks[i]
        nxt = toks[i + 1] if i + 1 < len(toks) else None
        if t.kind == "matchers":
            for op, _q, value in _NAME_MATCHER.findall(t.text):
                if op != "=":
                    raise PromQLError(f"__name__{op} cannot be checked: {expr!r}")
                names.add(value)
        elif t.kind == "ident":
            word = t.text
            if word in LABEL_LIST_KEYWORDS:
                if nxt is not None and nxt.kind == "(":
                    depth, i = 0, i + 1
                    while i < len(toks):  # skip the label list
                        depth += {"(": 1, ")": -1}.get(toks[i].kind, 0)
                        if depth == 0:
                            break
                        i += 1
            elif word in KEYWORDS or word.lower() in LITERALS:
                pass
            elif word in AGGREGATIONS and nxt is not None and (nxt.kind == "(" or nxt.text in ("by", "without")):
                pass
            elif nxt is not None and nxt.kind == "(":
                if word not in FUNCTIONS:
                    raise PromQLError(f"unknown function {word!r} in {expr!r}")
            else:
                names.add(word)
        i += 1
    return names


_LABEL_VALUES = re.compile(r"^\s*label_values\((?:(?P<selector>.*),)?\s*(?P<label>[A-Za-z_][A-Za-z0-9_]*)\s*\)\s*$",
                           re.S)


def grafana_metric_names(query: str) -> set[str]:
    """Like metric_names, also for Grafana's variable query `label_values(selector, label)`."""
    m = _LABEL_VALUES.match(query)
    if m:
        return metric_names(m.group("selector")) if m.group("selector") else set()
    return metric_names(query)
