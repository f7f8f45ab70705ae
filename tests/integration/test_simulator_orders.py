"""Orders, matching, balances, fees and history, through krakenex over real HTTP."""

from __future__ import annotations

from decimal import Decimal

import pytest

D = Decimal


def last_price(client, pair="XBTUSD") -> Decimal:
    ticker = client.public("Ticker", pair=pair)
    return D(next(iter(ticker.values()))["c"][0])


def market_buy(client, volume="0.01", pair="XBTUSD", **extra):
    return client.ok("AddOrder", pair=pair, type="buy", ordertype="market", volume=volume,
                     **extra)


@pytest.fixture(scope="module")
def moving(tmp_path_factory):
    """A private venue whose prices and clock these tests move."""
    from tests.conftest import Venue, _start

    proc = _start(tmp_path_factory.mktemp("moving"))
    yield Venue(proc)
    proc.stop()


def test_market_buy_fills_at_once_and_charges_the_taker_fee_in_quote(venue):
    client, name = venue.account()
    result = market_buy(client, "0.10000000")
    assert result["descr"]["order"] == "buy 0.10000000 XBTUSD @ market"
    (txid,) = result["txid"]
    assert len(txid) == 19 and txid[0] == "O" and txid[6] == "-" and txid[12] == "-"
    order = client.ok("QueryOrders", txid=txid, trades=True)[txid]
    assert order["status"] == "closed" and order["vol_exec"] == "0.10000000"
    cost, fee = D(order["cost"]), D(order["fee"])
    assert fee == (cost * D("0.004")).quantize(D("0.0001"))  # 0.40% taker, starter volume
    balances = client.ok("Balance")
    assert D(balances["XXBT"]) == D("10.1")
    assert D(balances["ZUSD"]) == D("1000000") - cost - fee
    (tid,) = order["trades"]
    trade = client.ok("QueryTrades", txid=tid)[tid]
    assert trade["ordertxid"] == txid and trade["pair"] == "XXBTZUSD" and trade["maker"] is False
    assert [o["txid"] for o in venue.admin.orders(name)] == [txid]


def test_bigger_market_orders_walk_the_book_and_pay_more_per_unit(venue):
    client, _ = venue.account()
    small, big = market_buy(client, "0.001")["txid"][0], market_buy(client, "5")["txid"][0]
    orders = client.ok("QueryOrders", txid=f"{small},{big}")
    assert D(orders[big]["price"]) > D(orders[small]["price"])


def test_limit_buy_below_market_rests_and_holds_funds(venue):
    client, _ = venue.account()
    price = (last_price(client) * D("0.8")).quantize(D("0.1"))
    txid = client.ok("AddOrder", pair="XXBTZUSD", type="buy", ordertype="limit",
                     volume="0.5", price=str(price))["txid"][0]
    opened = client.ok("OpenOrders")["open"]
    assert opened[txid]["status"] == "open"
    assert opened[txid]["descr"]["order"] == f"buy 0.50000000 XBTUSD @ limit {price}"
    hold = D(client.ok("BalanceEx")["ZUSD"]["hold_trade"])
    assert hold >= price * D("0.5")
    assert client.ok("CancelOrder", txid=txid) == {"count": 1, "pending": False}
    assert D(client.ok("BalanceEx")["ZUSD"]["hold_trade"]) == 0
    closed = client.ok("ClosedOrders")["closed"][txid]
    assert closed["status"] == "canceled" and closed["reason"] == "User requested"


def test_resting_limit_fills_at_its_price_with_the_maker_fee_when_the_path_crosses(moving):
    client, _ = moving.account()
    price = (last_price(client, "ETHUSD") * D("0.95")).quantize(D("0.01"))
    txid = client.ok("AddOrder", pair="ETHUSD", type="buy", ordertype="limit", volume="1",
                     price=str(price))["txid"][0]
    moving.admin.set_price("ETHUSD", str(price * D("0.97")))
    moving.admin.advance(2)
    order = client.ok("QueryOrders", txid=txid)[txid]
    assert order["status"] == "closed"
    assert D(order["price"]) == price and D(order["cost"]) == price
    assert D(order["fee"]) == (price * D("0.0025")).quantize(D("0.0001"))  # 0.25% maker
    assert D(client.ok("Balance")["XETH"]) == D("101")


