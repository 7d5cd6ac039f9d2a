# pragma version ~=0.4.3
"""
@title Campaign escrow
@notice One escrow per campaign (keyed by a bytes32 campaign id) holding the campaign's
        budget in the native coin or in one ERC-20 token, paid out to each recipient at most
        once, the rest refunded to the campaign's owner.
@dev    Only the service account (set at deployment) changes anything: it acts for owners,
        as the HTTP ledger does. Native budgets are sent by the service with `lock` (payable);
        ERC-20 budgets are pulled from the owner's wallet with `transferFrom`, so the owner
        approves this contract once and the service never holds the owner's tokens.
        Exactly once holds here as well as in the adapter: `paid[campaign][recipient]` and the
        finished batch keys make a replayed batch pay nobody twice, and a replay is a quiet
        success (not a revert) so a resend whose first copy was mined still ends well.
"""

from ethereum.ercs import IERC20

# Bounded by the ledger port's MAX_TRANSFERS_PER_BATCH; gas per recipient is measured in
# bench/contract_gas.py.
MAX_BATCH: constant(uint256) = 500

# A native payout forwards this much gas (beyond the 2,300 stipend): enough for a contract
# wallet's receive hook (a proxy needs more than the stipend), little enough that a recipient
# burning it costs the batch a bounded amount. A recipient whose code reverts fails alone
# (PayoutFailed, left unpaid) instead of blocking the batch.
PAYOUT_GAS: constant(uint256) = 30000

struct Escrow:
    owner: address
    asset: address  # empty(address): the native coin
    locked: uint256
    paid: uint256
    refunded: uint256
    settled: bool  # refunded: nothing more is locked or paid
    closed: bool

event EscrowCreated:
    campaign: indexed(bytes32)
    owner: indexed(address)
    asset: address

event Locked:
    campaign: indexed(bytes32)
    key: indexed(bytes32)
    amount: uint256
    locked: uint256

event Paid:
    campaign: indexed(bytes32)
    batch: indexed(bytes32)
    recipient: indexed(address)
    amount: uint256

event PayoutSkipped:
    campaign: indexed(bytes32)
    batch: indexed(bytes32)
    recipient: indexed(address)
    paid_before: uint256

event PayoutFailed:
    campaign: indexed(bytes32)
    batch: indexed(bytes32)
    recipient: indexed(address)
    amount: uint256

event BatchPaid:
    campaign: indexed(bytes32)
    batch: indexed(bytes32)
    recipients: uint256
    amount: uint256

event Refunded:
    campaign: indexed(bytes32)
    owner: indexed(address)
    amount: uint256

event Closed:
    campaign: indexed(bytes32)

service: public(immutable(address))
escrows: public(HashMap[bytes32, Escrow])
# campaign -> recipient -> amount paid (zero: not paid; payouts are never zero)
paid: public(HashMap[bytes32, HashMap[address, uint256]])
# campaign -> batch key -> finished
batch_done: public(HashMap[bytes32, HashMap[bytes32, bool]])
# campaign -> lock key -> finished
lock_done: public(HashMap[bytes32, HashMap[bytes32, bool]])


@deploy
def __init__(service_account: address):
    assert service_account != empty(address), "service is the zero address"
    service = service_account


@internal
@view
def _only_service():
    assert msg.sender == service, "only the service"


@internal
@view
def _open(campaign: bytes32) -> Escrow:
    escrow: Escrow = self.escrows[campaign]
    assert escrow.owner != empty(address), "no such escrow"
    assert not escrow.closed, "escrow closed"
    return escrow


@external
@view
def balance_of(campaign: bytes32) -> uint256:
    escrow: Escrow = self.escrows[campaign]
    return escrow.locked - escrow.paid - escrow.refunded


@external
def create(campaign: bytes32, owner: address, asset: address):
    self._only_service()
    assert owner != empty(address), "owner is the zero address"
    assert asset == empty(address) or asset.is_contract, "asset is not a token contract"
    assert self.escrows[campaign].owner == empty(address), "escrow exists"
    self.escrows[campaign] = Escrow(
        owner=owner, asset=asset, locked=0, paid=0, refunded=0, settled=False, closed=False
    )
    log EscrowCreated(campaign=campaign, owner=owner, asset=asset)


