"""The visit calendar (month and week) and the iCalendar export: pure functions first, then over HTTP."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from crm.errors import BadRequest
from crm.organizations.models import Organization
from crm.visits import calendar
from crm.visits.models import TourStop, Visit, VisitOrganization
from tests.conftest import login, post
from tests.factories import make_org, make_user, make_visit

SHANGHAI = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)


def _visit(id=1, *, title="复星集团来访考察", status="planned", kind="inbound", starts_at=None, ends_at=None, place="",
           outcome="", orgs=(), stops=()) -> Visit:
    """A visit that never touches a database, for the pure functions."""
    starts_at = starts_at or datetime(2026, 12, 2, 9, 30, tzinfo=SHANGHAI)
    visit = Visit(id=id, title=title, status=status, kind=kind, starts_at=starts_at,
                  ends_at=ends_at or starts_at + timedelta(hours=2), place=place, outcome=outcome, version=1,
                  updated_at=NOW)
    visit.organizations = [VisitOrganization(organization=Organization(id=i + 1, name=name), position=i)
                           for i, name in enumerate(orgs)]
    visit.stops = [TourStop(organization=Organization(id=100 + i, name=name), position=i, starts_at=at)
                   for i, (name, at) in enumerate(stops)]
    return visit


def _ical(*visits: Visit, locale: str = "zh_CN") -> str:
    return calendar.to_ical(list(visits), host="crm.example.cn", timezone="Asia/Shanghai", now=NOW, locale=locale)


def _unfold(text: str) -> list[str]:
    return text.replace("\r\n ", "").split("\r\n")


def _prop(text: str, name: str) -> list[str]:
    return [line.split(":", 1)[1] for line in _unfold(text) if line.startswith(name + ":")]


# to_ical

def test_ical_has_the_calendar_properties_and_one_event_per_visit():
    text = _ical(_visit(1), _visit(2, title="签约仪式"))
    lines = _unfold(text)
    assert lines[:7] == ["BEGIN:VCALENDAR", "PRODID:-//Investment CRM//Visits//EN", "VERSION:2.0",
                         "CALSCALE:GREGORIAN", "METHOD:PUBLISH", "X-WR-CALNAME:招商活动", "X-WR-TIMEZONE:Asia/Shanghai"]
    assert lines[-2:] == ["END:VCALENDAR", ""]
    assert lines.count("BEGIN:VEVENT") == lines.count("END:VEVENT") == 2
    assert _prop(text, "UID") == ["visit-1@crm.example.cn", "visit-2@crm.example.cn"]
    assert _prop(text, "DTSTAMP") == ["20261130T080000Z", "20261130T080000Z"]
    assert _prop(text, "URL") == ["https://crm.example.cn/visits/1", "https://crm.example.cn/visits/2"]


def test_ical_times_are_utc():
    visit = _visit(starts_at=datetime(2026, 12, 2, 9, 30, tzinfo=SHANGHAI), ends_at=datetime(2026, 12, 3, 1, 0, tzinfo=SHANGHAI))
    text = _ical(visit)
    assert _prop(text, "DTSTART") == ["20261202T013000Z"]
    assert _prop(text, "DTEND") == ["20261202T170000Z"]


@pytest.mark.parametrize(("status", "expected"), [("planned", "TENTATIVE"), ("done", "CONFIRMED"), ("cancelled", "CANCELLED")])
def test_ical_status_follows_the_visit(status, expected):
    assert _prop(_ical(_visit(status=status)), "STATUS") == [expected]


def test_ical_escapes_text_values():
    visit = _visit(title="洽谈; 复星, 玉皇\\新能源\n第二行", place="管委会 3 楼, 第一会议室")
    text = _ical(visit)
    assert _prop(text, "SUMMARY") == ["洽谈\\; 复星\\, 玉皇\\\\新能源\\n第二行"]
    assert _prop(text, "LOCATION") == ["管委会 3 楼\\, 第一会议室"]
    assert calendar.escape_text("a\r\nb\rc\x07d") == "a\\nb\\ncd"


def test_ical_description_has_kind_organizations_tour_and_outcome():
    visit = _visit(orgs=["复星集团", "复星医药"], outcome="达成初步意向",
                   stops=[("大唐智创", datetime(2026, 12, 2, 2, 0, tzinfo=UTC)), ("玉皇新能源", None)])
    (description,) = _prop(_ical(visit, locale="en"), "DESCRIPTION")
    assert description.split("\\n") == [
        "Kind: Inbound delegation", "Organizations: 复星集团\\, 复星医药", "Tour:",
        "1. 大唐智创 10:00", "2. 玉皇新能源", "Outcome: 达成初步意向"]
    assert "LOCATION" not in _ical(visit)  # no place, no property


def test_ical_folds_long_lines_at_75_octets_without_splitting_characters():
    title = "菏泽经济开发区与复星集团新能源汽车零部件产业园项目第二轮洽谈暨园区企业考察座谈会" * 2
    text = _ical(_visit(title=title, place="Heze " * 30))
    assert text.endswith("\r\n")
    assert "\n" not in text.replace("\r\n", "")  # CRLF only, no bare LF or CR
    assert "\r" not in text.replace("\r\n", "")
    physical = text.split("\r\n")[:-1]
    for line in physical:
        raw = line.encode("utf-8")
        assert len(raw) <= 75, line
        raw.decode("utf-8")  # each line is whole UTF-8: no character split across a fold
    summary = next(i for i, line in enumerate(physical) if line.startswith("SUMMARY:"))
    assert physical[summary + 1].startswith(" ")
    assert len(physical[summary].encode()) >= 73  # filled up to the limit, less at most one character
    assert _prop(text, "SUMMARY") == [title]
    assert _prop(text, "LOCATION") == [("Heze " * 30).strip()]


def test_fold_counts_the_leading_space_of_continuation_lines():
    folded = calendar.fold("X" * 200)
    assert [len(p) for p in folded.split("\r\n")] == [75, 75, 52]
    assert calendar.fold("短") == "短"


# The month grid and the week

def test_month_grid_runs_monday_to_sunday():
    grid = calendar.month_grid(date(2026, 12, 1), [], timezone="Asia/Shanghai", today=date(2026, 12, 2))
    assert grid.weeks[0][0].date == date(2026, 11, 30)  # 1 December 2026 is a Tuesday
    assert grid.weeks[-1][-1].date == date(2027, 1, 3)
    assert all(len(week) == 7 and week[0].date.weekday() == 0 for week in grid.weeks)
    assert [d.date for d in grid.days] == [date(2026, 11, 30) + timedelta(days=i) for i in range(35)]
    assert [d.in_month for d in grid.weeks[0]] == [False] + [True] * 6
    assert [d.date for d in grid.days if d.is_today] == [date(2026, 12, 2)]


def test_month_starting_on_sunday_has_a_first_week_of_one_day():
    grid = calendar.month_grid(date(2026, 11, 1), [], timezone="Asia/Shanghai", today=date(2026, 11, 30))
    assert grid.weeks[0][0].date == date(2026, 10, 26)
    assert [d.in_month for d in grid.weeks[0]] == [False] * 6 + [True]
    assert len(grid.weeks) == 6 and grid.weeks[-1][-1].date == date(2026, 12, 6)


def test_february_of_a_leap_year():
    leap_day = _visit(starts_at=datetime(2028, 2, 29, 15, 0, tzinfo=SHANGHAI))
    grid = calendar.month_grid(date(2028, 2, 1), [leap_day], timezone="Asia/Shanghai", today=date(2026, 12, 1))
    in_month = [d for d in grid.days if d.in_month]
    assert len(in_month) == 29 and in_month[-1].date == date(2028, 2, 29)
    assert [d.date for d in grid.days if d.entries] == [date(2028, 2, 29)]
    assert (grid.weeks[0][0].date, grid.weeks[-1][-1].date) == (date(2028, 1, 31), date(2028, 3, 5))
    # A February of 28 days that starts on a Monday fills exactly four weeks.
    assert len(calendar.month_grid(date(2027, 2, 1), [], timezone="Asia/Shanghai", today=date(2027, 2, 1)).weeks) == 4


def test_visits_land_on_their_local_day_and_every_day_they_cover():
    late = _visit(1, starts_at=datetime(2026, 12, 2, 17, 0, tzinfo=UTC))  # 01:00 on 3 December in Beijing
    trip = _visit(2, starts_at=datetime(2026, 12, 7, 8, 0, tzinfo=SHANGHAI),
                  ends_at=datetime(2026, 12, 10, 0, 0, tzinfo=SHANGHAI))  # ends at midnight: not on the 10th
    grid = calendar.month_grid(date(2026, 12, 1), [late, trip], timezone="Asia/Shanghai", today=date(2026, 12, 1))
    by_day = {d.date.day: [(e.visit.id, e.start, e.end) for e in d.entries] for d in grid.days if d.in_month}
    assert by_day[2] == [] and by_day[3] == [(1, "01:00", "03:00")]
    assert by_day[7] == [(2, "08:00", "")] and by_day[8] == [(2, "", "")] and by_day[9] == [(2, "", "")]
    assert by_day[10] == []


def test_week_starts_on_monday_of_any_day_given():
    assert calendar.parse_week("2026-12-09", today=date(2026, 1, 1)) == date(2026, 12, 7)
    assert calendar.parse_week("2026-12-13", today=date(2026, 1, 1)) == date(2026, 12, 7)
    assert calendar.parse_week("", today=date(2026, 12, 2)) == date(2026, 11, 30)
    week = calendar.week(date(2026, 12, 7), [_visit(starts_at=datetime(2026, 12, 13, 23, 0, tzinfo=SHANGHAI))],
                         timezone="Asia/Shanghai", today=date(2026, 12, 8))
    assert [d.date.weekday() for d in week.days] == list(range(7)) and week.end == date(2026, 12, 13)
    assert [d.is_today for d in week.days] == [False, True, False, False, False, False, False]
    assert [len(d.entries) for d in week.days] == [0, 0, 0, 0, 0, 0, 1]


@pytest.mark.parametrize("raw", ["2026-13", "2026-00", "2026", "26-12", "2026-12-01", "abc", "1999-12"])
def test_malformed_months_are_bad_requests(raw):
    with pytest.raises(BadRequest) as bad:
        calendar.parse_month(raw, today=date(2026, 12, 1))
    assert bad.value.message.msgid in ("“%(value)s” is not a month: use the form 2026-12.", "Choose a date between 2000 and 2100.")


@pytest.mark.parametrize("raw", ["2026-02-30", "2026-12", "12/07/2026", "x"])
def test_malformed_weeks_are_bad_requests(raw):
    with pytest.raises(BadRequest) as bad:
        calendar.parse_week(raw, today=date(2026, 12, 1))
    assert bad.value.message.msgid == "“%(value)s” is not a date: use the form 2026-12-02."


def test_month_parsing_and_links_across_years():
    assert calendar.parse_month("2026-12", today=date(2020, 5, 5)) == date(2026, 12, 1)
    assert calendar.parse_month("", today=date(2026, 12, 9)) == date(2026, 12, 1)
    links = calendar.links(view="month", anchor=date(2027, 1, 1), today=date(2026, 12, 9), params={"kind": "inbound"})
    assert links.prev == "/visits/calendar?kind=inbound&month=2026-12"
    assert links.next == "/visits/calendar?kind=inbound&month=2027-02"
    assert links.today == "/visits/calendar?kind=inbound"
    assert links.week_view == "/visits/calendar?kind=inbound&view=week&week=2026-12-28"
    week = calendar.links(view="week", anchor=date(2026, 12, 28), today=date(2026, 12, 9), params={})
    assert (week.prev, week.next) == ("/visits/calendar?view=week&week=2026-12-21", "/visits/calendar?view=week&week=2027-01-04")
    assert week.month_view == "/visits/calendar?month=2026-12"


# Over HTTP

@pytest.fixture
def fosun(session, users):
    return make_org(session, actor=users["officer"], name="复星集团")


def _at(y, m, d, hh=9, mm=30) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=SHANGHAI)


def test_month_page_lists_a_visit_on_its_day_and_not_other_months(officer_client, session, users, fosun):
    december = make_visit(session, title="复星来访考察", officer=users["officer"], organizations=[fosun],
                          starts_at=_at(2026, 12, 2))
    make_visit(session, title="一月外出招商", officer=users["officer"], starts_at=_at(2027, 1, 20), kind="outbound")
    response = officer_client.get("/visits/calendar?month=2026-12")
    assert response.status_code == 200
    html = response.text
    assert "复星来访考察" in html and "一月外出招商" not in html
    assert "2026年12月" in html and "周一" in html  # the heading and the weekday headers, translated
    day = re.search(r'<td class="cal-day[^"]*">\s*<a class="cal-day-head" href="[^"]*week=2026-12-02".*?</td>', html, re.S).group(0)
    assert f'href="/visits/{december.id}"' in day and "09:30" in day and "复星集团" in day
    assert "cal-visit-planned" in day and "cal-badge-planned" in day
    assert 'href="/visits/calendar?month=2026-11"' in html and 'href="/visits/calendar?month=2027-01"' in html
    assert 'href="/visits"' in html and 'href="/visits/export.ics"' in html


def test_today_is_highlighted(officer_client, users):
    html = officer_client.get("/visits/calendar").text
    today = datetime.now(SHANGHAI).date()
    assert re.search(rf'class="cal-day[^"]*cal-today[^"]*" aria-current="date">\s*<a class="cal-day-head" href="[^"]*week={today.isoformat()}"', html)


def test_week_view_shows_the_week_with_times(officer_client, session, users, fosun):
    make_visit(session, title="签约仪式", officer=users["officer"], organizations=[fosun], kind="signing",
               starts_at=_at(2026, 12, 2, 14, 0), ends_at=_at(2026, 12, 2, 15, 30), status="done")
    make_visit(session, title="下周洽谈", officer=users["officer"], starts_at=_at(2026, 12, 9))
    make_visit(session, title="外出招商", officer=users["officer"], kind="outbound", starts_at=_at(2026, 11, 28, 8, 0),
               ends_at=_at(2026, 12, 1, 18, 0))  # began the week before: shown while under way
    html = officer_client.get("/visits/calendar?view=week&week=2026-12-03").text
    assert "签约仪式" in html and "下周洽谈" not in html
    assert html.count("外出招商</span>") == 2 and "续" in html and "至 18:00" in html
    assert "14:00</time>–15:30" in html and "cal-visit-done" in html
    assert "11月30日 – 2026年12月6日" in html
    assert 'href="/visits/calendar?view=week&amp;week=2026-12-07"' in html


def test_calendar_filters_by_kind_status_and_officer(officer_client, session, users):
    make_visit(session, title="来访考察甲", officer=users["officer"], kind="inbound", starts_at=_at(2026, 12, 2))
    make_visit(session, title="外出招商乙", officer=users["officer2"], kind="outbound", starts_at=_at(2026, 12, 3),
               status="cancelled")
    html = officer_client.get("/visits/calendar?month=2026-12&kind=outbound").text
    assert "外出招商乙" in html and "来访考察甲" not in html
    assert 'href="/visits/calendar?kind=outbound&amp;month=2026-11"' in html  # the filter stays on in the links
    assert "来访考察甲" not in officer_client.get("/visits/calendar?month=2026-12&status=cancelled").text
    html = officer_client.get(f"/visits/calendar?month=2026-12&officer={users['officer'].id}").text
    assert "来访考察甲" in html and "外出招商乙" not in html


@pytest.mark.parametrize(("query", "message"), [
    ("month=2026-13", "“2026-13”不是月份"), ("view=week&week=2026-02-30", "“2026-02-30”不是日期"),
    ("view=year", "“year”不是有效的筛选值"), ("kind=party", "“party”不是有效的筛选值"), ("organization=abc", "不是有效的筛选值")])
def test_malformed_calendar_queries_are_400_with_a_message(officer_client, query, message):
    response = officer_client.get(f"/visits/calendar?{query}")
    assert response.status_code == 400
    assert message in response.text


def test_export_has_the_matching_visits_as_icalendar(officer_client, session, users, fosun):
    inbound = make_visit(session, title="复星来访, 考察", officer=users["officer"], organizations=[fosun],
                         starts_at=_at(2026, 12, 2), place="管委会")
    outbound = make_visit(session, title="外出招商", officer=users["officer"], kind="outbound", starts_at=_at(2026, 12, 5))
    make_visit(session, title="明年的来访", officer=users["officer"], starts_at=_at(2027, 3, 1))
    response = officer_client.get("/visits/export.ics?kind=inbound&from=2026-12-01&to=2026-12-31")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/calendar; charset=utf-8"
    assert response.headers["content-disposition"] == 'attachment; filename="visits.ics"'
    text = response.text
    assert _prop(text, "UID") == [f"visit-{inbound.id}@testserver"]
    assert _prop(text, "SUMMARY") == ["复星来访\\, 考察"]
    assert _prop(text, "DTSTART") == ["20261202T013000Z"]
    assert _prop(text, "URL") == [f"http://testserver/visits/{inbound.id}"]
    assert "复星集团" in _prop(text, "DESCRIPTION")[0]
    both = officer_client.get("/visits/export.ics?from=2026-12-01&to=2026-12-05").text
    assert sorted(_prop(both, "UID")) == sorted([f"visit-{inbound.id}@testserver", f"visit-{outbound.id}@testserver"])
    assert _prop(officer_client.get(f"/visits/export.ics?organization={fosun.id}&to=2027-12-31").text, "UID") == [
        f"visit-{inbound.id}@testserver"]


def test_export_without_dates_starts_90_days_ago(officer_client, session, users):
    now = datetime.now(UTC)
    recent = make_visit(session, title="上月来访", officer=users["officer"], starts_at=now - timedelta(days=30))
    make_visit(session, title="半年前来访", officer=users["officer"], starts_at=now - timedelta(days=200))
    upcoming = make_visit(session, title="下月来访", officer=users["officer"], starts_at=now + timedelta(days=30))
    text = officer_client.get("/visits/export.ics").text
    assert sorted(_prop(text, "UID")) == sorted([f"visit-{recent.id}@testserver", f"visit-{upcoming.id}@testserver"])


@pytest.mark.parametrize(("query", "message"), [
    ("from=2026-12-40", "“2026-12-40”不是日期"), ("from=2026-12-05&to=2026-12-01", "起始日期晚于截止日期"),
    ("status=maybe", "“maybe”不是有效的筛选值")])
def test_malformed_export_queries_are_400(officer_client, query, message):
    response = officer_client.get(f"/visits/export.ics?{query}")
    assert response.status_code == 400
    assert message in response.text


def test_signed_out_users_are_sent_to_sign_in(client):
    for url in ("/visits/calendar?month=2026-12", "/visits/export.ics"):
        response = client.get(url)
        assert response.status_code == 303
        assert response.headers["location"].startswith("/login?next=/visits/")


def test_english_calendar_shows_no_chinese_interface_text(client, session):
    admin = make_user(session, username="admin", role="admin", display_name="Admin")
    org = make_org(session, actor=admin, name="Acme Holdings", name_en="Acme")
    make_visit(session, title="Acme visit", officer=admin, organizations=[org], starts_at=_at(2026, 12, 2))
    make_visit(session, title="Acme trip", officer=admin, organizations=[org], starts_at=_at(2026, 12, 8),
               ends_at=_at(2026, 12, 10), status="cancelled")
    login(client, "admin")
    post(client, "/language", {"locale": "en"})
    for url in ("/visits/calendar?month=2026-12", "/visits/calendar?view=week&week=2026-12-08"):
        html = client.get(url).text
        assert "Acme visit" in html or "Acme trip" in html
        visible = html.replace("菏泽经济开发区", "").replace("中文", "")
        assert not re.findall(r"[\u3400-\u9fff]", visible), url
    html = client.get("/visits/calendar?month=2026-12").text
    assert "December 2026" in html and ">Mon<" in html
    assert "X-WR-CALNAME:Heze Economic Development Zone visits" in client.get("/visits/export.ics?to=2026-12-31").text


def test_calendar_and_export_query_counts_do_not_grow_with_visits(officer_client, session, users, db):
    from sqlalchemy import event

    orgs = [make_org(session, actor=users["officer"], name=f"计数机构{i}") for i in range(3)]

    def add(n, start):
        for i in range(start, start + n):
            make_visit(session, title=f"计数{i}", officer=users["officer"], organizations=orgs[: 1 + i % 3],
                       stops=orgs[:2], starts_at=_at(2026, 12, 1 + i % 28, 8 + i % 10))

    def queries(url) -> int:
        officer_client.get(url)
        statements: list[str] = []
        engines = {db.engine, getattr(db, "loop_engine", db.engine)}

        def count(conn, cursor, statement, *args):
            statements.append(statement)

        for engine in engines:
            event.listen(engine, "before_cursor_execute", count)
        try:
            assert officer_client.get(url).status_code == 200
        finally:
            for engine in engines:
                event.remove(engine, "before_cursor_execute", count)
        return len(statements)

    urls = ["/visits/calendar?month=2026-12", "/visits/calendar?view=week&week=2026-12-07",
            "/visits/export.ics?from=2026-12-01&to=2026-12-31"]
    add(3, 0)
    few = [queries(url) for url in urls]
    add(30, 3)
    assert [queries(url) for url in urls] == few


# The feeds are built with the icalendar package

def test_ical_round_trips_through_the_icalendar_parser():
    import icalendar

    title = "洽谈; 复星, 玉皇\\新能源\r\n第二行\x07" + "菏泽经济开发区𠀀" * 12
    text = _ical(_visit(title=title, place="管委会 3 楼, 第一会议室"))
    assert all(len(line.encode()) <= 75 for line in text.split("\r\n"))
    (event,) = icalendar.Calendar.from_ical(text).walk("VEVENT")
    assert str(event["SUMMARY"]) == "洽谈; 复星, 玉皇\\新能源\n第二行" + "菏泽经济开发区𠀀" * 12
    assert str(event["LOCATION"]) == "管委会 3 楼, 第一会议室"
    assert event["DTSTART"].dt == datetime(2026, 12, 2, 1, 30, tzinfo=UTC)
    assert "VTIMEZONE" not in text  # every time is in UTC: no zone to describe


def test_the_private_feed_gives_a_follow_ups_due_time_in_the_zone_with_its_vtimezone(officer_client, session, users):
    import icalendar

    from tests.factories import make_task

    due = date.today() + timedelta(days=1)
    timed = make_task(session, actor=users["officer"], title="电话回访", due_on=due, due_time="15:30")
    page = officer_client.post("/notifications/feed", headers={"HX-Request": "true", "X-CSRF-Token": officer_client.csrf})
    token = re.search(r'id="feed-url" readonly value="http://testserver/feeds/([^"]+)\.ics"', page.text).group(1)
    text = officer_client.get(f"/feeds/{token}.ics").text
    assert f"DTSTART;TZID=Asia/Shanghai:{due:%Y%m%d}T153000" in _unfold(text)
    parsed = icalendar.Calendar.from_ical(text)
    (zone,) = parsed.walk("VTIMEZONE")
    assert str(zone["TZID"]) == "Asia/Shanghai"
    (event,) = [e for e in parsed.walk("VEVENT") if str(e["UID"]) == f"task-{timed.id}@testserver"]
    assert event["DTSTART"].dt == datetime.combine(due, time(15, 30), tzinfo=SHANGHAI)
