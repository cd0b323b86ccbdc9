"""The original public sample, re-created as the benchmark's baseline side.

Written from its description, on purpose with its habits: the cluster client
is built at import (``DBHOST``/``DBPORT``), resources return dicts through
Flask-RESTful's default JSON representation, the listing scans the whole
keyspace and reads every hash, and every handler prints what it handled to
stdout (the bench runs it with ``PYTHONUNBUFFERED=1``; gunicorn's stdout is
a log file on disk, as a user would have it). Not a pattern to follow.
"""

import os
import uuid

from flask import Flask, request
from flask_restful import Api, Resource, abort
from redis.cluster import RedisCluster

redis = RedisCluster(host=os.environ["DBHOST"], port=int(os.environ["DBPORT"]), decode_responses=True)


class CustomerList(Resource):
    def get(self):
        """List every customer: scan the keyspace, read each hash."""
        customers = [redis.hgetall(key) for key in redis.scan_iter("customer:*")]
        print(customers)
        return customers

    def post(self):
        """Create a customer from the body as it is."""
        customer_id = str(uuid.uuid4())
        redis.hset(f"customer:{customer_id}", mapping=request.json)
        customer = {**request.json, "id": customer_id}
        print(customer)
        return customer, 201


class Customer(Resource):
    def get(self, customer_id):
        """Return one customer."""
        customer = redis.hgetall(f"customer:{customer_id}")
        if not customer:
            abort(404)
        customer["id"] = customer_id
        print(customer)
        return customer

    def put(self, customer_id):
        """Write the body's fields into the customer."""
        redis.hset(f"customer:{customer_id}", mapping=request.json)
        print(request.json)
        return "", 204

    def delete(self, customer_id):
        """Delete a customer (204 whether it existed or not)."""
        redis.delete(f"customer:{customer_id}")
        print(customer_id)
        return "", 204


app = Flask(__name__)
api = Api(app)
api.add_resource(CustomerList, "/customers")
api.add_resource(Customer, "/customers/<customer_id>")