def test_marketable_limit_takes_the_book(venue):
    client, _ = venue.account()
    price = (last_price(client) * D("1.05")).quantize(D("0.1"))
    txid = client.ok("AddOrder", pair="XBTUSD", type="buy", ordertype="limit", volume="0.01",
                     price=str(price))["txid"][0]
    order = client.ok("QueryOrders", txid=txid)[txid]
    assert order["status"] == "closed" and D(order["price"]) < price


def test_post_only_that_would_take_is_rejected_and_one_that_rests_is_accepted(venue):
    client, name = venue.account()
    last = last_price(client)
    crossing = (last * D("1.05")).quantize(D("0.1"))
    assert client.err("AddOrder", pair="XBTUSD", type="buy", ordertype="limit",
                      volume="0.01", price=str(crossing), oflags="post") == "EOrder:Post only order"
    resting = (last * D("0.9")).quantize(D("0.1"))
    client.ok("AddOrder", pair="XBTUSD", type="buy", ordertype="limit", volume="0.01",
              price=str(resting), oflags="post")
    assert len(venue.admin.orders(name)) == 1


def test_stop_loss_and_take_profit_trigger_on_the_last_price(moving):
    client, _ = moving.account()
    last = last_price(client, "SOLUSD")
    stop = client.ok("AddOrder", pair="SOLUSD", type="sell", ordertype="stop-loss",
                     volume="1", price=str((last * D("0.9")).quantize(D("0.01"))))["txid"][0]
    take = client.ok("AddOrder", pair="SOLUSD", type="sell", ordertype="take-profit",
                     volume="1", price=str((last * D("1.1")).quantize(D("0.01"))))["txid"][0]
    moving.admin.set_price("SOLUSD", str(last * D("0.85")))
    moving.admin.advance(2)
    orders = client.ok("QueryOrders", txid=f"{stop},{take}")
    assert orders[stop]["status"] == "closed" and "stopped" in orders[stop]["misc"]
    assert orders[take]["status"] == "open"
    moving.admin.set_price("SOLUSD", str(last * D("1.2")))
    moving.admin.advance(2)
    assert client.ok("QueryOrders", txid=take)[take]["status"] == "closed"


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ({"volume": "1000"}, "EOrder:Insufficient funds"),
        ({"volume": "0.00001"}, "EOrder:Order minimum not met"),
        ({"volume": "0.5", "pair": "DOGEUSD"}, "EQuery:Unknown asset pair"),
        ({"volume": "-1"}, "EGeneral:Invalid arguments:volume"),
        ({"volume": "0.123456789"}, "EGeneral:Invalid arguments:volume"),
        ({"volume": "0.01", "type": "borrow"}, "EGeneral:Invalid arguments:type"),
        ({"volume": "0.01", "ordertype": "iceberg-ish"}, "EGeneral:Invalid arguments:ordertype"),
        ({"volume": "0.01", "ordertype": "limit"}, "EGeneral:Invalid arguments:price"),
        ({"volume": "0.01", "ordertype": "limit", "price": "50000.05"},
         "EOrder:Invalid price:XBT/USD price can only be specified up to 1 decimals."),
        ({"volume": "0.01", "oflags": "post"}, "EGeneral:Invalid arguments:oflags"),
        ({"volume": "0.01", "type": "sell", "oflags": "viqc"}, "EGeneral:Invalid arguments:viqc"),
        ({"volume": "0.01", "timeinforce": "GTD"}, "EGeneral:Invalid arguments:expiretm"),
        ({"volume": "0.01", "userref": "12", "cl_ord_id": "abc"},
         "EGeneral:Invalid arguments:cl_ord_id"),
    ],
)
def test_bad_orders_get_krakens_errors_and_place_nothing(venue, data, error):
    client, name = venue.account(balances={"ZUSD": "100000"})
    order = {"pair": "XBTUSD", "type": "buy", "ordertype": "market", **data}
    assert client.err("AddOrder", **order) == error
    assert venue.admin.orders(name) == []


