"""Channel access rules: who may join which channel."""

from __future__ import annotations

from django.db.models import Q

from wsapp import conf
from wsapp.models import ChannelAccessRule


def matching_rule(channel: str) -> ChannelAccessRule | None:
    """The most specific rule for ``channel``: exact name, else the longest prefix."""
    rules = ChannelAccessRule.objects.filter(Q(pattern=channel) | Q(pattern__endswith="*"))
    best: ChannelAccessRule | None = None
    for rule in rules:
        if not rule.matches(channel):
            continue
        if not rule.is_prefix:
            return rule
        if best is None or len(rule.pattern) > len(best.pattern):
            best = rule
    return best


def channel_access_error(user, channel: str) -> str | None:
    """Why ``user`` may not join ``channel``, or None when they may."""
    rule = matching_rule(channel)
    if rule is None:
        if conf.get("channel_default_access") == "deny":
            return f"channel {channel!r} has no access rule and the default is deny"
        return None
    access = rule.access
    authenticated = bool(user and user.is_authenticated)
    if access == ChannelAccessRule.Access.EVERYONE:
        return None
    if access == ChannelAccessRule.Access.NOBODY:
        return f"channel {channel!r} is closed (rule {rule.pattern!r})"
    if not authenticated:
        return f"channel {channel!r} requires a signed-in user (rule {rule.pattern!r})"
    if access == ChannelAccessRule.Access.AUTHENTICATED:
        return None
    if access == ChannelAccessRule.Access.STAFF:
        if user.is_staff:
            return None
        return f"channel {channel!r} is for staff only (rule {rule.pattern!r})"
    if access == ChannelAccessRule.Access.PERMISSIONS:
        if user.has_perms(rule.permissions):
            return None
        return (
            f"channel {channel!r} requires the permissions {', '.join(rule.permissions)} "
            f"(rule {rule.pattern!r})"
        )
    return f"channel {channel!r} has an unknown access rule {access!r}"
