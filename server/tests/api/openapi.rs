//! `docs/openapi.json` is the server's own document, and the server answers what it says.

use std::path::PathBuf;

use reqwest::{Response, StatusCode};
use serde_json::{Value, json};
use session_server::{DEMO_PASSWORD, DEMO_USERNAME, Settings};

use crate::support::TestServer;

fn checked_in() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/openapi.json")
}

#[test]
fn the_checked_in_document_is_the_one_the_server_generates() {
    let generated = session_server::openapi().to_pretty_json().unwrap() + "\n";
    if std::env::var_os("UPDATE_OPENAPI").is_some() {
        std::fs::write(checked_in(), &generated).unwrap();
    }
    let checked_in = std::fs::read_to_string(checked_in()).unwrap_or_default();
    assert!(
        checked_in == generated,
        "docs/openapi.json is not the server's document: `UPDATE_OPENAPI=1 cargo test -p session-server --test api \
         openapi` writes it"
    );
}

#[test]
fn every_state_changing_operation_asks_for_the_marker_and_the_cookie_readers_name_both_cookies() {
    let document = serde_json::to_value(session_server::openapi()).unwrap();
    let parameter = |operation: &Value, name: &str| {
        operation["parameters"].as_array().into_iter().flatten().find(|parameter| parameter["name"] == name).cloned()
    };
    let mut state_changing = 0;
    for (path, item) in document["paths"].as_object().unwrap() {
        for (method, operation) in
            item.as_object().unwrap().iter().filter(|(method, _)| ["post", "delete"].contains(&method.as_str()))
        {
            state_changing += 1;
            let marker =
                parameter(operation, "x-requested-with").unwrap_or_else(|| panic!("{method} {path}: no marker"));
            assert_eq!(
                (marker["in"].as_str(), marker["required"].as_bool()),
                (Some("header"), Some(true)),
                "{method} {path}"
            );
            assert_eq!(marker["schema"]["enum"], json!(["fetch"]), "{method} {path}");
            let reads_the_cookie = ["/auth/refresh", "/auth/logout"].contains(&path.as_str());
            for cookie in ["__Secure-refresh", "refresh"] {
                let listed = parameter(operation, cookie).is_some_and(|parameter| parameter["in"] == "cookie");
                assert_eq!(listed, reads_the_cookie, "{method} {path}: the {cookie} cookie");
            }
        }
    }
    assert_eq!(state_changing, 4, "login, refresh, logout and signing out a device");
}

#[tokio::test]
async fn every_answer_is_one_the_document_lists_with_the_body_it_describes() {
    let document = serde_json::to_value(session_server::openapi()).unwrap();
    let server = TestServer::start(Settings::default()).await;
    let check = async |method: &str, template: &str, expected: u16, response: Response| {
        assert_eq!(response.status().as_u16(), expected, "{method} {template}");
        conforms(&document, method, template, response).await;
    };

    let signed_in = server.login_as(DEMO_USERNAME, DEMO_PASSWORD).await;
    let listed = &document["paths"]["/auth/login"]["post"]["responses"]["200"]["headers"];
    assert!(listed["set-cookie"].is_object() && signed_in.headers().contains_key("set-cookie"), "the login's cookie");
    let refresh_token = crate::support::refresh_cookie(signed_in.headers()).unwrap();
    let body = signed_in.bytes().await.unwrap();
    let access_token = serde_json::from_slice::<Value>(&body).unwrap()["accessToken"].as_str().unwrap().to_owned();
    conforms_body(&document, "post", "/auth/login", StatusCode::OK, &body);
    check("post", "/auth/login", 401, server.login_as(DEMO_USERNAME, "wrong").await).await;
    check(
        "post",
        "/auth/login",
        400,
        server.post("/auth/login").body("{").header("content-type", "application/json").send().await.unwrap(),
    )
    .await;
    check("post", "/auth/login", 415, server.post("/auth/login").body("{}").send().await.unwrap()).await;
    let unmarked =
        server.http.post(format!("{}/auth/login", server.base)).json(&json!({"username": "a", "password": "b"}));
    check("post", "/auth/login", 403, unmarked.send().await.unwrap()).await;

    let other = server.sign_in().await;
    check("get", "/user", 200, server.get("/user", &access_token).send().await.unwrap()).await;
    check("get", "/user", 401, server.get("/user", "not a token").send().await.unwrap()).await;
    check("get", "/user/sessions", 200, server.get("/user/sessions", &access_token).send().await.unwrap()).await;
    let sessions: Value = server.get("/user/sessions", &access_token).send().await.unwrap().json().await.unwrap();
    let other_id = sessions.as_array().unwrap().iter().find(|entry| entry["current"] == false).unwrap()["id"].clone();
    let delete = |id: &str| {
        server
            .http
            .delete(format!("{}/user/sessions/{id}", server.base))
            .bearer_auth(&access_token)
            .header("X-Requested-With", "fetch")
    };
    check("delete", "/user/sessions/{id}", 204, delete(other_id.as_str().unwrap()).send().await.unwrap()).await;
    check("delete", "/user/sessions/{id}", 404, delete("no-such-session").send().await.unwrap()).await;

    for path in ["/health/live", "/health/ready"] {
        check("get", path, 200, server.http.get(format!("{}{path}", server.base)).send().await.unwrap()).await;
    }
    check("post", "/auth/refresh", 200, server.refresh(&refresh_token).await).await;
    check("post", "/auth/refresh", 403, server.refresh(&other.refresh_token).await).await;
    check("post", "/auth/logout", 204, server.logout(&refresh_token).await).await;
}