def test_cost_minimum_and_tick_size(venue):
    client, _ = venue.account()
    assert client.err("AddOrder", pair="USDTUSD", type="buy", ordertype="limit", volume="5",
                      price="0.0001") == "EOrder:Cost minimum not met"
    assert client.err("AddOrder", pair="XBTUSD", type="buy", ordertype="limit", volume="0.01",
                      price="0") == "EOrder:Invalid price"


def test_validate_only_describes_and_places_nothing(venue):
    client, name = venue.account()
    result = client.ok("AddOrder", pair="XBT/USD", type="buy", ordertype="limit",
                       volume="0.1", price="50000.0", validate="true")
    assert result == {"descr": {"order": "buy 0.10000000 XBTUSD @ limit 50000.0"}}
    assert venue.admin.orders(name) == []


def test_cancel_by_userref_and_by_cl_ord_id(venue):
    client, _ = venue.account()
    low = str((last_price(client) * D("0.5")).quantize(D("0.1")))
    for _ in range(2):
        client.ok("AddOrder", pair="XBTUSD", type="buy", ordertype="limit", volume="0.01",
                  price=low, userref="77")
    client.ok("AddOrder", pair="XBTUSD", type="buy", ordertype="limit", volume="0.01",
              price=low, cl_ord_id="my-order-1")
    assert client.ok("CancelOrder", txid="77")["count"] == 2
    assert client.ok("CancelOrder", cl_ord_id="my-order-1")["count"] == 1
    assert client.err("CancelOrder", cl_ord_id="my-order-1") == "EOrder:Unknown order"
    assert client.err("CancelOrder", txid="OAAAAA-BBBBB-CCCCCC") == "EOrder:Unknown order"


def test_duplicate_cl_ord_id_is_refused_only_while_the_first_is_open(venue):
    client, name = venue.account()
    low = str((last_price(client) * D("0.5")).quantize(D("0.1")))
    order = {"pair": "XBTUSD", "type": "buy", "ordertype": "limit", "volume": "0.01",
             "price": low, "cl_ord_id": "3f2b8c1e-7d4a-4e59-9a1b-0c6d5e4f3a21"}
    first = client.ok("AddOrder", **order)["txid"][0]
    assert client.err("AddOrder", **order) == "EOrder:Duplicate order"
    client.ok("CancelOrder", txid=first)
    client.ok("AddOrder", **order)
    assert len(venue.admin.orders(name)) == 2
    found = client.ok("OpenOrders", cl_ord_id=order["cl_ord_id"])["open"]
    assert [o["cl_ord_id"] for o in found.values()] == [order["cl_ord_id"]]


def test_cancel_all_and_open_positions_and_trade_balance(venue):
    client, _ = venue.account()
    low = str((last_price(client) * D("0.5")).quantize(D("0.1")))
    for _ in range(3):
        client.ok("AddOrder", pair="XBTUSD", type="buy", ordertype="limit", volume="0.01",
                  price=low)
    assert client.ok("CancelAll") == {"count": 3, "pending": False}
    assert client.ok("OpenOrders") == {"open": {}}
    assert client.ok("OpenPositions") == {}
    balance = client.ok("TradeBalance")
    assert set(balance) >= {"eb", "tb", "m", "n", "c", "v", "e", "mf", "uv"}
    assert D(balance["eb"]) > D("1000000")


def test_ioc_and_fok(venue):
    client, _ = venue.account()
    low = str((last_price(client) * D("0.5")).quantize(D("0.1")))
    ioc = client.ok("AddOrder", pair="XBTUSD", type="buy", ordertype="limit", volume="0.01",
                    price=low, timeinforce="IOC")["txid"][0]
    fok = client.ok("AddOrder", pair="XBTUSD", type="buy", ordertype="limit", volume="0.01",
                    price=low, timeinforce="FOK")["txid"][0]
    orders = client.ok("QueryOrders", txid=f"{ioc},{fok}")
    assert orders[ioc]["status"] == "canceled" and orders[ioc]["vol_exec"] == "0.00000000"
    assert orders[fok]["status"] == "canceled"


