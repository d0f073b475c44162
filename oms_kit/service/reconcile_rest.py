"""The reconciliation with a live broker over the REST API (:mod:`oms_kit.reconcile`), under ``/api/oms`` beside the
kill switch, so that a bot or a dashboard outside the kernel can see a pending reconciliation and accept it:

* ``GET /reconciliation``: the state, ``{"halted", "trading_state", "reconciliation"}``: whether trading is halted
  for the reconciliation, the trading state, and the last reconciliation (``OMS.reconciliation``; null when none
  could be made yet, as when the broker was out of reach at the open) with its ``differences`` and ``adopted`` rows
  as JSON records (the columns of the DataFrames).
* ``POST /reconciliation/run``: reconcile now (``OMS.reconcile``); the state afterwards, the result as
  ``reconciliation``. A difference halts trading, as in the process.
* ``POST /reconciliation/accept`` with ``{"reason": text, "adopt": true|false}`` (``OMS.accept_reconciliation``):
  take the broker's side (``adopt``, the default) or the differences as they stand, and resume trading when nothing
  is left; the state afterwards.

The POST routes change the account: like the kill switch's they need the full token (the read-only one is refused
at the door with 403 ``READ_ONLY_TOKEN``). Errors have the API's one shape: a malformed body is a 422
``INVALID_INPUT`` naming the field (nothing changes); an OMS without a live broker (no reconciler) is a 409
``NO_LIVE_BROKER`` on every route, where the OMS itself raises OmsError ("reconciliation needs a live broker");
a broker out of reach, or a difference that cannot be adopted, a 409 ``REFUSED`` with the OMS's message.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictStr
from starlette.responses import Response

from oms_kit.orders import MAX_REASON
from oms_kit.service.encode import OmsJSONResponse, frame_records
from oms_kit.service.errors import ApiError
from oms_kit.service.models import ErrorOut
from oms_kit.service.rest import ERRORS, PREFIX, oms_of

if TYPE_CHECKING:  # the OMS may import this package to serve itself
    from oms_kit.oms import OMS
    from oms_kit.reconcile import Reconciliation
    from oms_kit.reconciler import Reconciler

__all__ = ["NO_LIVE_BROKER", "reconciliation_json", "router", "state_json"]

NO_LIVE_BROKER = "NO_LIVE_BROKER"
_RECONCILE_ERRORS: dict[int | str, dict[str, Any]] = {
    **ERRORS, 409: {"model": ErrorOut, "description": "NO_LIVE_BROKER: the OMS has no live broker to reconcile "
                     "with; REFUSED: the broker cannot be reached, or a difference cannot be adopted"}}

router = APIRouter(prefix=PREFIX, tags=["reconciliation"], responses=_RECONCILE_ERRORS)


class AcceptIn(BaseModel):
    """Accept what differs from the broker now (``POST /api/oms/reconciliation/accept``): ``reason`` is recorded;
    ``adopt`` takes the broker's side into the OMS (true, the default) or the differences as they stand (false)."""

    model_config = ConfigDict(extra="forbid")

    reason: StrictStr = Field(min_length=1, max_length=MAX_REASON, examples=["bought by hand in the Kite app"])
    adopt: StrictBool = True


class ReconciliationOut(BaseModel):
    """One reconciliation: when, why (``open``, ``reconnect``, ``user``, ``accept``), whether the books agree, what
    differs (the columns of ``Reconciliation.differences``) and what was adopted (of ``Reconciliation.adopted``)."""

    ts: str = Field(description="ISO 8601 with its zone")
    trigger: str = Field(examples=["user"])
    ok: bool
    differences: list[dict[str, Any]] = Field(description="kind, symbol, product, order_id, broker_order_id, oms, "
                                              "broker, meaning")
    adopted: list[dict[str, Any]] = Field(description="kind, order_id, broker_order_id, symbol, product, quantity, "
                                          "price, ts, detail")


class ReconciliationStateOut(BaseModel):
    """Whether trading is halted for the reconciliation, the trading state, and the last reconciliation (null
    when none could be made yet)."""

    halted: bool
    trading_state: str = Field(examples=["HALTED"])
    reconciliation: ReconciliationOut | None


def reconciliation_json(result: Reconciliation) -> dict[str, Any]:
    """A reconciliation as the API sends it: its differences and adoptions as JSON records."""
    return {"ts": result.ts, "trigger": result.trigger, "ok": result.ok,
            "differences": frame_records(result.differences), "adopted": frame_records(result.adopted)}


def state_json(oms: OMS, result: Reconciliation | None = None) -> dict[str, Any]:
    """The reconciliation's state of ``oms``: ``result`` (the one just made), or its last one."""
    reconciler = _reconciler(oms)
    last = result if result is not None else reconciler.last
    return {"halted": reconciler.halted, "trading_state": oms.trading_state,
            "reconciliation": None if last is None else reconciliation_json(last)}


def _reconciler(oms: OMS) -> Reconciler:
    # What OMS.reconcile raises as a plain OmsError without a live broker, told apart for programs.
    reconciler = oms.reconciler
    if reconciler is None:
        raise ApiError(409, NO_LIVE_BROKER, "reconciliation needs a live broker: this OMS has none",
                       hint="serve an OMS opened with a live broker: OMS.open(broker=ok.KiteBroker(..., live=True))")
    return reconciler


@router.get("/reconciliation", response_model=ReconciliationStateOut, summary="The reconciliation's state")
async def reconciliation(request: Request) -> Response:
    """Whether trading is halted for the reconciliation with the live broker, and the last reconciliation
    (``OMS.reconciliation``) with what differs and what was adopted; 409 ``NO_LIVE_BROKER`` without a live
    broker."""
    return OmsJSONResponse(state_json(oms_of(request)))


@router.post("/reconciliation/run", response_model=ReconciliationStateOut, summary="Reconcile now")
async def run(request: Request) -> Response:
    """Set the live broker's orders, trades and positions against the OMS's now (``OMS.reconcile``): a difference
    halts trading, none resumes a halt of the reconciliation's own. The state afterwards, with the result."""
    oms = oms_of(request)
    _reconciler(oms)
    return OmsJSONResponse(state_json(oms, await oms.reconcile()))


@router.post("/reconciliation/accept", response_model=ReconciliationStateOut, summary="Accept the differences")
async def accept(request: Request, body: AcceptIn) -> Response:
    """Accept what differs from the broker now and resume trading (``OMS.accept_reconciliation``): with ``adopt``
    the broker's side is taken into the OMS, without it the differences are taken as they stand. The state
    afterwards, with the reconciliation made then (trading resumes when it is ok). 422 naming ``reason`` or
    ``adopt`` for a malformed body, 409 ``REFUSED`` when a difference cannot be adopted: nothing changes."""
    oms = oms_of(request)
    _reconciler(oms)
    return OmsJSONResponse(state_json(oms, await oms.accept_reconciliation(body.reason, adopt=body.adopt)))