@external
@payable
@nonreentrant
def lock(campaign: bytes32, key: bytes32, amount: uint256):
    """
    @notice Lock `amount` more (top-ups lock again under another key). Native: send it as
            msg.value. ERC-20: pulled from the owner, who approved this contract.
            A finished key is a no-op; a native value sent with it goes back to the sender.
    """
    self._only_service()
    escrow: Escrow = self._open(campaign)
    if self.lock_done[campaign][key]:
        if msg.value > 0:
            send(msg.sender, msg.value)
        return
    assert not escrow.settled, "escrow refunded"
    assert amount > 0, "amount is zero"
    if escrow.asset == empty(address):
        assert msg.value == amount, "value is not the amount"
    else:
        assert msg.value == 0, "value sent to a token escrow"
    self.lock_done[campaign][key] = True
    escrow.locked += amount
    self.escrows[campaign] = escrow
    if escrow.asset != empty(address):
        # measured, not trusted: a token that takes a fee would leave the escrow short
        held: uint256 = staticcall IERC20(escrow.asset).balanceOf(self)
        assert extcall IERC20(escrow.asset).transferFrom(
            escrow.owner, self, amount, default_return_value=True
        ), "token transfer failed"
        assert staticcall IERC20(escrow.asset).balanceOf(self) == held + amount, "token took a fee"
    log Locked(campaign=campaign, key=key, amount=amount, locked=escrow.locked)


@external
@nonreentrant
def pay(
    campaign: bytes32,
    batch: bytes32,
    recipients: DynArray[address, MAX_BATCH],
    amounts: DynArray[uint256, MAX_BATCH],
):
    """
    @notice Pay a batch. A recipient already paid in this campaign is skipped (PayoutSkipped);
            a finished batch key is a no-op success. The batch reverts whole if it needs more
            than the escrow holds.
    """
    self._only_service()
    escrow: Escrow = self._open(campaign)
    if self.batch_done[campaign][batch]:
        return
    assert not escrow.settled, "escrow refunded"
    assert len(recipients) == len(amounts), "recipients and amounts differ in length"
    self.batch_done[campaign][batch] = True
    native: bool = escrow.asset == empty(address)
    count: uint256 = 0
    total: uint256 = 0
    for i: uint256 in range(len(recipients), bound=MAX_BATCH):
        recipient: address = recipients[i]
        amount: uint256 = amounts[i]
        assert recipient != empty(address), "recipient is the zero address"
        assert amount > 0, "amount is zero"
        before: uint256 = self.paid[campaign][recipient]
        if before > 0:
            log PayoutSkipped(campaign=campaign, batch=batch, recipient=recipient, paid_before=before)
            continue
        assert escrow.locked - escrow.paid - escrow.refunded >= amount, "insufficient escrow"
        if native:
            # effects before the call; undone below if the recipient refuses the coin
            self.paid[campaign][recipient] = amount
            if not raw_call(
                recipient, b"", value=amount, gas=PAYOUT_GAS, revert_on_failure=False
            ):
                self.paid[campaign][recipient] = 0
                log PayoutFailed(campaign=campaign, batch=batch, recipient=recipient, amount=amount)
                continue
        else:
            self.paid[campaign][recipient] = amount
            assert extcall IERC20(escrow.asset).transfer(
                recipient, amount, default_return_value=True
            ), "token transfer failed"
        escrow.paid += amount
        count += 1
        total += amount
        log Paid(campaign=campaign, batch=batch, recipient=recipient, amount=amount)
    self.escrows[campaign] = escrow
    log BatchPaid(campaign=campaign, batch=batch, recipients=count, amount=total)


@external
@nonreentrant
def refund(campaign: bytes32):
    """@notice Send what was not paid back to the owner; once. Nothing is locked or paid after."""
    self._only_service()
    escrow: Escrow = self._open(campaign)
    assert not escrow.settled, "already refunded"
    amount: uint256 = escrow.locked - escrow.paid - escrow.refunded
    escrow.refunded += amount
    escrow.settled = True
    self.escrows[campaign] = escrow
    if amount > 0:
        if escrow.asset == empty(address):
            raw_call(escrow.owner, b"", value=amount, gas=PAYOUT_GAS)
        else:
            assert extcall IERC20(escrow.asset).transfer(
                escrow.owner, amount, default_return_value=True
            ), "token transfer failed"
    log Refunded(campaign=campaign, owner=escrow.owner, amount=amount)


@external
def close(campaign: bytes32):
    """@notice Close an empty escrow; once. A closed escrow takes nothing more."""
    self._only_service()
    escrow: Escrow = self._open(campaign)
    assert escrow.locked - escrow.paid - escrow.refunded == 0, "escrow holds a balance"
    escrow.closed = True
    self.escrows[campaign] = escrow
    log Closed(campaign=campaign)
