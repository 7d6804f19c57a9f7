"""The PromQL name extractor itself: it must find every metric and nothing else."""

from __future__ import annotations

import pytest

from tests.observability.promql import PromQLError, grafana_metric_names, metric_names


@pytest.mark.parametrize("expr, names", [
    ('up == 0', {"up"}),
    ('sum by (job, instance) (rate(foo_total{a="b", c=~"x|y"}[5m])) or on (job) up * 0', {"foo_total", "up"}),
    ('histogram_quantile(0.9, sum by (le) (rate(x_bucket[$__rate_interval])))', {"x_bucket"}),
    ('a / on (instance) group_left (name, ip_version) b', {"a", "b"}),
    ('sum(x) by (job, instance)', {"x"}),
    ('sum without (le) (x)', {"x"}),
    ('up{job="risotto"} offset 15m * 0', {"up"}),
    ('{__name__="bar", job="x"}', {"bar"}),
    ('label_replace(up, "dst", "$1", "src", "(.*)")', {"up"}),
    ('count_values("version", build_info)', {"build_info"}),
    ('node_load1 > bool 2', {"node_load1"}),
    ('x and y unless z', {"x", "y", "z"}),
    ('topk(5, rate(requests_total[1h:5m]))', {"requests_total"}),
    ('foo @ start()', {"foo"}),
    ('x > Inf or y < -NaN', {"x", "y"}),
    ('1e3 * x + 0x1f - .5', {"x"}),
    ('x{a="}{", b=`]`} / y', {"x", "y"}),
    ('job:requests:rate5m > 3', {"job:requests:rate5m"}),
    ('sum by (instance) (on_duty) # a comment naming not_a_metric', {"on_duty"}),
    ('present_over_time(up[1d]) unless up', {"up"}),
    ('up{job="bird"} == 1 unless on (instance) group by (instance) (bird_protocol_up)', {"up", "bird_protocol_up"}),
    ('rate(x{instance=~"$instance",fs!~"tmpfs"}[${__rate_interval}])', {"x"}),
    ('sum by (by_job) (without_total)', {"without_total"}),
])
def test_names(expr: str, names: set[str]) -> None:
    assert metric_names(expr) == names


def test_unknown_function_is_an_error() -> None:
    with pytest.raises(PromQLError, match="rat"):
        metric_names("rat(x[5m])")


@pytest.mark.parametrize("expr", ["sum(x", 'x{a="b"', "x[5m", '"open'])
def test_unbalanced_is_an_error(expr: str) -> None:
    with pytest.raises(PromQLError):
        metric_names(expr)


def test_regex_name_matcher_is_refused() -> None:
    with pytest.raises(PromQLError):
        metric_names('{__name__=~"risotto_.*"}')


def test_grafana_label_values() -> None:
    assert grafana_metric_names("label_values(node_uname_info, instance)") == {"node_uname_info"}
    assert grafana_metric_names('label_values(bird_protocol_up{proto="BGP"}, name)') == {"bird_protocol_up"}
    assert grafana_metric_names("label_values(instance)") == set()
