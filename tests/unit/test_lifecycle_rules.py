"""Lifecycle rules, pure: parsing and validating the wire form, which object or upload a rule
catches at which time, and the stored form."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from s3compat.api import errors
from s3compat.api.ops.lifecycle import lifecycle_xml, parse_lifecycle
from s3compat.store.lifecycle_rules import (
    Rule,
    RuleFilter,
    aborting_rule,
    after_days,
    expiring_rule,
    object_matches,
    rules_from_json,
    rules_to_json,
    scan_ranges,
)

DAY = 86_400.0


def config(*rules: str) -> bytes:
    return (
        '<LifecycleConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
        + "".join(f"<Rule>{rule}</Rule>" for rule in rules)
        + "</LifecycleConfiguration>"
    ).encode()


def expire(
    rule: Rule,
    *,
    key: str = "logs/a",
    size: int = 10,
    tags: dict[str, str] | None = None,
    written: float = 0.0,
    now: float,
    day: float = DAY,
) -> bool:
    found = expiring_rule(
        [rule], key=key, size=size, tags=tags, last_modified=written, now=now, day_seconds=day
    )
    return found is not None


# --- matching -----------------------------------------------------------------------------


def test_days_round_up_to_the_next_day_boundary() -> None:
    # Written at 10:00 on day 0 with Days=1: expires at midnight starting day 2, as S3 does.
    written = 10 * 3600.0
    assert after_days(written, 1, DAY) == 2 * DAY
    assert after_days(0.0, 1, DAY) == DAY
    # A one-second "day" (tests): write at 5.3 s, one day -> 7 s.
    assert after_days(5.3, 1, 1.0) == 7.0


def test_expiration_days_at_time() -> None:
    rule = Rule("r", True, RuleFilter(form="prefix", prefix="logs/"), expiration_days=2)
    assert not expire(rule, written=3600.0, now=2 * DAY)
    assert not expire(rule, written=3600.0, now=3 * DAY - 1)
    assert expire(rule, written=3600.0, now=3 * DAY)
    assert not expire(rule, key="data/a", written=0.0, now=100 * DAY)


def test_expiration_date_applies_once_passed_to_old_and_new_objects() -> None:
    date = datetime(2030, 1, 1, tzinfo=UTC)
    rule = Rule("r", True, RuleFilter(form="empty"), expiration_date=date)
    assert not expire(rule, now=date.timestamp() - 1)
    assert expire(rule, written=0.0, now=date.timestamp())
    assert expire(rule, written=date.timestamp() + 5, now=date.timestamp() + 10)


def test_disabled_rules_and_rules_without_expiration_never_expire() -> None:
    disabled = Rule("r", False, RuleFilter(), expiration_days=1)
    assert not expire(disabled, now=1000 * DAY)
    abort_only = Rule("r", True, RuleFilter(), abort_days=1)
    assert not expire(abort_only, now=1000 * DAY)


def test_filters_prefix_tags_and_sizes() -> None:
    rule_filter = RuleFilter(
        form="and",
        prefix="p/",
        tags=(("a", "1"), ("b", "2")),
        size_greater_than=10,
        size_less_than=100,
    )
    tags = {"a": "1", "b": "2", "c": "3"}
    assert object_matches(rule_filter, "p/x", 50, tags)
    assert not object_matches(rule_filter, "q/x", 50, tags)
    assert not object_matches(rule_filter, "p/x", 50, {"a": "1"})
    assert not object_matches(rule_filter, "p/x", 50, {"a": "1", "b": "other"})
    assert not object_matches(rule_filter, "p/x", 50, None)
    assert not object_matches(rule_filter, "p/x", 10, tags)  # strictly greater
    assert not object_matches(rule_filter, "p/x", 100, tags)  # strictly less
    assert object_matches(RuleFilter(), "anything", 0, None)


def test_first_matching_rule_wins() -> None:
    slow = Rule("slow", True, RuleFilter(form="prefix", prefix="a"), expiration_days=10)
    fast = Rule("fast", True, RuleFilter(form="prefix", prefix="ab"), expiration_days=1)
    found = expiring_rule(
        [slow, fast], key="abc", size=1, tags=None, last_modified=0.0, now=DAY, day_seconds=DAY
    )
    assert found is fast


def test_upload_abort_counts_from_initiation_and_prefix() -> None:
    rule = Rule("r", True, RuleFilter(form="prefix", prefix="big/"), abort_days=1)
    args = {"initiated_at": 0.5, "day_seconds": 1.0}
    assert aborting_rule([rule], key="big/x", now=1.9, **args) is None
    assert aborting_rule([rule], key="big/x", now=2.0, **args) is rule
    assert aborting_rule([rule], key="small/x", now=50.0, **args) is None
    disabled = Rule("r", False, RuleFilter(), abort_days=1)
    assert aborting_rule([disabled], key="x", now=50.0, **args) is None
    expire_only = Rule("r", True, RuleFilter(), expiration_days=1)
    assert aborting_rule([expire_only], key="x", now=50.0, **args) is None


def test_scan_ranges_cover_prefixes_without_overlap() -> None:
    assert scan_ranges(["b/", "a", "ab", "b/"]) == [("a", "b"), ("b/", "b0")]
    assert scan_ranges(["x", ""]) == [("", None)]
    assert scan_ranges([]) == []


# --- the wire form ------------------------------------------------------------------------


def test_s3cmd_expire_document() -> None:
    body = (
        b"<LifecycleConfiguration>  <Rule>    <Filter>      <Prefix>logs/</Prefix>    </Filter>"
        b"    <Status>Enabled</Status>    <Expiration>      <Days>3</Days>    </Expiration>"
        b"  </Rule></LifecycleConfiguration>"
    )
    [rule] = parse_lifecycle(body)
    assert rule.enabled and rule.expiration_days == 3
    assert rule.filter == RuleFilter(form="prefix", prefix="logs/")
    assert rule.rule_id  # made up, as S3 does


def test_every_filter_form_round_trips() -> None:
    body = config(
        "<ID>legacy</ID><Prefix>old/</Prefix><Status>Enabled</Status>"
        "<Expiration><Days>1</Days></Expiration>",
        "<ID>empty</ID><Filter/><Status>Disabled</Status>"
        "<AbortIncompleteMultipartUpload><DaysAfterInitiation>7</DaysAfterInitiation>"
        "</AbortIncompleteMultipartUpload>",
        "<ID>tag</ID><Filter><Tag><Key>k</Key><Value>v</Value></Tag></Filter>"
        "<Status>Enabled</Status><Expiration><Date>2031-02-03T00:00:00.000Z</Date></Expiration>",
        "<ID>size</ID><Filter><ObjectSizeGreaterThan>5</ObjectSizeGreaterThan></Filter>"
        "<Status>Enabled</Status><Expiration><Days>2</Days></Expiration>"
        "<NoncurrentVersionExpiration><NoncurrentDays>4</NoncurrentDays>"
        "</NoncurrentVersionExpiration>",
        "<ID>and</ID><Filter><And><Prefix>p/</Prefix><Tag><Key>a</Key><Value>1</Value></Tag>"
        "<Tag><Key>b</Key><Value></Value></Tag><ObjectSizeLessThan>9</ObjectSizeLessThan>"
        "</And></Filter><Status>Enabled</Status><Expiration><Days>5</Days></Expiration>",
    )
    rules = parse_lifecycle(body)
    assert [r.filter.form for r in rules] == ["legacy", "empty", "tag", "greater", "and"]
    assert rules[2].expiration_date == datetime(2031, 2, 3, tzinfo=UTC)
    assert rules[4].filter.tags == (("a", "1"), ("b", ""))
    assert parse_lifecycle(lifecycle_xml(rules)) == rules
    assert rules_from_json(rules_to_json(rules)) == rules


@pytest.mark.parametrize(
    ("rule", "error"),
    [
        # exactly one filter form
        ("<Status>Enabled</Status><Expiration><Days>1</Days></Expiration>", errors.MalformedXML),
        (
            "<Prefix/><Filter/><Status>Enabled</Status><Expiration><Days>1</Days></Expiration>",
            errors.MalformedXML,
        ),
        (
            "<Filter><Prefix>a</Prefix><Tag><Key>k</Key><Value>v</Value></Tag></Filter>"
            "<Status>Enabled</Status><Expiration><Days>1</Days></Expiration>",
            errors.MalformedXML,
        ),
        (
            "<Filter/><Status>On</Status><Expiration><Days>1</Days></Expiration>",
            errors.MalformedXML,
        ),
        ("<Filter/><Expiration><Days>1</Days></Expiration>", errors.MalformedXML),
        (
            "<Filter/><Status>Enabled</Status><Expiration><Days>x</Days></Expiration>",
            errors.MalformedXML,
        ),
        ("<Filter/><Status>Enabled</Status><Bogus/>", errors.MalformedXML),
        (
            "<Filter/><Status>Enabled</Status><Expiration><Days>0</Days></Expiration>",
            errors.InvalidArgument,
        ),
        (
            "<Filter/><Status>Enabled</Status><Expiration><Days>-3</Days></Expiration>",
            errors.InvalidArgument,
        ),
        (
            "<Filter/><Status>Enabled</Status><Expiration><Days>1</Days><Date>2030-01-01T00:00:00Z</Date>"
            "</Expiration>",
            errors.InvalidArgument,
        ),
        (
            "<Filter/><Status>Enabled</Status><Expiration><Date>2030-01-01T10:00:00Z</Date></Expiration>",
            errors.InvalidArgument,
        ),
        ("<Filter/><Status>Enabled</Status>", errors.InvalidArgument),
        (
            "<Filter><Tag><Key>k</Key><Value>v</Value></Tag></Filter><Status>Enabled</Status>"
            "<AbortIncompleteMultipartUpload><DaysAfterInitiation>1</DaysAfterInitiation>"
            "</AbortIncompleteMultipartUpload>",
            errors.InvalidArgument,
        ),
        (
            "<Filter><And><ObjectSizeGreaterThan>9</ObjectSizeGreaterThan>"
            "<ObjectSizeLessThan>9</ObjectSizeLessThan></And></Filter><Status>Enabled</Status>"
            "<Expiration><Days>1</Days></Expiration>",
            errors.InvalidArgument,
        ),
        (
            "<ID>" + "i" * 256 + "</ID><Filter/><Status>Enabled</Status>"
            "<Expiration><Days>1</Days></Expiration>",
            errors.InvalidArgument,
        ),
        (
            "<Filter/><Status>Enabled</Status><Transition><Days>1</Days>"
            "<StorageClass>GLACIER</StorageClass></Transition>",
            errors.Unimplemented,
        ),
        # A malformed Date is 400 before a Transition is refused 501; so is a date in the
        # basic ISO form, which S3 does not take.
        (
            "<Filter/><Status>Enabled</Status><Transition><Date>20220927</Date>"
            "<StorageClass>GLACIER</StorageClass></Transition>",
            errors.InvalidArgument,
        ),
        (
            "<Filter/><Status>Enabled</Status><Expiration><Date>20220927</Date></Expiration>",
            errors.InvalidArgument,
        ),
    ],
)
def test_invalid_rules(rule: str, error: type[errors.S3Error]) -> None:
    with pytest.raises(error):
        parse_lifecycle(config(rule))


def test_rule_count_and_unique_ids() -> None:
    with pytest.raises(errors.MalformedXML):
        parse_lifecycle(config())
    rule = "<Filter/><Status>Enabled</Status><Expiration><Days>1</Days></Expiration>"
    assert len(parse_lifecycle(config(*[rule] * 1000))) == 1000
    with pytest.raises(errors.MalformedXML):
        parse_lifecycle(config(*[rule] * 1001))
    same = "<ID>x</ID>" + rule
    with pytest.raises(errors.InvalidArgument):
        parse_lifecycle(config(same, same))
    with pytest.raises(errors.MalformedXML):
        parse_lifecycle(b"<NotLifecycle/>")


@given(
    days=st.integers(min_value=1, max_value=10_000),
    written=st.floats(min_value=0, max_value=4e9, allow_nan=False),
    day=st.sampled_from([1.0, 0.5, 60.0, DAY]),
)
def test_expiry_is_a_day_boundary_at_least_n_days_later(
    days: int, written: float, day: float
) -> None:
    expiry = after_days(written, days, day)
    assert expiry >= written + days * day
    assert expiry - (written + days * day) < day
    assert expiry / day == pytest.approx(round(expiry / day))
