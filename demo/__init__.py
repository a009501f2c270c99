"""Demo and benchmark data, generated for a local platform, the tests and the benchmarks.

Not part of any deployed process (the image leaves this package out): `./platform up`
(infra/run.py) loads it on first start, bench/ loads its million-order data set with it.
Each service gets a module (`demo.orders`) that generates rows in Python and stores them
through that service's repository (`services/<service>/repository/bulk.py`), so no SQL lives here.

    python -m demo.orders --customers 200000 --orders 1000000 --no-ledger
"""
