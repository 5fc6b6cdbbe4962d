"""A small but realistic Flask app: ``bench.apps.flask_app:app``.

- ``GET /json``: an order of 10 fields (a nested customer, a list of 5 line
  items, a list of tags), built per request and rendered by ``flask.jsonify``
  (565 bytes, ``application/json``).
- ``GET /template``: a product table of 10 rows rendered per request by the
  Jinja2 template ``templates/table.html`` (a loop, a conditional, a filter,
  autoescaping of ``<``, ``&`` and ``"``; 1,465 bytes of ``text/html``, UTF-8).
- ``GET /``: ``Hello, World!`` as ``text/plain``, which is what the harness
  polls to know a server is ready.

Everything is deterministic (no clock, no randomness), so every server must
answer the same bytes; the harness checks that against a call of the app
without a server (``bench.apps.reference``) before timing.  Run by every
WSGI server in the ``flask-json`` and ``flask-template`` scenarios.
"""
from flask import Flask, Response, jsonify, render_template

from bench.servers.common import BODY, CONTENT_TYPE

app = Flask(__name__)

PRODUCTS = [
    # (sku, name, category, price, stock)
    ("A-100", "Espresso cup", "kitchen", 7.5, 120),
    ("A-101", "Milk jug", "kitchen", 14.0, 0),
    ("B-200", "Notebook <A5>", "office", 3.25, 940),
    ("B-201", "Pens & pencils", "office", 5.9, 312),
    ("C-300", "Crème brûlée torch", "kitchen", 29.99, 18),
    ("C-301", "Cast-iron pan", "kitchen", 44.0, 7),
    ("D-400", "Desk lamp", "office", 32.5, 55),
    ("D-401", "Monitor stand", "office", 27.0, 0),
    ("E-500", "Water bottle", "outdoor", 11.95, 230),
    ("E-501", "Trail map \"North\"", "outdoor", 8.0, 64),
]


def order(order_id):
    """The JSON payload: 10 top-level fields, one of them a list of 5 line items."""
    items = [{"sku": sku, "name": name, "qty": i % 3 + 1, "unit_price": price}
             for i, (sku, name, _, price, _) in enumerate(PRODUCTS[:5])]
    return {
        "id": order_id,
        "status": "shipped",
        "customer": {"id": 77, "name": "Ada Lovelace", "email": "ada@example.com"},
        "currency": "EUR",
        "items": items,
        "total": round(sum(item["qty"] * item["unit_price"] for item in items), 2),
        "paid": True,
        "created": "2026-01-02T03:04:05Z",
        "tags": ["gift", "express"],
        "notes": None,
    }


@app.get("/")
def hello():
    return Response(BODY, content_type=CONTENT_TYPE)


@app.get("/json")
def json_view():
    return jsonify(order(1042))


@app.get("/template")
def template_view():
    rows = [{"sku": sku, "name": name, "category": category, "price": price, "stock": stock}
            for sku, name, category, price, stock in PRODUCTS]
    return render_template("table.html", title="Products & prices", rows=rows)
