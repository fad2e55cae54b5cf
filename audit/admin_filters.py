"""The audit list's filters (time windows, a range of days, the values a reader may see) and
its paginator, which never counts millions of rows."""

from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from datetime import time as datetime_time

from django.contrib import admin
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.auth import get_user_model
from django.core.paginator import Paginator
from django.utils import timezone
from django.utils.dateparse import parse_date
from django.utils.functional import cached_property

from accounts.models import Team


class StartedWithinFilter(admin.SimpleListFilter):
    title = "started"
    parameter_name = "within"
    WINDOWS = {
        "1h": timedelta(hours=1),
        "24h": timedelta(days=1),
        "7d": timedelta(days=7),
        "30d": timedelta(days=30),
    }

    def lookups(self, request, model_admin):
        return [
            ("1h", "Last hour"),
            ("24h", "Last 24 hours"),
            ("7d", "Last 7 days"),
            ("30d", "Last 30 days"),
        ]

    def queryset(self, request, queryset):
        window = self.WINDOWS.get(self.value())
        return queryset.filter(started_at__gte=timezone.now() - window) if window else queryset


class StartedBetweenFilter(admin.ListFilter):
    """A range of days the person picks (both days included, in the admin's time zone); the
    export takes it too, as it takes every filter of the list."""

    title = "date range"
    template = "admin/audit/date_range_filter.html"
    parameters = ("started_from", "started_to")

    def __init__(self, request, params, model, model_admin):
        super().__init__(request, params, model, model_admin)
        self.days = {}
        for name in self.parameters:
            if name in params:
                value = params.pop(name)
                value = value[-1] if isinstance(value, list) else value
                if not value:
                    continue
                day = parse_date(value) if len(value) == 10 else None
                if day is None:
                    raise IncorrectLookupParameters(f"{name}: not a date (YYYY-MM-DD)")
                self.used_parameters[name], self.days[name] = value, day

    def has_output(self) -> bool:
        return True

    def expected_parameters(self) -> list[str]:
        return list(self.parameters)

    def queryset(self, request, queryset):
        zone = timezone.get_current_timezone()
        if "started_from" in self.days:
            start = datetime.combine(self.days["started_from"], datetime_time.min, tzinfo=zone)
            queryset = queryset.filter(started_at__gte=start)
        if "started_to" in self.days:
            end = self.days["started_to"] + timedelta(days=1)
            queryset = queryset.filter(
                started_at__lt=datetime.combine(end, datetime_time.min, tzinfo=zone)
            )
        return queryset

    def choices(self, changelist):
        kept = [
            (name, value)
            for name, values in changelist.params.items()
            if name not in self.parameters
            for value in (values if isinstance(values, list) else [values])
        ]
        yield {
            "values": self.used_parameters,
            "keep": kept,
            "clear": changelist.get_query_string(remove=list(self.parameters)),
        }


class _ChoicesFromTable(admin.SimpleListFilter):
    """A filter whose choices come from a small table, not from a DISTINCT over millions of rows."""

    field = ""

    def choices_query(self):
        raise NotImplementedError

    def lookups(self, request, model_admin):
        return [(value, value) for value in self.choices_query()]

    def queryset(self, request, queryset):
        return queryset.filter(**{self.field: self.value()}) if self.value() else queryset


class ModelFilter(_ChoicesFromTable):
    """The models callers may ask for. Their table is the gateway's, an app above this one: the
    gateway names it when it starts (`model_names_from`)."""

    title, parameter_name, field = "model", "model", "model"
    names: Callable[[], Iterable[str]] = staticmethod(lambda: [])

    def choices_query(self):
        return ModelFilter.names()


def model_names_from(names: Callable[[], Iterable[str]]) -> None:
    ModelFilter.names = staticmethod(names)


class TeamFilter(_ChoicesFromTable):
    title, parameter_name, field = "team", "team", "team_slug"

    def choices_query(self):
        return Team.objects.order_by("slug").values_list("slug", flat=True)


class UserFilter(_ChoicesFromTable):
    title, parameter_name, field = "user", "user", "username"

    def choices_query(self):
        return (
            get_user_model().objects.order_by("username").values_list("username", flat=True)[:500]
        )


class CappedCountPaginator(Paginator):
    """Counting a million matching rows costs more than showing a page of them: count up to a cap."""

    CAP = 10_000

    @cached_property
    def count(self) -> int:
        # Without the ordering, PostgreSQL stops at the cap instead of sorting every match first;
        # only the key, so no column the list computes (the prompt's excerpt) is computed to count.
        return self.object_list.order_by().values("pk")[: self.CAP + 1].count()

    @property
    def capped(self) -> bool:
        """More rows match than were counted: the count is a floor, not the number of matches."""
        return self.count > self.CAP
