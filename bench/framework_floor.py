"""The floor's Redis work behind Flask and Flask-RESTful, and nothing else.

The third side of the throughput comparison. The floor (bench/floor.py) is a
bare WSGI callable; this is the least a Flask-RESTful service can do: the
same handlers, one ``Resource`` per route, a finished ``Response`` each, no
hooks, validation, index, metrics or logging of its own. Its ratio to the
floor is what the framework alone costs on this machine; the service's ratio
to it is what our own code costs. ``DB_WAIT_REPLICAS`` works as in the floor.
"""

from __future__ import annotations

from flask import Flask, Response, request
from flask_restful import Api, Resource

from bench import floor


def _finish(reply: floor.Reply) -> Response:
    status, body, headers = reply
    return Response(body, status, headers, mimetype="application/json")


class CustomerList(Resource):
    def get(self) -> Response:
        return _finish(floor.list_customers(request.args.to_dict(flat=False)))

    def post(self) -> Response:
        return _finish(floor.create_customer(request.get_json()))


class Customer(Resource):
    def get(self, customer_id: str) -> Response:
        return _finish(floor.get_customer(customer_id))

    def patch(self, customer_id: str) -> Response:
        return _finish(floor.patch_customer(customer_id, request.get_json()))

    def put(self, customer_id: str) -> Response:
        return _finish(floor.patch_customer(customer_id, request.get_json()))

    def delete(self, customer_id: str) -> Response:
        return _finish(floor.delete_customer(customer_id))


class Health(Resource):
    def get(self) -> Response:
        return Response(b'{"status":"ok"}', mimetype="application/json")


app = Flask(__name__)
_api = Api(app)
_api.add_resource(CustomerList, "/customers")
_api.add_resource(Customer, "/customers/<customer_id>")
_api.add_resource(Health, "/healthz")