/// The answer's status is listed for this operation, with the headers the listing names, and its body is what
/// the listing describes.
async fn conforms(document: &Value, method: &str, template: &str, response: Response) {
    let status = response.status();
    let listed = &document["paths"][template][method]["responses"][status.as_str()]["headers"];
    for name in listed.as_object().into_iter().flat_map(|headers| headers.keys()) {
        assert!(response.headers().contains_key(name.as_str()), "{method} {template} {status}: no {name}");
    }
    let body = response.bytes().await.unwrap();
    conforms_body(document, method, template, status, &body);
}

fn conforms_body(document: &Value, method: &str, template: &str, status: StatusCode, body: &[u8]) {
    let operation = &document["paths"][template][method];
    assert!(operation.is_object(), "{method} {template} is not in the document");
    let listed = &operation["responses"][status.as_str()];
    assert!(listed.is_object(), "{method} {template} answered {status}, which the document does not list");
    let schema = &listed["content"]["application/json"]["schema"];
    if schema.is_null() {
        assert!(body.is_empty(), "{method} {template} {status}: a body the document does not describe");
        return;
    }
    let value: Value =
        serde_json::from_slice(body).unwrap_or_else(|_| panic!("{method} {template} {status}: not JSON"));
    matches_schema(document, schema, &value, &format!("{method} {template} {status}"));
}

/// The JSON Schema subset the document uses: references, objects (every required field present, no field the
/// schema does not name), arrays, strings (with their enum), integers and booleans.
fn matches_schema(document: &Value, schema: &Value, value: &Value, at: &str) {
    if let Some(reference) = schema["$ref"].as_str() {
        let name = reference.trim_start_matches("#/components/schemas/");
        return matches_schema(document, &document["components"]["schemas"][name], value, &format!("{at} ({name})"));
    }
    match schema["type"].as_str() {
        Some("object") => {
            let fields = value.as_object().unwrap_or_else(|| panic!("{at}: {value} is not an object"));
            for required in schema["required"].as_array().into_iter().flatten() {
                assert!(fields.contains_key(required.as_str().unwrap()), "{at}: {required} is missing from {value}");
            }
            for (name, field) in fields {
                let property = &schema["properties"][name];
                assert!(property.is_object(), "{at}: {name} is not in the document");
                matches_schema(document, property, field, &format!("{at}.{name}"));
            }
        }
        Some("array") => {
            let items = value.as_array().unwrap_or_else(|| panic!("{at}: {value} is not an array"));
            items.iter().for_each(|item| matches_schema(document, &schema["items"], item, &format!("{at}[]")));
        }
        Some("string") => {
            assert!(value.is_string(), "{at}: {value} is not a string");
            if let Some(allowed) = schema["enum"].as_array() {
                assert!(allowed.contains(value), "{at}: {value} is not one of {allowed:?}");
            }
        }
        Some("integer") => assert!(value.is_i64() || value.is_u64(), "{at}: {value} is not an integer"),
        Some("boolean") => assert!(value.is_boolean(), "{at}: {value} is not a boolean"),
        other => panic!("{at}: a schema type this check does not know: {other:?} in {schema}"),
    }
}
