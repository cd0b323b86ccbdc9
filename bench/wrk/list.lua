-- GET /customers?limit=100: the first page of the listing.
wrk.method = "GET"
wrk.path = "/customers?limit=100"
