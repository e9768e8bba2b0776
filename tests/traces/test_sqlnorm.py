from runbrief.traces.sqlnorm import (
    category,
    describe,
    has_literals,
    normalize_mongo,
    normalize_redis,
    normalize_sql,
    normalize_url,
    sql_tables,
)


def test_sql_literals_lists_and_placeholders_collapse() -> None:
    assert normalize_sql("SELECT * FROM items  WHERE id = 42 AND name = 'o''brien' -- hi") == \
        "SELECT * FROM items WHERE id = ? AND name = ?"
    assert normalize_sql("select a from t where x in (1, 2, 3)") == "select a from t where x IN (?)"
    assert normalize_sql("select a from t where x in (?,?,?,?)") == normalize_sql("select a from t where x in (?)")
    assert normalize_sql("INSERT INTO t (a, b) VALUES (1, 'x'), (2, 'y');") == "INSERT INTO t (a, b) VALUES (?)"
    for ph in ("$1", "%s", "%(uid)s", ":uid", "?"):
        assert normalize_sql(f"UPDATE users SET seen = now() WHERE id = {ph}") == \
            "UPDATE users SET seen = now() WHERE id = ?"
    # identifiers with digits are not literals
    assert normalize_sql("SELECT t2.c1 FROM t2") == "SELECT t2.c1 FROM t2"


def test_tables_and_literal_detection() -> None:
    assert sql_tables('SELECT * FROM "public"."users" u JOIN orders o ON o.uid = u.id') == ["users", "orders"]
    assert sql_tables("UPDATE cart_items SET n = 1") == ["cart_items"]
    assert has_literals("SELECT * FROM t WHERE id = 7")
    assert not has_literals("SELECT * FROM t WHERE id = ? AND n = 7")  # a bound value hides identity
    assert not has_literals("SELECT * FROM t")


def test_url_redis_mongo() -> None:
    assert normalize_url("http://api:8080/items/42/price?currency=eur&x=1", "get") == \
        "GET api:8080/items/*/price?currency=?&x=?"
    assert normalize_url("https://h/u/3f2a9c1b-0d4e-5f60-aaaa-bbbbccccdddd") == "h/u/*"
    assert normalize_redis("GET user:12345") == normalize_redis("get user:999")
    assert normalize_redis("SET session:abcdef0123 v EX 30") == "SET session:? ?"
    assert normalize_mongo('{"find": "users", "filter": {"_id": 5}}') == \
        normalize_mongo('{"find": "users", "filter": {"_id": 77}}') == '{"find":"users","filter":{"_id":"?"}}'


def test_category_from_semantic_conventions() -> None:
    assert category("CLIENT", {"db.system": "postgresql"}) == "db"
    assert category("CLIENT", {"db.system.name": "redis"}) == "cache"
    assert category("CLIENT", {"http.request.method": "GET", "url.full": "http://x"}) == "http_client"
    assert category("PRODUCER", {}) == "messaging"
    assert category("CLIENT", {"gen_ai.operation.name": "chat"}) == "genai"
    assert category("SERVER", {"http.route": "/x"}) == "internal"
    d = describe("GET", "CLIENT", {"http.request.method": "POST", "url.full": "http://x/a/1"})
    assert d.template == "POST x/a/*" and not d.exact_known  # a POST is never "the same call" twice
