"""An ERC-20 escrow: locks pull from the owner's allowance; payouts and refunds move the token."""

from __future__ import annotations

from web3.contract import Contract

from contracts.artifacts import TEST_TOKEN, load_artifact
from tests.evm.chain import FEE_TOKEN_SOURCE, Chain, fresh_addresses, key32, reverts

CAMPAIGN = key32("c-token")


def token_escrow(chain: Chain, minted: int = 1_000) -> Contract:
    token = chain.deploy_token()
    chain.send(token.functions.mint(chain.owner, minted))
    chain.send(chain.escrow.functions.create(CAMPAIGN, chain.owner, token.address))
    return token


def balance(token: Contract, address: str) -> int:
    return int(token.functions.balanceOf(address).call())


def test_a_token_campaign_locks_pays_and_refunds_in_the_token(chain: Chain) -> None:
    token = token_escrow(chain)
    chain.send(token.functions.approve(chain.escrow.address, 600), sender=chain.owner)
    chain.send(chain.escrow.functions.lock(CAMPAIGN, key32("lock"), 500))
    chain.send(chain.escrow.functions.lock(CAMPAIGN, key32("top-up"), 100))
    assert (balance(token, chain.owner), balance(token, chain.escrow.address)) == (400, 600)
    recipients = fresh_addresses(2)
    chain.send(chain.escrow.functions.pay(CAMPAIGN, key32("b0"), recipients, [100, 150]))
    assert [balance(token, r) for r in recipients] == [100, 150]
    assert [chain.coin(r) for r in recipients] == [0, 0]
    chain.send(chain.escrow.functions.refund(CAMPAIGN))
    assert balance(token, chain.owner) == 400 + 350
    assert balance(token, chain.escrow.address) == 0
    chain.send(chain.escrow.functions.close(CAMPAIGN))


def test_a_lock_beyond_the_owners_allowance_moves_nothing(chain: Chain) -> None:
    token = token_escrow(chain)
    chain.send(token.functions.approve(chain.escrow.address, 100), sender=chain.owner)
    with reverts("insufficient allowance"):
        chain.send(chain.escrow.functions.lock(CAMPAIGN, key32("lock"), 101))
    assert balance(token, chain.owner) == 1_000
    assert chain.escrow_state(CAMPAIGN)["locked"] == 0
    assert not chain.escrow.functions.lock_done(CAMPAIGN, key32("lock")).call()


def test_the_service_cannot_lock_its_own_tokens_for_the_owner_by_mistake(chain: Chain) -> None:
    # The service approving the escrow does not help: the pull is always from the owner.
    token = token_escrow(chain)
    chain.send(token.functions.mint(chain.service, 1_000))
    chain.send(token.functions.approve(chain.escrow.address, 1_000))
    with reverts("insufficient allowance"):
        chain.send(chain.escrow.functions.lock(CAMPAIGN, key32("lock"), 10))
    assert balance(token, chain.service) == 1_000


def test_a_coin_sent_with_a_token_lock_is_refused(chain: Chain) -> None:
    token = token_escrow(chain)
    chain.send(token.functions.approve(chain.escrow.address, 100), sender=chain.owner)
    with reverts("value sent to a token escrow"):
        chain.send(chain.escrow.functions.lock(CAMPAIGN, key32("lock"), 100), value=100)
    assert chain.coin(chain.escrow.address) == 0


def test_a_token_batch_beyond_the_locked_amount_reverts(chain: Chain) -> None:
    token = token_escrow(chain)
    chain.send(token.functions.approve(chain.escrow.address, 100), sender=chain.owner)
    chain.send(chain.escrow.functions.lock(CAMPAIGN, key32("lock"), 100))
    # the escrow holds other campaigns' tokens too; only this campaign's share may go out
    chain.send(token.functions.mint(chain.escrow.address, 10_000))
    recipients = fresh_addresses(2)
    with reverts("insufficient escrow"):
        chain.send(chain.escrow.functions.pay(CAMPAIGN, key32("b0"), recipients, [60, 60]))
    assert [balance(token, r) for r in recipients] == [0, 0]


def test_the_test_token_mints_only_for_its_deployer(chain: Chain) -> None:
    token = chain.deploy_token()
    with reverts("only the minter"):
        chain.send(token.functions.mint(chain.stranger, 1), sender=chain.stranger)
    assert balance(token, chain.stranger) == 0


def test_an_asset_that_is_not_a_contract_is_refused_at_create(chain: Chain) -> None:
    # a token call to an address without code would "succeed" with nothing moved
    with reverts("asset is not a token contract"):
        chain.send(chain.escrow.functions.create(CAMPAIGN, chain.owner, chain.stranger))
    assert chain.escrow_state(CAMPAIGN)["owner"] == "0x" + "00" * 20


def test_a_token_that_takes_a_fee_cannot_lock_less_than_it_claims(chain: Chain) -> None:
    fee_token = chain.w3.eth.contract(
        address=chain.w3.to_checksum_address(
            chain.deploy_source(FEE_TOKEN_SOURCE, sender=chain.owner)
        ),
        abi=load_artifact(TEST_TOKEN).abi,
    )
    chain.send(fee_token.functions.approve(chain.escrow.address, 1_000), sender=chain.owner)
    chain.send(chain.escrow.functions.create(CAMPAIGN, chain.owner, fee_token.address))
    with reverts("token took a fee"):
        chain.send(chain.escrow.functions.lock(CAMPAIGN, key32("lock"), 1_000))
    assert chain.escrow_state(CAMPAIGN)["locked"] == 0
    assert balance(fee_token, chain.escrow.address) == 0