def test_viqc_buys_a_quote_amount(venue):
    client, _ = venue.account()
    txid = client.ok("AddOrder", pair="XBTUSD", type="buy", ordertype="market", volume="1000",
                     oflags="viqc")["txid"][0]
    order = client.ok("QueryOrders", txid=txid)[txid]
    assert D("990") <= D(order["cost"]) <= D("1000")


def test_sell_fee_in_base_with_fcib(venue):
    client, _ = venue.account()
    txid = client.ok("AddOrder", pair="XBTUSD", type="sell", ordertype="market", volume="1",
                     oflags="fcib")["txid"][0]
    order = client.ok("QueryOrders", txid=txid)[txid]
    assert D(client.ok("Balance")["XXBT"]) == D("10") - 1 - D("0.004")
    assert D(client.ok("Balance")["ZUSD"]) == D("1000000") + D(order["cost"])


def test_amend_keeps_the_txid_and_edit_replaces_it(venue):
    client, _ = venue.account()
    low = (last_price(client) * D("0.5")).quantize(D("0.1"))
    txid = client.ok("AddOrder", pair="XBTUSD", type="buy", ordertype="limit", volume="0.01",
                     price=str(low))["txid"][0]
    assert "amend_id" in client.ok("AmendOrder", txid=txid, order_qty="0.02",
                                   limit_price=str(low - 1))
    amended = client.ok("QueryOrders", txid=txid)[txid]
    assert amended["vol"] == "0.02000000" and D(amended["descr"]["price"]) == low - 1
    assert "amended" in amended["misc"]
    edited = client.ok("EditOrder", txid=txid, pair="XBTUSD", price=str(low - 2))
    assert edited["originaltxid"] == txid and edited["txid"] != txid
    open_ids = set(client.ok("OpenOrders")["open"])
    assert open_ids == {edited["txid"]}


def test_add_order_batch(venue):
    client, name = venue.account()
    low = str((last_price(client) * D("0.5")).quantize(D("0.1")))
    result = client.ok("AddOrderBatch", pair="XBTUSD", **{
        "orders[0][type]": "buy", "orders[0][ordertype]": "limit", "orders[0][volume]": "0.01",
        "orders[0][price]": low, "orders[1][type]": "buy", "orders[1][ordertype]": "limit",
        "orders[1][volume]": "5000", "orders[1][price]": low,
    })
    first, second = result["orders"]
    assert first["txid"].startswith("O")
    assert second == {"error": "EOrder:Insufficient funds"}
    assert len(venue.admin.orders(name)) == 1


def test_history_ledgers_and_paging(venue):
    client, _ = venue.account()
    for _ in range(3):
        market_buy(client, "0.001")
    trades = client.ok("TradesHistory")
    assert trades["count"] == 3 and len(trades["trades"]) == 3
    ledger = client.ok("Ledgers", asset="XBT")
    kinds = [e["type"] for e in ledger["ledger"].values()]
    assert kinds.count("trade") == 3 and kinds.count("deposit") == 1
    closed = client.ok("ClosedOrders", ofs=1)
    assert closed["count"] == 3 and len(closed["closed"]) == 2
    lid = next(iter(ledger["ledger"]))
    assert client.ok("QueryLedgers", id=lid)[lid]["asset"] == "XXBT"


def test_ledger_explains_every_balance_to_the_last_unit(venue):
    client, _ = venue.account()
    market_buy(client, "0.3")
    client.ok("AddOrder", pair="ETHUSD", type="sell", ordertype="market", volume="2")
    balances = {a: D(v) for a, v in client.ok("Balance").items()}
    ledger = client.ok("Ledgers")["ledger"].values()
    for asset, balance in balances.items():
        moved = sum(D(e["amount"]) - D(e["fee"]) for e in ledger if e["asset"] == asset)
        assert moved == balance, asset


