"""The price table (design 6: the platform's public price list, yuan) and the
charge terms (their service, unit, required fields and price). One place for these facts.

Prices are configuration: ``HSTGW_PRICES`` may override any entry by name, e.g.
``{"peak_terminal": "0.05"}``. Every price has at most 6 decimal places (amounts
are kept in millionths of a yuan).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from decimal import Decimal
from enum import Enum, IntEnum

from hstgw.services import ServiceId

__all__ = [
    "CHARGE_TERMS",
    "MAX_PRICE",
    "TERMS",
    "ChargeTerm",
    "PriceTable",
    "TermRule",
    "Unit",
]


class ChargeTerm(IntEnum):
    """What a usage event charges for; on the wire a plain integer (design 6)."""

    AUDIO = 1
    VIDEO = 2
    SCREEN_SHARE = 4
    SIGNALING = 6
    PEAK_TERMINALS = 7
    RECORDING = 8
    STORAGE = 9
    TRAFFIC = 10
    WECHAT_AUDIO = 11
    WECHAT_VIDEO = 12


class Unit(Enum):
    SECOND = "second"  # billed by the second of the event's duration, priced per minute
    MESSAGE = "message"  # total_sig_num receptions
    QUANTITY = "quantity"  # GB or peak terminals


@dataclass(frozen=True, slots=True)
class TermRule:
    """One charge term's facts: the service it belongs to, what it is billed by, the
    event fields it requires, and the PriceTable entry that prices it (``None``: the
    price depends on the event's resolution, see rating)."""

    service: ServiceId
    unit: Unit
    required: tuple[str, ...] = ()
    price: str | None = None
    both_ways: bool = False  # charged sent and received (WeChat); others only received
    whole: bool = False  # quantity must be a whole number


TERMS: dict[ChargeTerm, TermRule] = {
    ChargeTerm.AUDIO: TermRule(ServiceId.AUDIO, Unit.SECOND, price="audio"),
    ChargeTerm.VIDEO: TermRule(ServiceId.VIDEO, Unit.SECOND, ("resolution",)),
    ChargeTerm.SCREEN_SHARE: TermRule(ServiceId.SCREEN_SHARE, Unit.SECOND, price="screen_share"),
    ChargeTerm.SIGNALING: TermRule(
        ServiceId.SIGNALING, Unit.MESSAGE, ("total_sig_num",), price="signaling"
    ),
    ChargeTerm.PEAK_TERMINALS: TermRule(
        ServiceId.ONLINE, Unit.QUANTITY, ("quantity",), price="peak_terminal", whole=True
    ),
    ChargeTerm.RECORDING: TermRule(ServiceId.RECORDING, Unit.SECOND, ("resolution",)),
    ChargeTerm.STORAGE: TermRule(ServiceId.RECORDING, Unit.QUANTITY, ("quantity",), "storage"),
    ChargeTerm.TRAFFIC: TermRule(ServiceId.RECORDING, Unit.QUANTITY, ("quantity",), "traffic"),
    ChargeTerm.WECHAT_AUDIO: TermRule(
        ServiceId.WECHAT_MINI_PROGRAM, Unit.SECOND, price="wechat_audio", both_ways=True
    ),
    ChargeTerm.WECHAT_VIDEO: TermRule(
        ServiceId.WECHAT_MINI_PROGRAM, Unit.SECOND, price="wechat_video", both_ways=True
    ),
}
# The terms as the wire has them (plain integers).
CHARGE_TERMS: tuple[int, ...] = tuple(int(term) for term in TERMS)
# The highest price an override may set, yuan per unit (docs/billing.md "Bounds"), and
# the largest free signaling quota.
MAX_PRICE = 1000
MAX_FREE_QUOTA = 10**12
# 720P: a video stream or recording of at most this many pixels is "720P or below".
AREA_720P = 1280 * 720


@dataclass(frozen=True, slots=True)
class PriceTable:
    """Yuan per minute (time terms), per message, per terminal or per GB.

    The published list reads "yuan per 1000 minutes" (or messages): 6 / 1000 min is 0.006.
    """

    audio: Decimal = Decimal("0.006")  # term 1, per minute received
    video_720p: Decimal = Decimal("0.024")  # term 2, per minute per stream, area <= 921600
    video_above_720p: Decimal = Decimal("0.072")  # term 2, above 720P
    screen_share: Decimal = Decimal("0.064")  # term 4, per minute received
    signaling: Decimal = Decimal("0.0001")  # term 6, per message a remote user receives
    signaling_free_quota: Decimal = Decimal(1_000_000)  # per developer per calendar month
    peak_terminal: Decimal = Decimal(0)  # term 7, per peak online terminal
    recording_1080p: Decimal = Decimal("0.014")  # term 8 base, above 720P, per minute
    recording_720p: Decimal = Decimal("0.008")  # term 8 base, 720P or below
    recording_party: Decimal = Decimal("0.0028")  # term 8, per recorded party per minute
    storage: Decimal = Decimal("0.01")  # term 9, per GB per day (the day's peak)
    traffic: Decimal = Decimal("0.56")  # term 10, per GB downloaded or played back
    wechat_audio: Decimal = Decimal("0.025")  # term 11, per minute sent or received
    wechat_video: Decimal = Decimal("0.038")  # term 12, per minute sent or received

    @classmethod
    def with_overrides(cls, overrides: Mapping[str, Decimal | str | int]) -> PriceTable:
        names = {f.name for f in fields(cls)}
        unknown = set(overrides) - names
        if unknown:
            raise ValueError(
                f"unknown price {sorted(unknown)[0]!r}; known: {', '.join(sorted(names))}"
            )
        table = replace(cls(), **{k: Decimal(str(v)) for k, v in overrides.items()})
        for f in fields(table):
            value = getattr(table, f.name)
            if not value.is_finite() or value < 0 or value != value.quantize(Decimal("0.000001")):
                raise ValueError(f"price {f.name}: must be >= 0 with at most 6 decimal places")
            if f.name == "signaling_free_quota":
                if value > MAX_FREE_QUOTA or value != value.to_integral_value():
                    raise ValueError(
                        f"price {f.name}: must be a whole number, at most {MAX_FREE_QUOTA}"
                    )
            elif value > MAX_PRICE:
                raise ValueError(f"price {f.name}: must be at most {MAX_PRICE} yuan")
        return table
