-- POST /customers with one valid customer body: every request creates a customer.
wrk.method = "POST"
wrk.path = "/customers"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"name": "Bench Customer", "email": "bench.customer@example.com", '
  .. '"phone": "+1 555 0100", "address": "1 Benchmark Road, Springfield", "balance": 1234.56}'
