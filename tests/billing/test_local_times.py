"""A record's times as the developer's zone writes them: the per-hour offsets and the
looked-up clock strings give what a datetime per record gives, DST edges included."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hstgw.billing.records import Records

ZONES = ["Asia/Shanghai", "America/New_York", "Europe/London", "Pacific/Chatham",
         "Asia/Kathmandu", "Australia/Lord_Howe", "UTC"]  # fmt: skip
# 2025-03-09 and 2025-11-02 (New York), 2025-03-30 and 2025-10-26 (London), ...: every
# change of offset of 2025 lies in this year
YEAR_2025 = (1_735_689_600_000, 1_767_225_600_000)


def by_datetime(ms: int, zone: ZoneInfo) -> str:
    return datetime.fromtimestamp(ms // 1000, zone).strftime("%Y-%m-%d %H:%M:%S")


@pytest.mark.parametrize("name", ZONES)
@given(st.integers(*YEAR_2025))
def test_local_time_is_the_datetimes(name: str, ms: int) -> None:
    zone = ZoneInfo(name)
    records: Any = Records(None, zone)  # (no store: only its times are read)
    assert records._time(ms) == by_datetime(ms, zone)


@pytest.mark.parametrize("name", ZONES)
def test_every_second_around_the_changes(name: str) -> None:
    zone = ZoneInfo(name)
    records: Any = Records(None, zone)
    for ms in range(YEAR_2025[0], YEAR_2025[1], 1_800_000):  # each half hour of the year
        for edge in (ms - 1000, ms, ms + 999, ms + 59_000):
            assert records._time(edge) == by_datetime(edge, zone)
