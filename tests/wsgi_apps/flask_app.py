"""A real Flask application for tests/test_wsgi_flask.py.

``DOWNLOAD_PATH`` in the config names the file /download sends.
"""
import hashlib

from flask import Flask, Response, abort, jsonify, request, send_file, stream_with_context


class TeapotError(Exception):
    pass


def create_app(download_path=None):
    app = Flask(__name__)
    app.config["DOWNLOAD_PATH"] = download_path

    @app.get("/json")
    def json_route():
        return jsonify(hello="world", n=3, args=request.args.to_dict(),
                       path=request.path, script_root=request.script_root)

    @app.post("/form")
    def form():
        return jsonify(fields=request.form.to_dict(flat=False))

    @app.post("/upload")
    def upload():
        f = request.files["file"]
        h = hashlib.sha256()
        size = 0
        while True:
            block = f.stream.read(1 << 20)
            if not block:
                break
            size += len(block)
            h.update(block)
        return jsonify(name=f.filename, size=size, sha256=h.hexdigest(),
                       note=request.form.get("note"))

    @app.get("/stream")
    def stream():
        n = request.args.get("n", 10, type=int)

        def gen():
            for i in range(n):
                yield "line %d of %s\n" % (i, request.path)   # needs the request context
        return Response(stream_with_context(gen()), mimetype="text/plain")

    @app.get("/download")
    def download():
        return send_file(app.config["DOWNLOAD_PATH"], mimetype="application/octet-stream",
                         as_attachment=True, download_name="blob.bin")

    @app.get("/teapot")
    def teapot():
        raise TeapotError("short and stout")

    @app.get("/abort")
    def aborted():
        abort(403)

    @app.errorhandler(TeapotError)
    def on_teapot(exc):
        return jsonify(error=str(exc)), 418

    return app


app = create_app()
