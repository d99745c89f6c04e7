"""The fake gateway's contract list: a few CME equity-index futures in ProjectX's shapes.

Contract ids follow the gateway (``CON.F.US.EP.Z24``: product ``EP`` = ES, month code,
two-digit year); names use a one-digit year (``ESZ4``). A search answers every contract
whose name contains the search text's root, look-alikes first (``MESZ4`` before
``ESZ4``), so a client that takes the first hit instead of the exact name is caught.
"""

from __future__ import annotations

from dataclasses import dataclass

# root: (gateway product code, description, base price, tick size, tick value)
ROOTS: dict[str, tuple[str, str, float, float, float]] = {
    "ES": ("EP", "E-Mini S&P 500", 5000.0, 0.25, 12.5),
    "MES": ("MES", "Micro E-mini S&P 500", 5000.0, 0.25, 1.25),
    "NQ": ("ENQ", "E-mini NASDAQ-100", 18000.0, 0.25, 5.0),
    "MNQ": ("MNQ", "Micro E-mini Nasdaq-100", 18000.0, 0.25, 0.5),
}
MONTHS = ("Z24", "H25", "M25", "U25", "Z25")
ACTIVE = "Z24"


@dataclass(frozen=True)
class Contract:
    id: str
    name: str          # one-digit year, as the gateway names it: ESZ4
    instrument: str    # the platform's name: ESZ24
    root: str
    description: str
    base_price: float
    tick_size: float
    tick_value: float
    active: bool
    symbol_id: str

    def as_json(self) -> dict:
        return {"id": self.id, "name": self.name, "description": self.description, "tickSize": self.tick_size,
                "tickValue": self.tick_value, "activeContract": self.active, "symbolId": self.symbol_id}


def _build() -> dict[str, Contract]:
    out = {}
    for root, (product, description, price, tick, value) in ROOTS.items():
        for month in MONTHS:
            code, yy = month[0], month[1:]
            cid = f"CON.F.US.{product}.{month}"
            out[cid] = Contract(cid, f"{root}{code}{yy[-1]}", f"{root}{month}", root, description, price, tick, value,
                                month == ACTIVE, f"F.US.{product}")
    return out


CONTRACTS: dict[str, Contract] = _build()


def search(text: str) -> list[Contract]:
    """Contracts whose name contains the root of ``text`` (``ESZ4`` → ES…, MES…), look-alikes first."""
    text = (text or "").strip().upper()
    if not text:
        return []
    root = text.rstrip("0123456789")[:-1] if len(text) > 2 and text[-1].isdigit() else text
    hits = [c for c in CONTRACTS.values() if root and root in c.name]
    return sorted(hits, key=lambda c: (c.name == text, c.name))[:20]
