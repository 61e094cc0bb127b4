def test_health_embedded_mode_reports_redis_not_configured(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json == {
        "status": "ok",
        "checks": {"database": "ok", "redis": "not configured"},
    }


def test_health_reports_an_unreachable_redis(app, client):
    app.config["REDIS_URL"] = "redis://127.0.0.1:1/0"
    app.extensions.pop("civic_redis", None)
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json["checks"] == {"database": "ok", "redis": "error"}


def test_health_with_real_redis(queue):
    client = queue.flask_app.test_client()
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json["checks"]["redis"] == "ok"
