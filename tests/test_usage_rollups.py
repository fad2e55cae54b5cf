"""The usage dashboard and usage views read rollups the sealer keeps, plus what it has not sealed yet:
the figures are the records' own, before sealing, after it, and after a rebuild; each record is
counted once; a sealing that fails counts nothing; a reader counts only what they may see."""

import io
import random
import threading
from collections import Counter
from datetime import datetime, time, timedelta

import pytest
from django.conf import settings as django_settings
from django.core.management import call_command
from django.utils import timezone

from accounts.models import Membership
from accounts.services import membership_ensure, team_get_or_create, user_create
from audit import chain
from audit.chain import audit_chain_seal
from audit.models import AuditRecord, LatencyRollup, UsageRollup
from audit.rollups import bucket, bucket_middle, rollups_rebuild
from audit.usage import usage_by_day_and_model, usage_dashboard
from gateway.services import route_create
from tests.conftest import MODEL, UPSTREAM_MODEL
from tests.support.audit_records import record

pytestmark = pytest.mark.django_db


@pytest.fixture
def people(db):
    alice, bob = user_create(username="alice"), user_create(username="bob")
    red = team_get_or_create(slug="red", name="Red")
    blue = team_get_or_create(slug="blue", name="Blue")
    return {"alice": alice, "bob": bob, "red": red, "blue": blue}


def seal_all() -> int:
    total = 0
    while sealed := audit_chain_seal(batch=7):  # small batches: rollups added to many times
        total += sealed
    return total


def exact(records) -> dict:
    """The figures straight from the records, as the dashboard must show them."""
    calls, tokens, errors = Counter(), Counter(), Counter()
    for r in records:
        model = r.model.removesuffix(":latest")
        for key in (("team", r.team_slug), ("user", r.username), ("model", model), ("all", "")):
            calls[key] += 1
            tokens[key] += r.prompt_tokens + r.completion_tokens
            errors[key] += r.status in ("failed", "interrupted")
    return {"calls": calls, "tokens": tokens, "errors": errors}


def shown(figures: dict) -> dict:
    calls, tokens, errors = Counter(), Counter(), Counter()
    for kind, rows, field in (
        ("team", figures["teams"], "team_slug"),
        ("user", figures["users"], "username"),
        ("model", figures["models"], "model"),
        ("all", [{**figures["totals"], "": ""}], ""),
    ):
        for row in rows:
            calls[(kind, row[field])] = row["calls"]
            tokens[(kind, row[field])] = row["tokens"]
            errors[(kind, row[field])] = row["errors"]
    return {"calls": calls, "tokens": tokens, "errors": errors}


def nearest_rank(values: list[int], q: float) -> int:
    ordered = sorted(values)
    return ordered[int(q * (len(ordered) - 1))]


def test_the_figures_are_the_records_own_before_and_after_sealing_and_after_a_rebuild(people):
    rng = random.Random(7)
    now = timezone.now()
    # Anywhere in the dashboard's seven calendar days up to now: an offset from now alone would put
    # some records before the window's first midnight whenever the suite runs early in the day.
    since = timezone.make_aware(
        datetime.combine(timezone.localdate() - timedelta(days=6), time.min)
    )
    for _ in range(120):
        record(
            rng.choice([people["alice"], people["bob"]]),
            rng.choice([people["red"], people["blue"], None]),
            model=rng.choice(["llama3.2", "llama3.2:latest", "qwen3:8b"]),
            status=rng.choice(["succeeded"] * 8 + ["failed", "interrupted", "refused"]),
            started_at=since + (now - since) * rng.random(),
            latency=rng.randrange(1, 90_000),
            ttft=rng.randrange(1, 5_000),
            prompt=rng.randrange(0, 4000),
            completion=rng.randrange(0, 4000),
        )
    record(people["alice"], people["red"], status="running")
    records = list(AuditRecord.objects.all())
    want = exact(records)

    unsealed = usage_dashboard(days=7)
    assert not UsageRollup.objects.exists()
    assert seal_all() == 120
    assert UsageRollup.objects.exists() and LatencyRollup.objects.exists()
    sealed = usage_dashboard(days=7)
    rollups_rebuild()
    rebuilt = usage_dashboard(days=7)

    assert shown(unsealed) == want
    assert sealed == unsealed == rebuilt
    assert sum(day["calls"] for day in sealed["per_day"]) == 121
    assert [day["day"] for day in sealed["per_day"]] == [
        timezone.localdate() - timedelta(days=6 - i) for i in range(7)
    ]
    latencies = [r.latency_ms for r in records if r.latency_ms is not None]
    for name, q in (("p50", 0.5), ("p95", 0.95), ("p99", 0.99)):
        true = nearest_rank(latencies, q)
        assert abs(sealed["percentiles"]["latency"][name] - true) <= max(true / 64, 0.5)


def test_each_record_is_counted_once_however_often_the_sealer_runs(people):
    record(people["alice"], people["red"], prompt=1, completion=2)
    assert seal_all() == 1 and seal_all() == 0
    record(people["alice"], people["red"], prompt=10, completion=20)
    record(people["alice"], people["red"], status="running")
    assert seal_all() == 1
    (row,) = UsageRollup.objects.all()
    assert (row.calls, row.prompt_tokens, row.completion_tokens) == (2, 11, 22)
    assert usage_dashboard(days=1)["totals"] == {"calls": 3, "tokens": 33, "errors": 0}


