def test_register_login_me(client, db):
    r = client.post("/api/auth/register", {"name": "A", "email": " Ann@Example.com ", "password": "s3cure-pass-word"}, format="json")
    assert r.status_code == 201, r.content
    body = r.json()
    assert body["user"]["email"] == "ann@example.com"
    r = client.get("/api/auth/me", HTTP_AUTHORIZATION=f"Bearer {body['token']}")
    assert r.status_code == 200, r.content
    r = client.post("/api/accounts", {}, format="json", HTTP_AUTHORIZATION=f"Bearer {body['token']}")
    assert r.status_code == 201, r.content
    print(r.json())
    r = client.get("/api/nope")
    assert r.status_code == 404 and r.json()["code"] == "not_found"