def test_dead_mans_switch_cancels_everything_when_not_refreshed(moving):
    client, _ = moving.account()
    low = str((last_price(client) * D("0.5")).quantize(D("0.1")))
    client.ok("AddOrder", pair="XBTUSD", type="buy", ordertype="limit", volume="0.01", price=low)
    armed = client.ok("CancelAllOrdersAfter", timeout="60")
    assert armed["currentTime"].endswith("Z") and armed["triggerTime"] > armed["currentTime"]
    moving.admin.advance(30)
    client.ok("CancelAllOrdersAfter", timeout="60")  # refreshed: pushed out again
    moving.admin.advance(45)
    assert len(client.ok("OpenOrders")["open"]) == 1
    moving.admin.advance(20)
    assert client.ok("OpenOrders")["open"] == {}
    reason = next(iter(client.ok("ClosedOrders")["closed"].values()))["reason"]
    assert "Dead man" in reason


def test_disarmed_dead_mans_switch_never_fires(moving):
    client, _ = moving.account()
    low = str((last_price(client) * D("0.5")).quantize(D("0.1")))
    client.ok("AddOrder", pair="XBTUSD", type="buy", ordertype="limit", volume="0.01", price=low)
    client.ok("CancelAllOrdersAfter", timeout="10")
    assert client.ok("CancelAllOrdersAfter", timeout="0")["triggerTime"] == "0"
    moving.admin.advance(20)
    assert len(client.ok("OpenOrders")["open"]) == 1


def test_cancel_order_batch_by_txid_userref_and_cl_ord_id(venue):
    client, _ = venue.account()
    low = str((last_price(client) * D("0.5")).quantize(D("0.1")))
    order = {"pair": "XBTUSD", "type": "buy", "ordertype": "limit", "volume": "0.01",
             "price": low}
    by_txid = client.ok("AddOrder", **order)["txid"][0]
    client.ok("AddOrder", **order, userref="9")
    client.ok("AddOrder", **order, cl_ord_id="batch-c")
    keep = client.ok("AddOrder", **order)["txid"][0]
    response = client.private_json("CancelOrderBatch",
                                   {"orders": [by_txid, 9], "cl_ord_ids": ["batch-c"]})
    assert response == {"error": [], "result": {"count": 3}}
    assert set(client.ok("OpenOrders")["open"]) == {keep}


def test_add_order_batch_as_json(venue):
    client, _ = venue.account()
    low = str((last_price(client) * D("0.5")).quantize(D("0.1")))
    orders = [{"type": "buy", "ordertype": "limit", "volume": "0.01", "price": low},
              {"type": "buy", "ordertype": "limit", "volume": "0.02", "price": low}]
    result = client.private_json("AddOrderBatch", {"pair": "XBT/USD", "orders": orders})
    assert result["error"] == [] and len(result["result"]["orders"]) == 2
    bad = [orders[0], {**orders[1], "ordertype": "nope"}]  # one bad order rejects the batch
    refused = client.private_json("AddOrderBatch", {"pair": "XBTUSD", "orders": bad})
    assert refused["error"] == ["EGeneral:Invalid arguments:ordertype"]
    assert len(client.ok("OpenOrders")["open"]) == 2


def test_admin_balances_agree_with_the_signed_balance_call_and_show_holds(venue):
    client, name = venue.account()
    market_buy(client, "0.3")
    low = str((last_price(client) * D("0.5")).quantize(D("0.1")))
    client.ok("AddOrder", pair="XBTUSD", type="buy", ordertype="limit", volume="0.01", price=low)
    signed = {a: D(v) for a, v in client.ok("Balance").items()}
    seen = venue.admin.get("balances", key=name)["keys"][name]
    assert {a: D(v) for a, v in seen["balances"].items()} == signed
    cost = D("0.01") * D(low)
    assert cost <= D(seen["holds"]["ZUSD"]) <= cost * D("1.01")  # the order's cost and fee
