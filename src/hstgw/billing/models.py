"""Usage events in, records and summaries out: validation and the documented shapes."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from pydantic import BaseModel, Field

from hstgw.billing.prices import CHARGE_TERMS
from hstgw.validation import QUERY_CONFIG, AppId, OneOf, Page, PageSize, Range, Text

__all__ = [
    "MAX_EVENTS",
    "MAX_EVENT_MS",
    "MAX_PARTIES",
    "MAX_QUANTITY",
    "MAX_RANGE_DAYS",
    "MAX_RANGE_MS",
    "MAX_SIG_NUM",
    "EventIn",
    "IngestOut",
    "RecordOut",
    "RecordPage",
    "RecordsQuery",
    "SummaryOut",
    "SummaryQuery",
    "UsageBatch",
]

MAX_EVENTS = 1000
# What one event may claim (docs/billing.md "Bounds"). With every price at most
# prices.MAX_PRICE, no record's amount reaches 2^63 millionths of a yuan.
MAX_EVENT_MS = 31 * 86_400_000  # end_time - start_time: 31 days
# What one records query may span (end_time - start_time).
MAX_RANGE_DAYS = 93
MAX_RANGE_MS = MAX_RANGE_DAYS * 86_400_000
MAX_PARTIES = 1000  # recorded parties (term 8)
MAX_SIG_NUM = 10**9  # receptions (term 6)
MAX_QUANTITY = 10**7  # GB (terms 9, 10) or peak terminals (term 7)
EPOCH_MS = Annotated[int, Range(0, 4_102_444_800_000)]  # up to 2100-01-01
Label = Annotated[str, Text(r"[^\x00-\x1f]*", "must not contain control characters", 0, 128)]
Quantity = Annotated[Decimal, Field(strict=False, ge=0, le=MAX_QUANTITY, decimal_places=6)]
Term = Annotated[int, OneOf(CHARGE_TERMS)]


class EventIn(BaseModel):
    event_id: Annotated[
        str, Text(r"[A-Za-z0-9_.:-]+", "only letters, digits and _.:- are allowed", 1, 64)
    ]
    app_id: AppId
    charge_term: Term
    group_id: Label = ""
    user_id: Label = ""
    client_id: Label = ""
    stream_id: Label = ""
    resolution: Annotated[
        str, Text(r"([1-9][0-9]{0,4}\*[1-9][0-9]{0,4})?", 'must be "W*H"', 0, 11)
    ] = ""
    transfer_type: Annotated[int, OneOf((1, 2))] = Field(
        default=2, description="1 sent, 2 received"
    )
    start_time: EPOCH_MS
    end_time: EPOCH_MS
    total_sig_num: Annotated[int, Range(0, MAX_SIG_NUM)] | None = Field(
        default=None, description="charge_term 6: receptions"
    )
    quantity: Quantity | None = Field(
        default=None, description="charge_term 9 and 10: GB; 7: peak terminals"
    )
    parties: Annotated[int, Range(0, MAX_PARTIES)] = Field(
        default=0, description="charge_term 8: recorded parties"
    )


class UsageBatch(BaseModel):
    events: list[EventIn] = Field(min_length=1, max_length=MAX_EVENTS)


class IngestOut(BaseModel):
    accepted: int
    duplicates: int


class RecordsQuery(BaseModel):
    model_config = QUERY_CONFIG
    start_time: EPOCH_MS
    end_time: EPOCH_MS
    app_id: AppId | None = None
    # (a query's text: checked to be a term by the service, billing/records.py)
    charge_term: int | None = None
    page: Page
    page_size: PageSize


class RecordOut(BaseModel):
    record_id: int
    event_id: str
    app_id: str
    app_name: str
    product_id: int
    product_name: str
    amount: float = Field(description="yuan, 6 decimal places")
    price: float = Field(description="yuan per minute, per message, per terminal or per GB")
    charge_term: int
    start_time: str = Field(description="yyyy-MM-dd HH:mm:ss in the configured time zone")
    end_time: str
    total_time: int = Field(description="seconds")
    group_id: str
    user_id: str
    resolution: str
    total_sig_num: int
    stream_id: str
    client_id: str
    transfer_type: int
    quantity: float
    parties: int


class RecordPage(BaseModel):
    total: int
    page: int
    page_size: int
    records: list[RecordOut]


class SummaryQuery(BaseModel):
    model_config = QUERY_CONFIG
    month: Annotated[
        str,
        Text(r"(19[7-9][0-9]|2[0-9]{3})-(0[1-9]|1[0-2])", "must be YYYY-MM", 7, 7),
    ]
    app_id: AppId | None = None


class TermTotal(BaseModel):
    charge_term: int
    records: int
    amount: float
    total_time: int
    total_sig_num: int
    quantity: float


class AppTotal(BaseModel):
    app_id: str
    app_name: str
    amount: float
    terms: list[TermTotal]


class SummaryOut(BaseModel):
    month: str
    amount: float
    apps: list[AppTotal]