def test_a_sealing_that_fails_counts_nothing_and_the_figures_stay_exact(people, monkeypatch):
    record(people["alice"], people["red"])

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(chain, "rollups_add", broken)
    with pytest.raises(RuntimeError):
        audit_chain_seal()
    assert AuditRecord.objects.filter(chain_seq__isnull=False).count() == 0
    assert not UsageRollup.objects.exists()
    assert usage_dashboard(days=1)["totals"]["calls"] == 1
    monkeypatch.undo()
    assert audit_chain_seal() == 1
    assert usage_dashboard(days=1)["totals"]["calls"] == 1


def test_a_day_is_the_day_the_call_started_and_old_days_fall_out(people):
    today = timezone.localdate()
    late = timezone.make_aware(datetime.combine(today - timedelta(days=1), datetime.max.time()))
    record(people["alice"], None, started_at=late - timedelta(seconds=1))
    record(people["alice"], None, started_at=late - timedelta(days=3))
    seal_all()
    record(people["alice"], None, started_at=late - timedelta(days=1))
    per_day = {d["day"]: d["calls"] for d in usage_dashboard(days=3)["per_day"]}
    assert per_day == {today - timedelta(days=2): 1, today - timedelta(days=1): 1, today: 0}
    assert usage_dashboard(days=1)["totals"]["calls"] == 0
    assert usage_dashboard(days=5)["totals"]["calls"] == 3


def test_a_reader_counts_only_the_teams_they_may_see(people):
    record(people["alice"], people["red"], latency=100)
    record(people["bob"], people["blue"], latency=9000)
    record(people["bob"], None, latency=9000)
    seal_all()
    record(people["bob"], people["blue"], latency=9000)
    red_only = usage_dashboard(days=1, teams={people["red"].pk})
    assert red_only["totals"]["calls"] == 1
    assert [row["username"] for row in red_only["users"]] == ["alice"]
    assert red_only["percentiles"]["latency"]["p99"] == 100
    assert usage_dashboard(days=1, teams=set())["totals"]["calls"] == 0
    assert usage_dashboard(days=1)["totals"]["calls"] == 4


def test_a_team_auditor_sees_their_teams_figures_on_the_dashboard(client, people):
    auditor = user_create(username="aud")
    membership_ensure(team=people["red"], user=auditor, role=Membership.Role.AUDITOR)
    record(people["alice"], people["red"])
    record(people["bob"], people["blue"])
    seal_all()
    client.force_login(auditor)
    page = client.get("/admin/audit/auditrecord/dashboard/", {"days": "7"})
    assert page.status_code == 200
    assert page.context["totals"]["calls"] == 1
    assert [row["team_slug"] for row in page.context["teams"]] == ["red"]


def test_the_usage_api_reads_the_rollups_per_day_and_model(api, route, backend, user):
    route_create(name=f"{MODEL}:latest", backend=backend, upstream_model=UPSTREAM_MODEL)
    for name in (MODEL, f"{MODEL}:latest"):
        api.post(
            "/api/v1/chat",
            {"model": name, "messages": [{"role": "user", "content": "x"}]},
            format="json",
        )
    before = api.get("/api/v1/usage", {"days": "1"}).json()["days"]
    seal_all()
    after = api.get("/api/v1/usage", {"days": "1"}).json()["days"]
    assert before == after
    assert [(row["model"], row["calls"]) for row in after] == [(MODEL, 2)]
    assert after[0]["total_tokens"] == after[0]["prompt_tokens"] + after[0]["completion_tokens"] > 0
    assert usage_by_day_and_model(user=user, days=1) == [{**after[0], "day": timezone.localdate()}]


def test_rebuild_command_counts_every_sealed_record(people):
    for _ in range(3):
        record(people["alice"], people["red"])
    seal_all()
    UsageRollup.objects.all().delete()
    out = io.StringIO()
    call_command("audit_rollups", "--rebuild", stdout=out)
    assert "from 3 sealed records" in out.getvalue()
    assert UsageRollup.objects.get().calls == 3


@pytest.mark.parametrize("ms", [0, 1, 63, 64, 65, 127, 128, 1000, 4095, 65_537, 3_600_000])
def test_a_bucket_holds_its_value_within_one_sixty_fourth(ms):
    key = bucket(ms)
    assert key <= ms and bucket(key) == key
    assert abs(bucket_middle(key) - ms) <= max(ms / 64, 0.5)


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(
    "postgresql" not in django_settings.DATABASES["default"]["ENGINE"],
    reason="SQLite lets no sealer commit while a reader's transaction is open",
)
def test_a_sealing_between_the_two_reads_is_counted_once(people, monkeypatch):
    """The dashboard reads the unsealed records, then the rollups: a sealer that commits between
    the two must not have its records counted in both."""
    from django.db import connection as main_connection

    from audit import usage

    for _ in range(3):
        record(people["alice"], people["red"])
    read_rollups = usage.UsageWindow.rollups
    sealed: list[int] = []

    def sealed_meanwhile(window):
        def seal():
            from django.db import connection

            try:
                sealed.append(audit_chain_seal())
            finally:
                connection.close()

        if not sealed:  # before the first read of the rollups only (the dashboard reads several)
            sealer = threading.Thread(target=seal)
            sealer.start()
            sealer.join()
        return read_rollups(window)

    monkeypatch.setattr(usage.UsageWindow, "rollups", sealed_meanwhile)
    assert not main_connection.in_atomic_block
    assert usage_dashboard(days=1)["totals"]["calls"] == 3
    assert sealed == [3]
    assert AuditRecord.objects.filter(chain_seq__isnull=False).count() == 3
